import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `member-init` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildMemberInitCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return new Command('member-init')
    .description(
      "(run by each etcd pod's init step on Kubernetes) decide how the member starts — from its data, as a learner joining the running cluster, new, or restored from the pinned backup — and write etcd's config file",
    )
    .argument(
      '<etcd-flags...>',
      "after --: the member's etcd flags (--name, --data-dir, --initial-cluster, …)",
    )
    .option(
      '--write-config <file>',
      "write etcd's config file here (the etcd container runs etcd --config-file FILE)",
    )
    .option(
      '--restore <backup>',
      'a pinned restore: the backup a cluster being created starts from (never latest)',
    )
    .option(
      '--restore-sha256 <hex>',
      "the pinned backup's SHA-256 (of its stored object); any other is refused",
    )
    .option('--storage <url>', "backup storage for --restore (default: the spec's backup.storage)")
    .option('--etcdutl <file>', 'the etcdutl binary for --restore (default: etcdutl on PATH)')
    .option(
      '--timeout <duration>',
      'how long to wait for the cluster or the other initial members (default 5m)',
    )
    .option(
      '--promote',
      'run beside etcd instead: promote this member once it has caught up as a learner, then stay idle',
    )
    .action(function (this: Command, etcdFlags: string[]) {
      return run(async () =>
        (await import('./member-init.js')).memberInitCommand(etcdFlags, globals(this)),
      )();
    });
}
