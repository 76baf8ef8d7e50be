import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `adopt` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildAdoptCommand(exit: ExitCode): Command {
  const run = runner(exit);
  const adopt = new Command('adopt').description('move a running etcd from another tool under etcd-steward');
  adopt
    .command('bitnami')
    .description(
      'move a Bitnami etcd chart release: back it up (read-only), restore that backup into a new cluster beside it, check it, then re-point GreptimeDB; the release is never touched',
    )
    .argument(
      '<release>',
      'RELEASE or RELEASE.NAMESPACE, as `helm list -A` shows it (namespace default: default)',
    )
    .option(
      '--values <file>',
      'a values file the release was installed with (repeatable, merged in order over what its StatefulSet shows)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option(
      '--name <name>',
      'the new cluster’s name (default: FULLNAME-steward, or the first free FULLNAME-steward-N)',
    )
    .option(
      '--storage <url>',
      "where the backup goes, reachable from here and from the pods (default: the values' backup storage)",
    )
    .option('--backup-claim <pvc>', 'with file storage: the PVC that holds it, mounted by the restore pods')
    .option(
      '--greptimedb <cluster>',
      'the GreptimeDBCluster (NAME[.NAMESPACE]) to point at the new cluster, last',
    )
    .option('--dry-run', 'show the plan and the objects (validated by the server), change nothing')
    .option('--accept-changes', 're-point although the release changed keys after the backup (they are lost)')
    .option('--out <file>', "write the new cluster's spec (steward.yaml) to FILE")
    .option(
      '--source-endpoints <urls>',
      "reach the release's members at these URLs (default: Service DNS in a pod, else a port-forward per pod)",
    )
    .option('--target-endpoints <urls>', "reach the new cluster's members at these URLs (same default)")
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', 'kubeconfig context (default: its current-context)')
    .option(
      '--timeout <duration>',
      'for the new cluster to be ready, healthy and equal to the snapshot (default 10m)',
    )
    .action(function (this: Command, release: string) {
      return run(async () => (await import('./adopt.js')).adoptBitnamiCommand(release, globals(this)))();
    });
  return adopt;
}
