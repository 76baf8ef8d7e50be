/**
 * What `render kubernetes` refuses or warns about before it renders: values that cannot work
 * on Kubernetes (a placeholder left from a values file, a backup volume only one node can mount,
 * a member volume smaller than the quota) and choices that work but hurt (an even member count, a
 * member volume with no room for a defrag).
 */
import type { Spec } from '../../config/spec.js';
import { formatBytes } from '../../config/units.js';
import { kubeInputError, kubernetesSettings } from './render-types.js';

/** A size as the spec writes it (`16GiB`), or rounded when it is not whole. */
function specSize(bytes: number): string {
  if (bytes % 2 ** 30 === 0) return `${bytes / 2 ** 30}GiB`;
  if (bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20}MiB`;
  return formatBytes(bytes);
}

/** Where a `${…}` placeholder (as GreptimeDB's guide writes them) sits in the spec, as a field path. */
export function findPlaceholders(value: unknown, path = ''): { field: string; value: string }[] {
  if (typeof value === 'string') return /\$\{[^}]*\}/.test(value) ? [{ field: path, value }] : [];
  if (Array.isArray(value)) return value.flatMap((item, i) => findPlaceholders(item, `${path}[${i}]`));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([key, item]) =>
      findPlaceholders(item, path === '' ? key : `${path}.${key}`),
    );
  }
  return [];
}

/** Refuses a spec that cannot run as rendered; see the module comment. */
export function checkRenderableStorage(spec: Spec): void {
  const { source: _source, ...fields } = spec;
  const [placeholder] = findPlaceholders(fields);
  if (placeholder) {
    throw kubeInputError(
      `${placeholder.field} is '${placeholder.value}', a placeholder (from a values file or guide) and not a real value`,
      `put the real value in ${placeholder.field} (e.g. the name of your NFS claim for kubernetes.backup.pvc.existingClaim)`,
    );
  }
  const k = kubernetesSettings(spec);
  const pvc = k.backup?.pvc;
  const shared = pvc && spec.backup && !spec.backup.storage.startsWith('s3://');
  if (shared && !pvc.existingClaim && !pvc.accessModes.includes('ReadWriteMany')) {
    throw kubeInputError(
      `kubernetes.backup.pvc.accessModes is [${pvc.accessModes.join(', ')}], but the backup volume is mounted by the agent, the CronJobs and every restore pod, on different nodes; a single-node volume leaves all but one of them Pending`,
      'set kubernetes.backup.pvc.accessModes: [ReadWriteMany] with a storageClass that offers it (NFS, CephFS, EFS, Filestore, Azure Files), or keep backups in S3 (backup.storage: s3://bucket/prefix)',
    );
  }
  const quota = spec.etcd.quotaBackendBytes;
  if (k.storageSize < quota) {
    throw kubeInputError(
      `kubernetes.storageSize (${specSize(k.storageSize)}) is smaller than etcd.quotaBackendBytes (${specSize(quota)}): the disk fills before etcd's quota alarm can protect it`,
      `set kubernetes.storageSize to at least ${specSize(2 * quota)} (twice the quota: a defrag writes a full copy of the database beside it), or lower the quota`,
    );
  }
}

/** Warnings (not refusals) about a spec that renders but is risky; each names the field and the fix. */
export function renderWarnings(spec: Spec): string[] {
  const k = kubernetesSettings(spec);
  const warnings: string[] = [];
  const n = spec.members;
  if (n === 1) {
    warnings.push(
      'members: 1 tolerates no failure: losing that one pod or its volume stops the cluster; use 3 for production',
    );
  } else if (n === 2) {
    warnings.push(
      'members: 2 needs both members for quorum: it tolerates no failure, and fails twice as often as 1; use 3',
    );
  } else if (n % 2 === 0) {
    warnings.push(
      `members: ${n} tolerates as many failures as ${n - 1} (quorum is ${n / 2 + 1}) and adds a member to every write; use ${n - 1} or ${n + 1}`,
    );
  }
  const quota = spec.etcd.quotaBackendBytes;
  if (k.storageSize >= quota && k.storageSize < 2 * quota) {
    warnings.push(
      `kubernetes.storageSize (${specSize(k.storageSize)}) is less than twice etcd.quotaBackendBytes (${specSize(quota)}): a defrag writes a full copy of the database beside it, and the WAL and snapshots need room too; use ${specSize(2 * quota)} or more (a StatefulSet's volume size cannot change after the first apply)`,
    );
  }
  const pvc = k.backup?.pvc;
  if (pvc?.existingClaim && spec.backup && !spec.backup.storage.startsWith('s3://')) {
    warnings.push(
      `kubernetes.backup.pvc.existingClaim '${pvc.existingClaim}' must be ReadWriteMany (NFS, CephFS, …): the agent, CronJobs and restore pods mount it from different nodes`,
    );
  }
  if (k.networkPolicy.enabled && !spec.greptimedb && k.networkPolicy.clientNamespaces.length === 0) {
    warnings.push(
      `the NetworkPolicy admits only etcd-steward's pods to the client port: name the namespaces of etcd's clients (GreptimeDB) in kubernetes.networkPolicy.clientNamespaces or greptimedb.namespace, or set kubernetes.networkPolicy.enabled: false`,
    );
  }
  return warnings;
}
