import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';
import type { GlobalOptions } from '../context.js';

/** `version`: etcd-steward's version, Node's, and the etcd releases installed in the cache. */
export function buildVersionCommand(exit: ExitCode, version: string): Command {
  const run = runner(exit);
  return new Command('version')
    .description("etcd-steward's version, Node's, and the etcd releases it finds in its cache")
    .action(function (this: Command) {
      return run(async () =>
        (await import('./version.js')).versionCommand(globals<GlobalOptions>(this), version),
      )();
    });
}
