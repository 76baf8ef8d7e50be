/**
 * The Kubernetes end of a restore into a new cluster: apply the restore objects (a new
 * StatefulSet whose init containers fetch, verify and restore the backup, and its Services), wait
 * until it is ready, then point GreptimeDB's metasrv at its client Service.
 */
import { InputError } from '../errors.js';
import {
  applyObjects,
  type ApplyOptions,
  type ApplyResult,
  type KubeObject,
} from '../runtime/kubernetes/apply.js';
import { parseClusterRef, repointGreptimeDb, type RepointResult } from './repoint.js';

export interface RestoreOnKubernetesOptions extends ApplyOptions {
  /** `NAME[.NAMESPACE]` of the GreptimeDBCluster to re-point, if any. */
  readonly greptimedb?: string;
}

export interface RestoreOnKubernetesResult {
  readonly applied: ApplyResult;
  /** The new cluster's client endpoint (`SERVICE.NAMESPACE.svc.cluster.local:PORT`). */
  readonly endpoint: string;
  readonly repoint: RepointResult | undefined;
}

/**
 * The client endpoint of the objects: the Service that is not headless, its port named
 * `client` (else the first), as `host:port` the way GreptimeDB takes etcd endpoints.
 */
export function clientEndpointOf(objects: readonly KubeObject[], clusterDomain = 'cluster.local'): string {
  const services = objects.filter((o) => o.kind === 'Service');
  const client = services.find(
    (o) => (o['spec'] as { clusterIP?: string } | undefined)?.clusterIP !== 'None',
  );
  if (!client)
    throw new InputError(
      'the restore objects have no client Service (only headless ones) to point GreptimeDB at',
    );
  const ports = (client['spec'] as { ports?: { name?: string; port: number }[] } | undefined)?.ports ?? [];
  const port = (ports.find((p) => p.name === 'client') ?? ports[0])?.port ?? 2379;
  return `${client.metadata.name}.${client.metadata.namespace ?? 'default'}.svc.${clusterDomain}:${port}`;
}

/**
 * Applies the restore objects; with `greptimedb`, waits for the new StatefulSet (GreptimeDB must
 * not be pointed at a cluster that is not serving yet) and then re-points the GreptimeDBCluster.
 */
export async function restoreOnKubernetes(
  objects: readonly KubeObject[],
  options: RestoreOnKubernetesOptions,
): Promise<RestoreOnKubernetesResult> {
  const endpoint = clientEndpointOf(objects);
  const ref = options.greptimedb === undefined ? undefined : parseClusterRef(options.greptimedb);
  const applied = await applyObjects(objects, { ...options, wait: options.wait ?? ref !== undefined });
  const repoint = ref
    ? await repointGreptimeDb({
        name: ref.name,
        namespace: ref.namespace,
        endpoints: [endpoint],
        kubeconfig: options.kubeconfig,
        context: options.context,
        dryRun: options.dryRun,
      })
    : undefined;
  return { applied, endpoint, repoint };
}
