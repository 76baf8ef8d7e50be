/**
 * Points a GreptimeDBCluster's metasrv at other etcd endpoints (after a restore into a new etcd
 * cluster): one merge patch of `spec.meta.backendStorage.etcd.endpoints`, or of the older
 * `spec.meta.etcdEndpoints` when that is the field the object has. The GreptimeDB operator then
 * rolls metasrv, because the config it renders (and its hash) changed.
 */
import { PatchStrategy } from '@kubernetes/client-node';
import { InputError, StewardError } from '../errors.js';
import {
  apiError,
  loadKubeConfig,
  objectApi,
  readLive,
  type KubeObject,
  type KubeTarget,
} from '../runtime/kubernetes/kube-client.js';
import { FIELD_MANAGER } from '../runtime/kubernetes/apply.js';

export const GREPTIME_API_VERSION = 'greptime.io/v1alpha1';
export const GREPTIME_KIND = 'GreptimeDBCluster';

export type EndpointsField = 'spec.meta.backendStorage.etcd.endpoints' | 'spec.meta.etcdEndpoints';

export interface RepointOptions extends KubeTarget {
  /** The GreptimeDBCluster's name. */
  readonly name: string;
  /** Its namespace (default: `default`). */
  readonly namespace?: string;
  /** The new etcd client endpoints, `host:port` as GreptimeDB takes them. */
  readonly endpoints: readonly string[];
  readonly dryRun?: 'server';
}

export interface RepointResult {
  /** `namespace/name` */
  readonly cluster: string;
  readonly field: EndpointsField;
  readonly oldEndpoints: readonly string[];
  readonly newEndpoints: readonly string[];
  /** False when the object already had these endpoints (nothing sent). */
  readonly changed: boolean;
  readonly dryRun: boolean;
  /** What is left for the user (or the operator) after the patch. */
  readonly stepsLeft: readonly string[];
}

interface MetaSpec {
  backendStorage?: { etcd?: { endpoints?: string[] }; mysql?: unknown; postgresql?: unknown };
  etcdEndpoints?: string[];
}

/** `NAME` or `NAME.NAMESPACE` (as `--greptimedb` takes it). */
export function parseClusterRef(ref: string): { name: string; namespace: string | undefined } {
  const [name, namespace, ...rest] = ref.split('.');
  const dns = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  if (!name || !dns.test(name) || rest.length > 0 || (namespace !== undefined && !dns.test(namespace)))
    throw new InputError(`'${ref}' is not a GreptimeDBCluster reference`, {
      hint: 'give NAME or NAME.NAMESPACE, e.g. mycluster.greptimedb',
    });
  return { name, namespace };
}

/**
 * Reads the GreptimeDBCluster, finds which endpoints field it uses, and patches it to
 * `endpoints` (guarded by the resourceVersion read, so a concurrent change is not overwritten).
 */
export async function repointGreptimeDb(options: RepointOptions): Promise<RepointResult> {
  if (options.endpoints.length === 0)
    throw new InputError('no etcd endpoints to point GreptimeDB at', {
      hint: 'pass --endpoints host:2379,…',
    });
  const namespace = options.namespace ?? 'default';
  const kc = loadKubeConfig(options);
  const server = kc.getCurrentCluster()?.server ?? '?';
  const api = objectApi(kc);
  const ref: KubeObject = {
    apiVersion: GREPTIME_API_VERSION,
    kind: GREPTIME_KIND,
    metadata: { name: options.name, namespace },
  };
  const live = await readLive(api, ref, server);
  if (!live)
    throw new InputError(`no GreptimeDBCluster ${namespace}/${options.name} on ${server}`, {
      hint: 'check the name and namespace: kubectl get greptimedbclusters -A',
    });

  const meta = (live['spec'] as { meta?: MetaSpec } | undefined)?.meta ?? {};
  const { field, oldEndpoints, patchMeta } = pickField(
    meta,
    options.endpoints,
    `${namespace}/${options.name}`,
  );
  const dryRun = options.dryRun === 'server';
  const changed = JSON.stringify(oldEndpoints) !== JSON.stringify(options.endpoints);
  if (changed) {
    try {
      await api.patch(
        {
          apiVersion: GREPTIME_API_VERSION,
          kind: GREPTIME_KIND,
          metadata: { name: options.name, namespace, resourceVersion: live.metadata.resourceVersion },
          spec: { meta: patchMeta },
        },
        undefined,
        dryRun ? 'All' : undefined,
        FIELD_MANAGER,
        undefined,
        PatchStrategy.MergePatch,
      );
    } catch (error) {
      throw apiError(error, `patching GreptimeDBCluster ${namespace}/${options.name}`, server);
    }
  }
  return {
    cluster: `${namespace}/${options.name}`,
    field,
    oldEndpoints,
    newEndpoints: [...options.endpoints],
    changed,
    dryRun,
    stepsLeft: stepsLeft(options.name, namespace, changed),
  };
}

function pickField(
  meta: MetaSpec,
  endpoints: readonly string[],
  cluster: string,
): { field: EndpointsField; oldEndpoints: string[]; patchMeta: MetaSpec } {
  const storage = meta.backendStorage;
  if (storage?.etcd)
    return {
      field: 'spec.meta.backendStorage.etcd.endpoints',
      oldEndpoints: storage.etcd.endpoints ?? [],
      patchMeta: { backendStorage: { etcd: { endpoints: [...endpoints] } } },
    };
  if (meta.etcdEndpoints)
    return {
      field: 'spec.meta.etcdEndpoints',
      oldEndpoints: meta.etcdEndpoints,
      patchMeta: { etcdEndpoints: [...endpoints] },
    };
  const other = storage?.mysql ? 'MySQL' : storage?.postgresql ? 'PostgreSQL' : undefined;
  throw new StewardError(
    other
      ? `GreptimeDBCluster ${cluster} keeps its metadata in ${other}, not etcd: nothing to re-point`
      : `GreptimeDBCluster ${cluster} has neither spec.meta.backendStorage.etcd.endpoints nor spec.meta.etcdEndpoints`,
    { hint: 'check the object: kubectl get greptimedbcluster -o yaml' },
  );
}

function stepsLeft(name: string, namespace: string, changed: boolean): string[] {
  const kubectl = `kubectl -n ${namespace}`;
  return [
    ...(changed
      ? [
          `the GreptimeDB operator rolls metasrv (its config hash changed): watch it with \`${kubectl} get pods -w\` until the ${name}-meta pods are Running again`,
        ]
      : []),
    `check that metasrv talks to the new etcd: \`${kubectl} logs deploy/${name}-meta\` (no etcd connection errors), and \`${kubectl} get greptimedbcluster ${name}\` shows Running`,
    'table reconciliation: the metadata is as of the backup; tables, regions and flows created or altered after it are unknown to metasrv — compare SHOW TABLES / information_schema with what the datanodes hold, then recreate or repair what differs',
    'once GreptimeDB is healthy on the new etcd, take a fresh backup of it and retire the old etcd cluster',
  ];
}
