import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `restore-member` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildRestoreMemberCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return new Command('restore-member')
    .description(
      "(run by the Kubernetes restore init container) fetch and check a backup, build one member's data dir with etcdutl",
    )
    .argument('<backup>', 'a backup name, latest, or a snapshot file')
    .option('--storage <url>', "backup storage (default: the spec's backup.storage)")
    .requiredOption('--name <member>', 'the member name')
    .requiredOption('--data-dir <dir>', 'the data dir to build (left alone when it already holds data)')
    .requiredOption('--initial-cluster <list>', 'NAME=PEER_URL,… of the new cluster')
    .requiredOption('--initial-cluster-token <token>', 'the new cluster token')
    .requiredOption('--initial-advertise-peer-urls <url>', "this member's peer URL")
    .option('--etcdutl <file>', 'the etcdutl binary (default: etcdutl on PATH)')
    .option(
      '--skip-hash-check',
      "accept a snapshot file without etcd's SHA-256 trailer (a member's member/snap/db), as etcdutl's flag does",
    )
    .action(function (this: Command, target: string) {
      return run(async () =>
        (await import('./restore-member.js')).restoreMemberCommand(target, globals(this)),
      )();
    });
}
