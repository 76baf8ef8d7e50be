import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `recover` command (quorum loss): its flags, help and action (the code loads only when it runs). */
export function buildRecoverCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return new Command('recover')
    .description(
      "quorum lost: read what is left offline (surviving members' data, newest backup + change log), print the plan and what each choice loses; with --yes rebuild a healthy cluster from the furthest source",
    )
    .option('-y, --yes', 'carry the plan out (without it: only print the plan)')
    .option(
      '--source <name>',
      "rebuild from this source instead of the furthest ahead: a surviving member's name, or `backup`",
    )
    .option('--storage <url>', "where the backups are (default: the spec's backup.storage)")
    .action(function (this: Command) {
      return run(async () => (await import('./recover.js')).recoverCommand(globals(this)))();
    });
}
