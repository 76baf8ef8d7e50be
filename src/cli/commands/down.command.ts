import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `down` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildDownCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return new Command('down')
    .description("stop the spec's local cluster (SIGTERM, then SIGKILL after 10 s)")
    .option('--purge', "also remove the members' data and logs")
    .action(function (this: Command) {
      return run(async () => (await import('./down.js')).downCommand(globals(this)))();
    });
}
