/**
 * Restore on Kubernetes: a new cluster (Services, StatefulSet, PodDisruptionBudget) beside the old
 * one, pinned to one backup — its name and SHA-256, resolved when rendering, never `latest`. Each
 * pod's init step (`member-init --restore NAME --restore-sha256 HEX`) restores it only while the
 * cluster is being created (every initial member without data, or this member never started):
 * it fetches the backup, refuses any other hash, builds the data dir with `etcdutl snapshot
 * restore` (new membership, new cluster token) and leaves a marker in the volume. A later restart
 * starts from the data; a later lost volume joins the running cluster as a learner.
 */
import type { Spec } from '../../config/spec.js';
import { inClusterStorage } from './render-agent.js';
import { renderDisruptionBudget, renderServices, renderStatefulSet } from './render-etcd.js';
import { clusterNames, kubeInputError, type KubeObject } from './render-types.js';

export interface RestoreRenderOptions {
  /** A backup name in the storage (resolved: never `latest`). */
  readonly backup: string;
  /** The SHA-256 of the backup's stored object, from its manifest: every member checks it. */
  readonly sha256: string;
  /** The new cluster's name (StatefulSet, Services). */
  readonly newClusterName: string;
  /** Backup storage URL as seen from the pods (default: the spec's, file storage on the backup PVC). */
  readonly storage?: string;
}

/** The new cluster's objects, in apply order. */
export function renderRestore(spec: Spec, options: RestoreRenderOptions): KubeObject[] {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(options.newClusterName) || options.newClusterName.length > 40) {
    throw kubeInputError(
      `--new-cluster '${options.newClusterName}' is not a DNS label`,
      'use lower-case letters, digits and dashes',
    );
  }
  if (options.newClusterName === spec.name) {
    throw kubeInputError(
      `--new-cluster '${options.newClusterName}' is the spec's own cluster`,
      'restore into a new cluster beside the old one (e.g. --new-cluster etcd-recover), then point the clients at it',
    );
  }
  const storage = options.storage ?? inClusterStorage(spec);
  if (!storage) {
    throw kubeInputError(
      'no backup storage to restore from',
      'set backup.storage in the spec, or pass --storage',
    );
  }
  if (options.backup === 'latest' || !/^[0-9a-f]{64}$/i.test(options.sha256)) {
    throw kubeInputError(
      `a restore on Kubernetes is pinned to one backup and its SHA-256 (got '${options.backup}'${options.sha256 ? ` and '${options.sha256}'` : ''})`,
      'resolve the backup first (`etcd-steward restore NAME --runtime kubernetes` does, reading the catalog)',
    );
  }
  const source = clusterNames(spec);
  const names = clusterNames(spec, options.newClusterName);
  const token = names.restoredToken();
  return [
    ...renderServices(spec, names),
    renderStatefulSet(spec, names, {
      token,
      configFrom: source,
      restore: { backup: options.backup, sha256: options.sha256.toLowerCase(), storage },
      annotations: {
        'etcd-steward.io/restored-from': `${options.backup} (${spec.name})`,
        'etcd-steward.io/restored-sha256': options.sha256.toLowerCase(),
      },
    }),
    renderDisruptionBudget(spec, names),
  ];
}
