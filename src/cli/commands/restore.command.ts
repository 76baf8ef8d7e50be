import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `restore` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildRestoreCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return new Command('restore')
    .description(
      'verify a backup or snapshot file, build every member from it, start a new cluster, compare it with the snapshot',
    )
    .argument(
      '[snapshot]',
      'a backup name, latest, or a snapshot file; with --to-revision/--to-time it may be left out (the right chain is picked)',
    )
    .option('--storage <url>', "where to look up backup names (default: the spec's backup.storage)")
    .option(
      '--identity <file>',
      'age identity (secret key) file for encrypted backups (else $ETCD_STEWARD_AGE_IDENTITY_FILE, the spec)',
    )
    .option(
      '--new-cluster <name>',
      'start a new local cluster NAME beside the old one (the default; NAME defaults to SPEC-NAME-restored)',
    )
    .option('--into <dir>', "only build the members' data dirs under DIR (for other runtimes); start nothing")
    .option(
      '--replace',
      "stop the spec's own cluster and restore in its place (its data is moved aside, never deleted)",
    )
    .option('-y, --yes', 'go ahead although the live cluster has newer data than the snapshot')
    .option(
      '--skip-hash-check',
      "accept a snapshot file without etcd's SHA-256 trailer (a member's member/snap/db), as etcdutl's flag does",
    )
    .option(
      '--to-revision <revision>',
      'point in time: the newest backup at or before it (SNAPSHOT: latest, or a backup name) + the change log up to this revision',
    )
    .option(
      '--to-time <time>',
      'point in time: the last revision committed at or before this ISO 8601 time (e.g. 2026-12-04T15:04:05Z)',
    )
    .option(
      '--replay-through-etcd',
      'point in time: replay the log into a throwaway etcd member (one Txn per revision) instead of folding it offline (the fallback)',
    )
    .option(
      '--runtime <kind>',
      'local (default) or kubernetes: print the new cluster’s manifests, whose init containers restore each member',
    )
    .option(
      '--apply',
      'with --runtime kubernetes: apply the manifests (server-side) instead of printing them',
    )
    .option(
      '--greptimedb <cluster>',
      'with --runtime kubernetes: apply, wait until the new cluster is ready, then point this GreptimeDBCluster (NAME[.NAMESPACE]) at it',
    )
    .option(
      '--sha256 <hex>',
      'with --runtime kubernetes: pin the backup to this SHA-256 (of its stored object) without reading the catalog from here',
    )
    .option(
      '--kubeconfig <file>',
      'with --apply: kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)',
    )
    .option('--context <name>', 'with --apply: kubeconfig context')
    .option('--wait', 'with --apply: wait until the new StatefulSet is ready (implied by --greptimedb)')
    .option('--timeout <duration>', 'for the wait (default 10m)')
    .action(function (this: Command, target: string | undefined) {
      return run(async () => (await import('./restore.js')).restoreCommand(target, globals(this)))();
    });
}
