import { Command, Option } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `greptimedb` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildGreptimedbCommand(exit: ExitCode): Command {
  const run = runner(exit);
  const greptimedb = new Command('greptimedb').description(
    'GreptimeDB on Kubernetes: point its metasrv at another etcd',
  );
  greptimedb
    .command('repoint')
    .description(
      "patch the GreptimeDBCluster's etcd endpoints (spec.meta.backendStorage.etcd.endpoints, or the older spec.meta.etcdEndpoints); the operator rolls metasrv",
    )
    .argument('<cluster>', 'NAME or NAME.NAMESPACE of the GreptimeDBCluster')
    .option(
      '--to <endpoints>',
      'the new etcd endpoints, host:port, comma-separated (the global --endpoints works too)',
    )
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', 'kubeconfig context (default: its current-context)')
    .addOption(
      new Option('--dry-run <mode>', 'let the server validate the patch, store nothing').choices(['server']),
    )
    .action(function (this: Command, cluster: string) {
      return run(async () =>
        (await import('./greptimedb.js')).greptimeRepointCommand(cluster, globals(this)),
      )();
    });
  return greptimedb;
}
