/**
 * How an etcd pod starts: an init container of the etcd-steward image (`member-init`) gets the
 * member's etcd flags, decides — start from the data dir, join the running cluster as a learner,
 * start a new cluster, or restore the pinned backup — and writes etcd's config file into an
 * emptyDir; the etcd container runs `etcd --config-file` on it (the official image has no shell,
 * and etcd ignores flags once given a config file). A sidecar (`member-init --promote`, an init
 * container with restartPolicy Always) promotes a learner once it has caught up. No preStop hook
 * removes members: a pod that stops keeps its identity.
 */
import type { Spec } from '../../config/spec.js';
import { agentImage, STEWARD_CONTAINER_SECURITY, stewardPodParts } from './render-agent.js';
import { AGENT_PATHS, ETCD_PATHS, ETCD_UID } from './render-images.js';
import { restoreIdentityParts } from './render-identity.js';
import { kubernetesSettings, POD_NAMESPACE_ENV, type ClusterNames } from './render-types.js';

/** Where the init step writes etcd's config file, in the pod's `bootstrap` emptyDir. */
export const BOOTSTRAP_PATHS = {
  dir: '/run/etcd-steward',
  etcdConfig: '/run/etcd-steward/etcd.yaml',
} as const;

/** A restore pinned at render time: one backup by name, its SHA-256, and where it is stored. */
export interface PinnedRestore {
  readonly backup: string;
  readonly sha256: string;
  readonly storage: string;
}

export interface BootstrapOptions {
  /** Whose spec ConfigMap (connection settings, backup storage) the init step reads. */
  readonly configFrom: ClusterNames;
  readonly restore?: PinnedRestore | undefined;
}

/** The init containers, the pod volumes they add, and the etcd container's command. */
export interface BootstrapParts {
  readonly initContainers: Record<string, unknown>[];
  readonly volumes: Record<string, unknown>[];
  readonly etcdArgs: string[];
  readonly etcdMount: Record<string, unknown>;
}

/** The client URLs the init step looks for the cluster at: every initial member and the client Service. */
export function bootstrapEndpoints(names: ClusterNames): string[] {
  const scheme = names.clientTls ? 'https' : 'http';
  return [
    ...names.clientUrls(),
    `${scheme}://${names.client}.${names.hostNamespace}.svc.${names.clusterDomain}:2379`,
  ];
}

/** The init step and the promote sidecar for members started with `etcdFlags`. */
export function renderBootstrap(
  spec: Spec,
  names: ClusterNames,
  etcdFlags: readonly string[],
  options: BootstrapOptions,
): BootstrapParts {
  const k = kubernetesSettings(spec);
  const parts = stewardPodParts(spec, options.configFrom, { config: true, token: false });
  const common = ['--config', AGENT_PATHS.configFile, '--endpoints', bootstrapEndpoints(names).join(',')];
  const restore = options.restore
    ? [
        '--restore',
        options.restore.backup,
        '--restore-sha256',
        options.restore.sha256,
        '--storage',
        options.restore.storage,
        '--etcdutl',
        AGENT_PATHS.etcdutl,
      ]
    : [];
  const peerUrl = etcdFlags.find((f) => f.startsWith('--initial-advertise-peer-urls=')) ?? '';
  const container = (
    name: string,
    args: string[],
    mounts: Record<string, unknown>[],
    sharedMounts = parts.mounts,
    extraEnv: readonly Record<string, unknown>[] = [],
  ) => ({
    name,
    image: agentImage(spec),
    imagePullPolicy: k.imagePullPolicy,
    args,
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      POD_NAMESPACE_ENV,
      ...parts.env,
      ...extraEnv,
    ],
    ...(parts.envFrom.length > 0 ? { envFrom: parts.envFrom } : {}),
    // Runs as etcd's user, so the data dir and config it writes belong to the member that opens them.
    securityContext: { ...STEWARD_CONTAINER_SECURITY, runAsUser: ETCD_UID, runAsGroup: ETCD_UID },
    volumeMounts: [...mounts, ...sharedMounts],
  });
  // Encrypted backups: the identity Secret, in the init step of a restore only.
  const identity = options.restore ? restoreIdentityParts(spec) : { env: [], mounts: [], volumes: [] };
  const init = container(
    'member-init',
    ['member-init', ...common, '--write-config', BOOTSTRAP_PATHS.etcdConfig, ...restore, '--', ...etcdFlags],
    [
      { name: 'data', mountPath: ETCD_PATHS.volume },
      { name: 'bootstrap', mountPath: BOOTSTRAP_PATHS.dir },
      ...identity.mounts,
    ],
    parts.mounts,
    identity.env,
  );
  const promote = {
    ...container(
      'promote',
      ['member-init', '--promote', ...common, '--', '--name=$(POD_NAME)', peerUrl],
      [],
      // It reads no backups.
      parts.mounts.filter((m) => m['name'] !== 'backups'),
    ),
    // A native sidecar (Kubernetes 1.29+): runs beside etcd for the pod's life.
    restartPolicy: 'Always',
  };
  return {
    initContainers: [init, promote],
    volumes: [...parts.volumes, ...identity.volumes, { name: 'bootstrap', emptyDir: {} }],
    etcdArgs: [`--config-file=${BOOTSTRAP_PATHS.etcdConfig}`],
    etcdMount: { name: 'bootstrap', mountPath: BOOTSTRAP_PATHS.dir, readOnly: true },
  };
}
