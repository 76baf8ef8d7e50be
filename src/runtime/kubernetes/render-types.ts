/**
 * The plain objects `render kubernetes` produces and the names every rendered object shares
 * (labels, Service names, member DNS names), so the etcd, agent, monitoring and restore parts
 * agree on them.
 */
import type { Spec } from '../../config/spec.js';
import { InputError } from '../../errors.js';

/** A Kubernetes object as plain data (apiVersion, kind, metadata and the rest). */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

/** The spec's `kubernetes` block with its defaults (a spec without one renders with the defaults). */
export type KubernetesSettings = NonNullable<Spec['kubernetes']>;

/** The cluster's Kubernetes settings, defaults filled in when the spec has no `kubernetes` block. */
export function kubernetesSettings(spec: Spec): KubernetesSettings {
  return (
    spec.kubernetes ?? {
      namespace: 'default',
      clusterDomain: 'cluster.local',
      zoneSpread: 'soft',
      serviceAccountAnnotations: {},
      networkPolicy: { enabled: true, clientNamespaces: [], metricsNamespaces: [] },
      imagePullPolicy: 'IfNotPresent',
      imagePullSecrets: [],
      storageSize: 8 * 2 ** 30,
      podAntiAffinity: 'soft',
      topologyKey: 'kubernetes.io/hostname',
      tolerations: [],
      nodeSelector: {},
      serviceType: 'ClusterIP',
      labels: {},
      schedules: 'agent',
      cronJobs: {
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 1,
        activeDeadlineSeconds: 3600,
        startingDeadlineSeconds: 300,
      },
      monitoring: { enabled: true, labels: {}, interval: '30s', dashboard: true },
    }
  );
}

/**
 * How a pod names its own namespace in its arguments: the kubelet expands `$(POD_NAMESPACE)` from
 * the env variable POD_NAMESPACE_ENV gives, so manifests moved to another namespace (a kustomize
 * overlay) still name the right members.
 */
export const POD_NAMESPACE_REF = '$(POD_NAMESPACE)';
/** The env variable behind POD_NAMESPACE_REF (the downward API's metadata.namespace). */
export const POD_NAMESPACE_ENV = {
  name: 'POD_NAMESPACE',
  valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
} as const;

/** Names of one etcd cluster's objects: StatefulSet `NAME`, Services `NAME` and `NAME-headless`. */
export class ClusterNames {
  /**
   * @param hostNamespace the namespace as written into member DNS names: the real one for a
   *   client outside the pods, POD_NAMESPACE_REF inside rendered pod arguments.
   */
  constructor(
    readonly name: string,
    readonly namespace: string,
    readonly members: number,
    readonly clientTls: boolean,
    readonly peerTls: boolean,
    readonly clusterDomain = 'cluster.local',
    readonly hostNamespace = namespace,
  ) {}

  /** The same names as a client outside the pods writes them (the real namespace in DNS names). */
  outside(): ClusterNames {
    const { name, namespace, members, clientTls, peerTls, clusterDomain } = this;
    return new ClusterNames(name, namespace, members, clientTls, peerTls, clusterDomain);
  }
  get headless(): string {
    return `${this.name}-headless`;
  }
  get client(): string {
    return this.name;
  }
  get agent(): string {
    return `${this.name}-steward`;
  }
  /** The ServiceAccount of the CronJobs and the auth Job: no rights in the API at all. */
  get jobs(): string {
    return `${this.name}-steward-jobs`;
  }
  memberName(index: number): string {
    return `${this.name}-${index}`;
  }
  memberHost(member: string): string {
    return `${member}.${this.headless}.${this.hostNamespace}.svc.${this.clusterDomain}`;
  }
  peerUrl(member: string): string {
    return `${this.peerTls ? 'https' : 'http'}://${this.memberHost(member)}:2380`;
  }
  clientUrl(member: string): string {
    return `${this.clientTls ? 'https' : 'http'}://${this.memberHost(member)}:2379`;
  }
  /** `etcd-0=http://etcd-0.etcd-headless.ns.svc.cluster.local:2380,…` */
  initialCluster(): string {
    return this.memberNames()
      .map((m) => `${m}=${this.peerUrl(m)}`)
      .join(',');
  }
  memberNames(): string[] {
    return Array.from({ length: this.members }, (_, i) => this.memberName(i));
  }
  /** Every member's client URL: what the agent, CronJobs and GreptimeDB use. */
  clientUrls(): string[] {
    return this.memberNames().map((m) => this.clientUrl(m));
  }
  /**
   * Every member's client URL relative to the namespace (`http://etcd-0.etcd-headless:2379`): what
   * a pod in the same namespace resolves through its DNS search path, whatever the namespace is.
   */
  relativeClientUrls(): string[] {
    const scheme = this.clientTls ? 'https' : 'http';
    return this.memberNames().map((m) => `${scheme}://${m}.${this.headless}:2379`);
  }
  /** The client Service's address, as GreptimeDB's metasrv wants it (host:port). */
  serviceAddress(): string {
    return `${this.client}.${this.namespace}.svc.${this.clusterDomain}:2379`;
  }
  /** The initial cluster token of a cluster created by `apply`. */
  token(): string {
    return `${this.name}-${this.hostNamespace}`;
  }
  /** The initial cluster token of a cluster built from a snapshot (a new identity). */
  restoredToken(): string {
    return `${this.token()}-restored`;
  }
  /** Labels that select this cluster's etcd pods. */
  selector(): Record<string, string> {
    return { 'app.kubernetes.io/name': 'etcd', 'app.kubernetes.io/instance': this.name };
  }
  agentSelector(): Record<string, string> {
    return { 'app.kubernetes.io/name': 'etcd-steward', 'app.kubernetes.io/instance': this.name };
  }
}

/** The names of the spec's cluster, as a client outside its pods reaches it. */
export function clusterNames(spec: Spec, name = spec.name): ClusterNames {
  const k = kubernetesSettings(spec);
  return new ClusterNames(
    name,
    k.namespace,
    spec.members,
    k.tls?.clientSecret !== undefined,
    k.tls?.peerSecret !== undefined,
    k.clusterDomain,
  );
}

/** The names of the spec's cluster as rendered pods write them: DNS names through POD_NAMESPACE_REF. */
export function podClusterNames(spec: Spec, name = spec.name): ClusterNames {
  const n = clusterNames(spec, name);
  return new ClusterNames(
    n.name,
    n.namespace,
    n.members,
    n.clientTls,
    n.peerTls,
    n.clusterDomain,
    POD_NAMESPACE_REF,
  );
}

/** Labels every object of the cluster carries. */
export function commonLabels(spec: Spec, component: string, name = spec.name): Record<string, string> {
  return {
    'app.kubernetes.io/instance': name,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': 'etcd-steward',
    'app.kubernetes.io/managed-by': 'etcd-steward',
    ...kubernetesSettings(spec).labels,
  };
}

/** A spec that cannot run on Kubernetes as written: says which field and how to fix it. */
export function kubeInputError(message: string, hint: string): InputError {
  return new InputError(message, { hint });
}

/** A byte count as a Kubernetes quantity: `8Gi`, `512Mi`, or plain bytes. */
export function quantity(bytes: number): string {
  if (bytes % 2 ** 30 === 0) return `${bytes / 2 ** 30}Gi`;
  if (bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20}Mi`;
  return String(bytes);
}
