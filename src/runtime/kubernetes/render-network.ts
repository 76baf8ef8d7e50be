/**
 * A NetworkPolicy for the etcd pods: members reach each other (client and peer ports),
 * etcd-steward's own pods (agent, CronJobs, auth Job) reach the client port, and so do the pods of
 * the namespaces the spec names (kubernetes.networkPolicy.clientNamespaces and
 * greptimedb.namespace); the metrics port stays open to Prometheus. Anything else is refused —
 * where the cluster's network plugin enforces NetworkPolicies.
 */
import type { Spec } from '../../config/spec.js';
import { commonLabels, kubernetesSettings, type ClusterNames, type KubeObject } from './render-types.js';

/** Selects the pods of the namespaces `names` (by the label Kubernetes puts on every namespace). */
function namespaces(names: readonly string[]): Record<string, unknown> {
  return {
    namespaceSelector: {
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [...names] }],
    },
  };
}

const CLIENT = { protocol: 'TCP', port: 2379 };
const PEER = { protocol: 'TCP', port: 2380 };
const METRICS = { protocol: 'TCP', port: 2381 };

/** The namespaces whose pods are clients: the spec's list and GreptimeDB's. */
export function clientNamespaces(spec: Spec): string[] {
  const k = kubernetesSettings(spec);
  const wanted = new Set(k.networkPolicy.clientNamespaces);
  if (spec.greptimedb) wanted.add(spec.greptimedb.namespace);
  return [...wanted].sort();
}

/** The policy, or nothing with kubernetes.networkPolicy.enabled: false. */
export function renderNetworkPolicy(spec: Spec, names: ClusterNames): KubeObject[] {
  const k = kubernetesSettings(spec);
  const policy = k.networkPolicy;
  if (!policy.enabled) return [];
  const clients = clientNamespaces(spec);
  const others = clients.filter((ns) => ns !== k.namespace);
  const ingress: Record<string, unknown>[] = [
    // Peers: raft on 2380; members also call each other's client port (e.g. for member list).
    { from: [{ podSelector: { matchLabels: names.selector() } }], ports: [CLIENT, PEER] },
    // etcd-steward's pods (agent, CronJobs, auth Job, restore pods) — or every pod of this
    // namespace when it is a client namespace (GreptimeDB beside etcd).
    {
      from: [{ podSelector: clients.includes(k.namespace) ? {} : { matchLabels: names.agentSelector() } }],
      ports: [CLIENT],
    },
  ];
  if (others.length > 0) ingress.push({ from: [namespaces(others)], ports: [CLIENT] });
  ingress.push(
    policy.metricsNamespaces.length > 0
      ? { from: [namespaces(policy.metricsNamespaces)], ports: [METRICS] }
      : { ports: [METRICS] },
  );
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: names.name,
        namespace: names.namespace,
        labels: { ...commonLabels(spec, 'etcd', names.name), 'app.kubernetes.io/name': 'etcd' },
      },
      spec: { podSelector: { matchLabels: names.selector() }, policyTypes: ['Ingress'], ingress },
    },
  ];
}
