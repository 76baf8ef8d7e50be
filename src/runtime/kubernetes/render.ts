/**
 * `render kubernetes`: the whole cluster and its care as Kubernetes objects, in a stable order —
 * agent RBAC and config, backup PVC, Services, NetworkPolicy, the etcd StatefulSet, its
 * PodDisruptionBudget, the agent, the auth bootstrap Job (with auth), CronJobs (schedules:
 * cronjobs), then the monitoring objects. No object names its namespace outside metadata and
 * RoleBinding subjects (pods name it through the downward API), so a kustomize namespace overlay
 * moves it. Plain data: the CLI prints
 * it as YAML, `apply` sends it, tests validate it against the official schemas.
 */
import { stringify } from 'yaml';
import type { Spec } from '../../config/spec.js';
import {
  renderAgent,
  renderAgentConfig,
  renderBackupClaim,
  renderCronJobs,
  renderRbac,
} from './render-agent.js';
import { renderAuthBootstrap } from './render-auth.js';
import { checkRenderableStorage, renderWarnings } from './render-checks.js';
import { renderCertificates } from './render-certs.js';
import { agentImageWarnings, etcdImageWarnings } from './render-images.js';
import { renderDisruptionBudget, renderServices, renderStatefulSet } from './render-etcd.js';
import { renderNetworkPolicy } from './render-network.js';
import { renderMonitoring, type MonitoringContent } from './render-monitoring.js';
import { renderAlertRules } from '../../monitoring/alerts.js';
import { renderGrafanaDashboard } from '../../monitoring/grafana.js';
import { kubeInputError, kubernetesSettings, podClusterNames, type KubeObject } from './render-types.js';

export type { KubeObject } from './render-types.js';

/** The spec's cluster as Kubernetes objects, in the order they are applied. */
export function renderKubernetes(spec: Spec): KubeObject[] {
  checkRenderable(spec);
  const names = podClusterNames(spec);
  const config = renderAgentConfig(spec, names);
  return [
    ...renderRbac(spec, names),
    config,
    ...renderBackupClaim(spec, names),
    ...renderServices(spec, names),
    ...renderNetworkPolicy(spec, names),
    ...renderCertificates(spec, names),
    renderStatefulSet(spec, names, { token: names.token() }),
    renderDisruptionBudget(spec, names),
    ...renderAgent(spec, names, config),
    ...renderAuthBootstrap(spec, names),
    ...renderCronJobs(spec, names),
    ...renderMonitoring(spec, names, monitoringContent(spec)),
  ];
}

/**
 * The alert rules and dashboard of `render alerts` / `render grafana`, with the scrape jobs the
 * PodMonitor (`NAMESPACE/NAME`) and the ServiceMonitor (the agent Service's name) produce.
 */
function monitoringContent(spec: Spec): MonitoringContent {
  const names = podClusterNames(spec);
  const k = kubernetesSettings(spec);
  const jobs = {
    // prometheus-operator names the PodMonitor's job NAMESPACE/NAME; any namespace, so an overlay may move it.
    etcdJob: `[^/]+/${escapeRegex(names.name)}`,
    stewardJob: escapeRegex(names.agent),
  };
  const interval = /^(\d+)s$/.exec(k.monitoring.interval)?.[1];
  return {
    ruleGroups: renderAlertRules(spec, {
      ...jobs,
      ...(interval ? { scrapeIntervalSeconds: Number(interval) } : {}),
    }).groups,
    dashboard: renderGrafanaDashboard(spec, jobs),
  };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Fields that make no sense on Kubernetes are refused with the fix, not silently ignored. */
function checkRenderable(spec: Spec): void {
  // A refusal, not a choice of behaviour: what runs where is decided by runtime/open.ts.
  if (spec.runtime === 'external') {
    throw kubeInputError(
      'the spec has runtime: external (a cluster someone else runs); there is nothing to render for it',
      'set runtime: kubernetes (and a kubernetes: block) to render manifests for a cluster etcd-steward runs',
    );
  }
  if (spec.tls?.server || spec.tls?.peer) {
    throw kubeInputError(
      'tls.server / tls.peer name certificate files on this machine; on Kubernetes certificates come from Secrets',
      'use kubernetes.tls.clientSecret, kubernetes.tls.peerSecret and kubernetes.tls.agentClientSecret instead',
    );
  }
  checkRenderableStorage(spec);
}

/** What `render kubernetes` and `apply` print on stderr: risky choices that still render. */
export function kubernetesWarnings(spec: Spec): string[] {
  return [
    ...renderWarnings(spec),
    ...etcdImageWarnings(spec),
    ...agentImageWarnings(spec.kubernetes?.agentImage, spec.etcd.version),
  ];
}

/** The objects as one YAML stream (`---` between documents), as `kubectl apply -f -` reads it. */
export function toYamlStream(objects: readonly KubeObject[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
}

/** File name of one object in --output-dir: `NN-kind-name.yaml`, in apply order. */
export function objectFileName(object: KubeObject, index: number): string {
  return `${String(index + 1).padStart(2, '0')}-${object.kind.toLowerCase()}-${object.metadata.name}.yaml`;
}

/** The files of --output-dir: one per object, and a kustomization.yaml listing them in order. */
export function toFiles(objects: readonly KubeObject[]): { name: string; content: string }[] {
  const files = objects.map((object, index) => ({
    name: objectFileName(object, index),
    content: stringify(object, { lineWidth: 0, aliasDuplicateObjects: false }),
  }));
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: files.map((f) => f.name),
  };
  return [...files, { name: 'kustomization.yaml', content: stringify(kustomization) }];
}
