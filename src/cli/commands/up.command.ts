import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `up` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildUpCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return new Command('up')
    .description("start the spec's local cluster and wait until it is healthy (foreground until Ctrl-C)")
    .option('-d, --detach', 'return once healthy and leave the members running')
    .option(
      '--serve',
      'then run the agent (API, metrics, dashboard, schedules) in the same process; Ctrl-C stops both',
    )
    .option(
      '--listen <host:port>',
      "with --serve: where the API listens (default: the spec's monitoring.listen)",
    )
    .action(function (this: Command) {
      return run(async () => (await import('./up.js')).upCommand(globals(this)))();
    });
}
