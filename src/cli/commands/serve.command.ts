import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `serve` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildServeCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return new Command('serve')
    .description(
      "the agent: status poll, the spec's backup/defrag/drill schedules, HTTP API, /metrics and dashboard; SIGTERM stops it cleanly",
    )
    .option(
      '--listen <host:port>',
      "where the API listens (default: the spec's monitoring.listen, 127.0.0.1:9779)",
    )
    .option('--storage <url>', "backup storage (default: the spec's backup.storage)")
    .action(function (this: Command) {
      return run(async () => (await import('./serve.js')).serveCommand(globals(this)))();
    });

  // `render` is a parent: each target is a subcommand (`render kubernetes` is added beside these).
}
