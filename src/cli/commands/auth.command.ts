import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `auth` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildAuthCommand(exit: ExitCode): Command {
  const run = runner(exit);
  const auth = new Command('auth').description("etcd's authentication");
  auth
    .command('enable')
    .description(
      "create root with the spec's password (auth.passwordEnv / passwordFile) and enable authentication; safe to rerun (the Kubernetes bootstrap Job runs it)",
    )
    .option('--wait <duration>', 'how long to wait for a member to answer (default: 5m)')
    .action(function (this: Command) {
      return run(async () => (await import('./auth.js')).authEnableCommand(globals(this)))();
    });
  return auth;
}
