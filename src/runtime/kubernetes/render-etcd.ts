/**
 * The etcd members on Kubernetes: a headless Service (peer DNS), a client Service, a StatefulSet
 * of the official etcd image whose pods decide how to start in an init step (render-bootstrap.ts),
 * and a PodDisruptionBudget that never lets a voluntary eviction break quorum.
 */
import { clientTlsFlags, etcdSettingsFlags, peerTlsFlags } from '../../config/etcd-flags.js';
import type { Spec } from '../../config/spec.js';
import { etcdPodPolicy } from './render-etcd-pod.js';
import { secretFiles } from './render-certs.js';
import { renderBootstrap, type PinnedRestore } from './render-bootstrap.js';
import {
  DEFAULT_ETCD_VERSIONS,
  ETCD_PATHS,
  ETCD_UID,
  etcdImage,
  etcdImageTagVersion,
} from './render-images.js';
import {
  commonLabels,
  kubernetesSettings,
  POD_NAMESPACE_ENV,
  quantity,
  type ClusterNames,
  type KubeObject,
} from './render-types.js';

/** Which health paths an etcd version serves: /livez and /readyz from 3.5.11 on, else /health. */
export function probePaths(version: string): { live: string; ready: string } {
  const [major = 0, minor = 0, patch = 0] = version.split('.').map((p) => Number.parseInt(p, 10));
  const modern = major > 3 || (major === 3 && (minor > 5 || (minor === 5 && patch >= 11)));
  return modern
    ? { live: '/livez', ready: '/readyz' }
    : { live: '/health?serializable=true', ready: '/health' };
}

/** The version in an image tag (`…/etcd:v3.6.16` → `3.6.16`), or the default of the spec's line. */
export function imageVersion(spec: Spec, image: string): string {
  return etcdImageTagVersion(image) ?? DEFAULT_ETCD_VERSIONS[spec.etcd.version];
}

/** What goes into a member's command line besides its name and URLs: the spec's etcd settings. */
export function etcdFlags(spec: Spec): string[] {
  return [...etcdSettingsFlags(spec), ...spec.etcd.extraArgs];
}

/** The headless Service (stable member DNS, published before pods are ready) and the client Service. */
export function renderServices(spec: Spec, names: ClusterNames): KubeObject[] {
  const k = kubernetesSettings(spec);
  const labels = { ...commonLabels(spec, 'etcd', names.name), 'app.kubernetes.io/name': 'etcd' };
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: names.headless, namespace: names.namespace, labels },
      spec: {
        clusterIP: 'None',
        // Members must find each other while bootstrapping, before any of them is ready.
        publishNotReadyAddresses: true,
        selector: names.selector(),
        ports: [
          { name: 'client', port: 2379, targetPort: 'client' },
          { name: 'peer', port: 2380, targetPort: 'peer' },
          { name: 'metrics', port: 2381, targetPort: 'metrics' },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: names.client, namespace: names.namespace, labels },
      spec: {
        type: k.serviceType,
        selector: names.selector(),
        ports: [{ name: 'client', port: 2379, targetPort: 'client' }],
      },
    },
  ];
}

export interface StatefulSetOptions {
  /** Token of the new cluster (static bootstrap); a restored cluster gets a fresh one. */
  readonly token: string;
  /** A restore pinned to one backup: members of the cluster being created restore it. */
  readonly restore?: PinnedRestore;
  /** Whose spec ConfigMap the init step reads (default: this cluster's). */
  readonly configFrom?: ClusterNames;
  /** Pod annotations. */
  readonly annotations?: Readonly<Record<string, string>>;
}

function affinity(spec: Spec, names: ClusterNames): Record<string, unknown> | undefined {
  const k = kubernetesSettings(spec);
  const term = { labelSelector: { matchLabels: names.selector() }, topologyKey: k.topologyKey };
  if (k.podAntiAffinity === 'none') return undefined;
  if (k.podAntiAffinity === 'hard') {
    return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
  }
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }],
    },
  };
}

