/**
 * Restore on Kubernetes: a new cluster (Services, StatefulSet, PodDisruptionBudget) beside the old
 * one, whose pods first run an init container of the etcd-steward image: `restore-member` fetches
 * the backup from the backup storage, checks it and builds that member's data dir with
 * `etcdutl snapshot restore` (new membership, new cluster token). A pod that restarts later finds
 * its data dir and skips the restore.
 */
import type { Spec } from '../../config/spec.js';
import { agentImage, inClusterStorage, STEWARD_CONTAINER_SECURITY, stewardPodParts } from './render-agent.js';
import { renderDisruptionBudget, renderServices, renderStatefulSet } from './render-etcd.js';
import { restoreIdentityParts } from './render-identity.js';
import { AGENT_PATHS, ETCD_PATHS, ETCD_UID } from './render-images.js';
import { clusterNames, kubeInputError, kubernetesSettings, type KubeObject } from './render-types.js';

export interface RestoreRenderOptions {
  /** A backup name in the storage, or `latest`. */
  readonly backup: string;
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
  const source = clusterNames(spec);
  const names = clusterNames(spec, options.newClusterName);
  const token = names.restoredToken();
  const parts = stewardPodParts(spec, source, { config: true, token: false });
  const identity = restoreIdentityParts(spec); // encrypted backups: the Secret, in this container only
  const host = `$(POD_NAME).${names.headless}.${names.namespace}.svc.${names.clusterDomain}`;
  const init = {
    name: 'restore',
    image: agentImage(spec),
    imagePullPolicy: kubernetesSettings(spec).imagePullPolicy,
    args: [
      'restore-member',
      options.backup,
      '--config',
      AGENT_PATHS.configFile,
      '--storage',
      storage,
      '--name',
      '$(POD_NAME)',
      '--data-dir',
      ETCD_PATHS.dataDir,
      '--initial-cluster',
      names.initialCluster(),
      '--initial-cluster-token',
      token,
      '--initial-advertise-peer-urls',
      `${names.peerTls ? 'https' : 'http'}://${host}:2380`,
      '--etcdutl',
      AGENT_PATHS.etcdutl,
    ],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      ...parts.env,
      ...identity.env,
    ],
    ...(parts.envFrom.length > 0 ? { envFrom: parts.envFrom } : {}),
    // Runs as etcd's user, so the data dir it builds belongs to the member that opens it.
    securityContext: { ...STEWARD_CONTAINER_SECURITY, runAsUser: ETCD_UID, runAsGroup: ETCD_UID },
    volumeMounts: [{ name: 'data', mountPath: ETCD_PATHS.volume }, ...parts.mounts, ...identity.mounts],
  };
  return [
    ...renderServices(spec, names),
    renderStatefulSet(spec, names, {
      token,
      initContainers: [init],
      volumes: [...parts.volumes, ...identity.volumes],
      annotations: { 'etcd-steward.io/restored-from': `${options.backup} (${spec.name})` },
    }),
    renderDisruptionBudget(spec, names),
  ];
}
