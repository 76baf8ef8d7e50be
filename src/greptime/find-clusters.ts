/**
 * Which GreptimeDBClusters keep their metadata in a given etcd: those whose etcd endpoints name
 * one of its Services or member pods (with or without scheme, port, namespace and cluster domain).
 */
import { listObjects } from '../runtime/kubernetes/adopt-release.js';
import { loadKubeConfig, objectApi, type KubeTarget } from '../runtime/kubernetes/kube-client.js';
import { GREPTIME_API_VERSION, GREPTIME_KIND } from './repoint.js';

/** An etcd as GreptimeDB may name it: its Services and member pods in one namespace. */
export interface EtcdNames {
  readonly namespace: string;
  /** Service names (client and headless). */
  readonly services: readonly string[];
  /** Member pod names, reached through `headless`. */
  readonly members: readonly string[];
  readonly headless: string;
}

/** True when `endpoint` (as a GreptimeDBCluster in `from` lists it) names that etcd. */
export function namesEtcd(endpoint: string, from: string, etcd: EtcdNames): boolean {
  const host = endpoint
    .replace(/^[a-z]+:\/\//, '')
    .replace(/:\d+$/, '')
    .replace(/\/.*$/, '');
  const parts = host.split('.');
  const inNamespace = (rest: readonly string[]) =>
    rest.length === 0
      ? from === etcd.namespace
      : rest[0] === etcd.namespace && (rest[1] === undefined || rest[1] === 'svc');
  const [first = '', second, ...more] = parts;
  if (etcd.services.includes(first)) return inNamespace(parts.slice(1));
  return etcd.members.includes(first) && second === etcd.headless && inNamespace(more);
}

/** `namespace/name` of every GreptimeDBCluster (all namespaces) whose etcd endpoints name `etcd`. */
export async function greptimeClustersUsing(target: KubeTarget, etcd: EtcdNames): Promise<string[]> {
  const kc = loadKubeConfig(target);
  const server = kc.getCurrentCluster()?.server ?? '?';
  const items = await listObjects(objectApi(kc), server, GREPTIME_API_VERSION, GREPTIME_KIND, undefined);
  return items
    .filter((item) => {
      const meta = (
        item['spec'] as
          | { meta?: { backendStorage?: { etcd?: { endpoints?: string[] } }; etcdEndpoints?: string[] } }
          | undefined
      )?.meta;
      const endpoints = [...(meta?.backendStorage?.etcd?.endpoints ?? []), ...(meta?.etcdEndpoints ?? [])];
      return endpoints.some((e) => namesEtcd(e, item.metadata.namespace ?? 'default', etcd));
    })
    .map((item) => `${item.metadata.namespace ?? 'default'}/${item.metadata.name ?? '?'}`);
}
