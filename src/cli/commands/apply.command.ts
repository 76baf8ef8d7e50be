import { Command, Option } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `apply` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildApplyCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return new Command('apply')
    .description(
      "send the Kubernetes objects (server-side apply, field manager etcd-steward) to the kubeconfig's cluster; --wait until etcd is ready",
    )
    .option(
      '-f, --filename <file>',
      'apply the objects of this manifest stream (- for stdin) instead of those render kubernetes makes of the spec',
    )
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', 'kubeconfig context (default: its current-context)')
    .addOption(
      new Option('--dry-run <mode>', 'let the server validate and admit, store nothing').choices(['server']),
    )
    .option('--wait', 'wait until the StatefulSet is ready and the agent Deployment available')
    .option('--timeout <duration>', 'for --wait (default 10m)')
    .option('--force-conflicts', 'take over fields that another field manager owns')
    .action(function (this: Command) {
      return run(async () => (await import('./apply.js')).applyCommand(globals(this)))();
    });
}
