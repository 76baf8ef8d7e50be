import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `snapshot` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildSnapshotCommand(exit: ExitCode): Command {
  const run = runner(exit);
  const snapshot = new Command('snapshot')
    .description('read snapshot files and backups offline (no etcd needed): inspect, diff')
    .option('--storage <url>', "where to look up backup names (default: the spec's backup.storage)")
    .option(
      '--identity <file>',
      'age identity (secret key) file for encrypted backups (else $ETCD_STEWARD_AGE_IDENTITY_FILE, the spec)',
    );
  const snapshotAction = (load: (m: typeof import('./snapshot.js')) => Promise<number>) =>
    run(async () => load(await import('./snapshot.js')));
  snapshot
    .command('inspect')
    .description(
      'revision, compaction, key count, sizes, members, trailer; with --keys/--values/--prefix the live keys',
    )
    .argument('<snapshot>', 'a snapshot file, a backup name, or latest')
    .option('--prefix <prefix>', 'only keys starting with this')
    .option('--keys', 'list the live keys')
    .option('--values', 'list the live keys with their values')
    .action(function (this: Command, target: string) {
      return snapshotAction((m) => m.snapshotInspectCommand(target, globals(this)))();
    });
  snapshot
    .command('diff')
    .description(
      'keys added, removed and changed from A to B (B: another snapshot, or the live cluster when left out)',
    )
    .argument('<a>', 'a snapshot file, a backup name, or latest')
    .argument('[b]', 'a snapshot file or backup; left out: the live cluster (--endpoints or the spec)')
    .option('--prefix <prefix>', 'only keys starting with this')
    .option('--keys', 'list each added, removed and changed key')
    .action(function (this: Command, a: string, b: string | undefined) {
      return snapshotAction((m) => m.snapshotDiffCommand(a, b, globals(this)))();
    });
  return snapshot;
}