/** The members: one StatefulSet, pods NAME-0…NAME-(n-1), each with its own volume. */
export function renderStatefulSet(spec: Spec, names: ClusterNames, options: StatefulSetOptions): KubeObject {
  const k = kubernetesSettings(spec);
  const image = etcdImage(spec);
  const probes = probePaths(imageVersion(spec, image));
  const clientScheme = names.clientTls ? 'https' : 'http';
  const peerScheme = names.peerTls ? 'https' : 'http';
  const host = names.memberHost('$(POD_NAME)');
  const args = [
    '--name=$(POD_NAME)',
    `--data-dir=${ETCD_PATHS.dataDir}`,
    `--listen-client-urls=${clientScheme}://0.0.0.0:2379`,
    `--advertise-client-urls=${clientScheme}://${host}:2379`,
    `--listen-peer-urls=${peerScheme}://0.0.0.0:2380`,
    `--initial-advertise-peer-urls=${peerScheme}://${host}:2380`,
    // The initial set; the init step decides initial-cluster-state (and the members of a join).
    `--initial-cluster=${names.initialCluster()}`,
    `--initial-cluster-token=${options.token}`,
    // Plain HTTP metrics and health on their own port: probes and Prometheus need no client certificate.
    '--listen-metrics-urls=http://0.0.0.0:2381',
    ...etcdFlags(spec),
  ];
  const volumeMounts: Record<string, unknown>[] = [{ name: 'data', mountPath: ETCD_PATHS.volume }];
  const volumes: Record<string, unknown>[] = [];
  if (k.tls?.clientSecret) {
    const dir = ETCD_PATHS.clientTls;
    args.push(...clientTlsFlags(secretFiles(dir, k.tls.clientCertAuth)));
    volumeMounts.push({ name: 'client-tls', mountPath: dir, readOnly: true });
    volumes.push({ name: 'client-tls', secret: { secretName: k.tls.clientSecret, defaultMode: 0o440 } });
  }
  if (k.tls?.peerSecret) {
    const dir = ETCD_PATHS.peerTls;
    args.push(...peerTlsFlags(secretFiles(dir, true)));
    volumeMounts.push({ name: 'peer-tls', mountPath: dir, readOnly: true });
    volumes.push({ name: 'peer-tls', secret: { secretName: k.tls.peerSecret, defaultMode: 0o440 } });
  }
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: 'metrics', scheme: 'HTTP' },
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold,
  });
  const labels = { ...commonLabels(spec, 'etcd', names.name), 'app.kubernetes.io/name': 'etcd' };
  const bootstrap = renderBootstrap(spec, names, args, {
    configFrom: options.configFrom ?? names,
    restore: options.restore,
  });
  volumeMounts.push(bootstrap.etcdMount);
  volumes.push(...bootstrap.volumes);
  const podSpec: Record<string, unknown> = {
    securityContext: {
      runAsNonRoot: true,
      runAsUser: ETCD_UID,
      runAsGroup: ETCD_UID,
      fsGroup: ETCD_UID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    initContainers: bootstrap.initContainers,
    containers: [
      {
        name: 'etcd',
        image,
        imagePullPolicy: k.imagePullPolicy,
        command: [ETCD_PATHS.binary],
        // Everything else is in the config file the init step wrote (the flags are its args).
        args: bootstrap.etcdArgs,
        env: [
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          POD_NAMESPACE_ENV,
        ],
        ports: [
          { name: 'client', containerPort: 2379 },
          { name: 'peer', containerPort: 2380 },
          { name: 'metrics', containerPort: 2381 },
        ],
        // /livez needs no leader, so a member waiting for its peers is not restarted; /readyz does.
        startupProbe: probe(probes.live, 10, 30),
        livenessProbe: probe(probes.live, 10, 8),
        readinessProbe: probe(probes.ready, 5, 3),
        ...(k.resources ? { resources: k.resources } : {}),
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        },
        volumeMounts,
      },
    ],
    ...(volumes.length > 0 ? { volumes } : {}),
    // A member gets time to hand over leadership and close its files.
    terminationGracePeriodSeconds: 30,
    ...etcdPodPolicy(spec, names),
  };
  const aff = affinity(spec, names);
  if (aff) podSpec['affinity'] = aff;
  if (k.tolerations.length > 0) podSpec['tolerations'] = k.tolerations;
  if (Object.keys(k.nodeSelector).length > 0) podSpec['nodeSelector'] = k.nodeSelector;
  if (k.imagePullSecrets.length > 0)
    podSpec['imagePullSecrets'] = k.imagePullSecrets.map((name) => ({ name }));
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: names.name, namespace: names.namespace, labels },
    spec: {
      serviceName: names.headless,
      replicas: names.members,
      // A new cluster starts only with every initial member (OrderedReady would wait for a quorum that cannot form).
      podManagementPolicy: 'Parallel',
      // Pods change only when etcd-steward deletes them, one member at a time, in the order it
      // picks (followers first, the leader last): `upgrade --to` (docs/kubernetes.md, "Upgrading").
      // A partition could only go from the highest ordinal down, wherever the leader is.
      updateStrategy: { type: 'OnDelete' },
      selector: { matchLabels: names.selector() },
      template: {
        metadata: { labels, ...(options.annotations ? { annotations: options.annotations } : {}) },
        spec: podSpec,
      },
      volumeClaimTemplates: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: 'data', labels: names.selector() },
          spec: {
            accessModes: ['ReadWriteOnce'],
            ...(k.storageClass ? { storageClassName: k.storageClass } : {}),
            resources: { requests: { storage: quantity(k.storageSize) } },
          },
        },
      ],
    },
  };
}

/** Voluntary evictions (drains, upgrades) never take down more members than quorum tolerates. */
export function renderDisruptionBudget(spec: Spec, names: ClusterNames): KubeObject {
  const quorum = Math.floor(names.members / 2) + 1;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: names.name,
      namespace: names.namespace,
      labels: { ...commonLabels(spec, 'etcd', names.name), 'app.kubernetes.io/name': 'etcd' },
    },
    spec: { maxUnavailable: names.members - quorum, selector: { matchLabels: names.selector() } },
  };
}

export { goDuration } from '../../config/etcd-flags.js';
