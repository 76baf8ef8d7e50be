import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `render` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildRenderCommand(exit: ExitCode): Command {
  const run = runner(exit);
  const render = new Command('render')
    .description('files for other tools on stdout: Prometheus alert rules, a Grafana dashboard, …')
    .option('--output-file <file>', 'write to FILE instead of stdout');
  const renderAction = (load: (m: typeof import('./render.js')) => Promise<number>) =>
    run(async () => load(await import('./render.js')));
  render
    .command('alerts')
    .description(
      "Prometheus alerting rules (YAML; -o json for JSON): etcd's mixin alerts plus the agent's backup/drill/defrag alerts",
    )
    .option('--etcd-job <regex>', "job label of the etcd members' scrape (default: .*etcd.*)")
    .option('--steward-job <regex>', "job label of the agent's scrape (default: .*steward.*)")
    .option(
      '--scrape-interval <duration>',
      "the etcd job's scrape interval; sets the peer-failure window (default: 30s)",
    )
    .option('--for <duration>', "replace every rule's `for:` hold time (e.g. 0s), for tests and demos")
    .action(function (this: Command) {
      return renderAction((m) => m.renderAlertsCommand(globals(this)))();
    });
  render
    .command('grafana')
    .description(
      "a Grafana dashboard (JSON) over etcd's metrics plus a row for the agent's; datasource picked on import",
    )
    .option(
      '--etcd-job <regex>',
      "offer only etcd jobs matching this in the dashboard's job variable (default: .*etcd.*)",
    )
    .option(
      '--steward-job <regex>',
      "offer only agent jobs matching this in the dashboard's agent job variable (default: .*steward.*)",
    )
    .action(function (this: Command) {
      return renderAction((m) => m.renderGrafanaCommand(globals(this)))();
    });

  render
    .command('kubernetes')
    .description(
      'Kubernetes manifests: Services, StatefulSet, PodDisruptionBudget, the agent with RBAC, monitoring (YAML stream)',
    )
    .option('--output-dir <dir>', 'write one file per object and a kustomization.yaml into DIR')
    .action(function (this: Command) {
      return run(async () =>
        (await import('./render-kubernetes.js')).renderKubernetesCommand(globals(this)),
      )();
    });
  return render;
}
