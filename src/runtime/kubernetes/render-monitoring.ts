/**
 * Monitoring objects for prometheus-operator and Grafana: a PodMonitor for the etcd members'
 * metrics port, a ServiceMonitor for the agent, a PrometheusRule with the alerts of
 * `render alerts`, and the dashboard of `render grafana` as a ConfigMap the Grafana sidecar loads.
 */
import type { Spec } from '../../config/spec.js';
import { commonLabels, kubernetesSettings, type ClusterNames, type KubeObject } from './render-types.js';

/** The rule groups and dashboard to embed; `render.ts` passes in the alerts module's renderers. */
export interface MonitoringContent {
  readonly ruleGroups: readonly unknown[] | undefined;
  readonly dashboard: object | undefined;
}

export function renderMonitoring(spec: Spec, names: ClusterNames, content: MonitoringContent): KubeObject[] {
  const k = kubernetesSettings(spec);
  const m = k.monitoring;
  if (!m.enabled) return [];
  const labels = (component: string) => ({
    ...commonLabels(spec, component),
    'app.kubernetes.io/name': component === 'etcd' ? 'etcd' : 'etcd-steward',
    ...m.labels,
  });
  const endpoint = {
    path: '/metrics',
    interval: m.interval,
    ...(m.scrapeTimeout ? { scrapeTimeout: m.scrapeTimeout } : {}),
  };
  const objects: KubeObject[] = [
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: { name: names.name, namespace: names.namespace, labels: labels('etcd') },
      spec: {
        selector: { matchLabels: names.selector() },
        podMetricsEndpoints: [{ port: 'metrics', ...endpoint }],
      },
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: names.agent, namespace: names.namespace, labels: labels('agent') },
      spec: {
        selector: { matchLabels: names.agentSelector() },
        endpoints: [{ port: 'http', ...endpoint }],
      },
    },
  ];
  if (content.ruleGroups) {
    objects.push({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: names.name, namespace: names.namespace, labels: labels('alerts') },
      spec: { groups: content.ruleGroups },
    });
  }
  if (m.dashboard && content.dashboard) {
    objects.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: `${names.name}-dashboard`,
        namespace: names.namespace,
        // The label kube-prometheus-stack's Grafana sidecar looks for.
        labels: { ...labels('dashboard'), grafana_dashboard: '1' },
      },
      data: { [`${names.name}-etcd.json`]: `${JSON.stringify(content.dashboard, null, 2)}\n` },
    });
  }
  return objects;
}
