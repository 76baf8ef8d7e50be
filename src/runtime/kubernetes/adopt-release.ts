/**
 * A running Bitnami etcd release, read (never written) through the Kubernetes API: its
 * StatefulSet, Services and root password Secret, the chart values its StatefulSet implies, every
 * object that carries the release's label (what `helm uninstall` and kubectl have to remove once
 * the data has moved), and a way to reach its members (Service DNS inside the cluster, a
 * port-forward per pod from a laptop).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubernetesObjectApi } from '@kubernetes/client-node';
import type { Spec } from '../../config/spec.js';
import { InputError, StewardError } from '../../errors.js';
import {
  apiError,
  loadKubeConfig,
  objectApi,
  readLive,
  statusOf,
  type KubeObject,
  type KubeTarget,
} from './kube-client.js';
import { ClusterNames } from './render-types.js';
import { KubernetesRuntime, type KubernetesRuntimeOptions } from './runtime.js';

const INSTANCE = 'app.kubernetes.io/instance';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** `RELEASE` or `RELEASE.NAMESPACE` (namespace default: `default`). */
export function parseReleaseRef(ref: string): { release: string; namespace: string } {
  const [release, namespace, ...rest] = ref.split('.');
  if (
    !release ||
    !DNS_LABEL.test(release) ||
    rest.length > 0 ||
    (namespace !== undefined && !DNS_LABEL.test(namespace))
  )
    throw new InputError(`'${ref}' is not a Helm release reference`, {
      hint: 'give RELEASE or RELEASE.NAMESPACE, as `helm list -A` shows them (e.g. etcd.etcd-cluster)',
    });
  return { release, namespace: namespace ?? 'default' };
}

/** One object of the release, as it was when read (the resourceVersion proves it untouched later). */
export interface ReleaseObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly resourceVersion: string | undefined;
}

/** The root password the chart's pods read, and where it lives. */
export interface ReleaseAuth {
  readonly secret: string;
  readonly key: string;
  /** Never printed, never put into a spec or a plan. */
  readonly password: string;
}

/** What the API server shows of a Bitnami etcd release. */
export interface BitnamiRelease {
  readonly release: string;
  readonly namespace: string;
  /** The chart's fullname: the StatefulSet's and client Service's name. */
  readonly fullname: string;
  readonly headlessService: string;
  readonly replicas: number;
  readonly image: string;
  readonly clientScheme: 'http' | 'https';
  readonly memberNames: readonly string[];
  /** Undefined when the release runs without authentication. */
  readonly auth: ReleaseAuth | undefined;
  /** Chart values the live StatefulSet implies (values files given by the user go on top). */
  readonly values: Record<string, unknown>;
  /** Every object labelled with the release (its pods aside), and Helm's own release Secrets. */
  readonly objects: readonly ReleaseObject[];
}

interface Container {
  name?: string;
  image?: string;
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  resources?: Record<string, unknown>;
}

interface StatefulSetFields {
  spec?: {
    replicas?: number;
    serviceName?: string;
    template?: { spec?: { containers?: Container[] } };
    volumeClaimTemplates?: { metadata?: { name?: string }; spec?: Record<string, unknown> }[];
  };
}

/** Kinds a Bitnami etcd release may create (its pods aside); kinds the server does not serve are skipped. */
const RELEASE_KINDS: readonly { apiVersion: string; kind: string }[] = [
  { apiVersion: 'apps/v1', kind: 'StatefulSet' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'v1', kind: 'Secret' },
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'ServiceAccount' },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
  { apiVersion: 'batch/v1', kind: 'CronJob' },
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor' },
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule' },
];

/** Reads the release; fails with the way to find it when its etcd StatefulSet is not there. */
export async function readBitnamiRelease(
  target: KubeTarget,
  release: string,
  namespace: string,
): Promise<BitnamiRelease> {
  const kc = loadKubeConfig(target);
  const server = kc.getCurrentCluster()?.server ?? '?';
  const api = objectApi(kc);
  const sets = (
    await listObjects(api, server, 'apps/v1', 'StatefulSet', namespace, `${INSTANCE}=${release}`)
  ).filter((o) => o.metadata.labels?.['app.kubernetes.io/name'] === 'etcd');
  const sts = sets[0];
  if (!sts || sets.length > 1)
    throw new InputError(
      sts
        ? `Helm release ${release} has ${sets.length} etcd StatefulSets in namespace ${namespace} (${sets.map((s) => s.metadata.name).join(', ')})`
        : `no etcd StatefulSet of Helm release ${release} in namespace ${namespace} on ${server}`,
      {
        hint: `find the release with \`helm list -A\` and its StatefulSet with \`kubectl -n ${namespace} get statefulset -l ${INSTANCE}=${release}\`; give RELEASE.NAMESPACE`,
      },
    );
  const fields = sts as unknown as StatefulSetFields;
  const container = fields.spec?.template?.spec?.containers?.find((c) => c.name === 'etcd') ??
    fields.spec?.template?.spec?.containers?.[0] ?? { name: 'etcd' };
  const env = new Map((container.env ?? []).map((e) => [e.name, e]));
  const replicas = fields.spec?.replicas ?? 1;
  const fullname = sts.metadata.name;
  const advertised = env.get('ETCD_ADVERTISE_CLIENT_URLS')?.value ?? '';
  const auth = await readAuth(api, server, namespace, env.get('ETCD_ROOT_PASSWORD')?.valueFrom?.secretKeyRef);

  const objects: ReleaseObject[] = [];
  for (const { apiVersion, kind } of RELEASE_KINDS) {
    for (const o of await listObjects(api, server, apiVersion, kind, namespace, `${INSTANCE}=${release}`))
      objects.push(releaseObject(o, apiVersion, kind));
  }
  for (const o of await listObjects(api, server, 'v1', 'Secret', namespace, `owner=helm,name=${release}`))
    objects.push(releaseObject(o, 'v1', 'Secret'));
  return {
    release,
    namespace,
    fullname,
    headlessService: fields.spec?.serviceName ?? `${fullname}-headless`,
    replicas,
    image: container.image ?? '',
    clientScheme: advertised.startsWith('https://') ? 'https' : 'http',
    memberNames: Array.from({ length: replicas }, (_, i) => `${fullname}-${i}`),
    auth,
    values: valuesFromStatefulSet(fields, container, auth !== undefined),
    objects,
  };
}

function releaseObject(o: KubeObject, apiVersion: string, kind: string): ReleaseObject {
  return { apiVersion, kind, name: o.metadata.name, resourceVersion: o.metadata.resourceVersion };
}

async function readAuth(
  api: KubernetesObjectApi,
  server: string,
  namespace: string,
  ref: { name: string; key: string } | undefined,
): Promise<ReleaseAuth | undefined> {
  if (!ref) return undefined;
  const secret = await readLive(
    api,
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: ref.name, namespace } },
    server,
  );
  const encoded = (secret?.['data'] as Record<string, string> | undefined)?.[ref.key];
  if (encoded === undefined)
    throw new StewardError(
      `the release's pods read the root password from Secret ${namespace}/${ref.name} key ${ref.key}, and ${secret ? 'that key is missing' : 'the Secret does not exist'}`,
      {
        hint: `check it with kubectl -n ${namespace} get secret ${ref.name} -o yaml (the chart's auth.rbac values)`,
      },
    );
  return { secret: ref.name, key: ref.key, password: Buffer.from(encoded, 'base64').toString('utf8') };
}

/** Settings the chart turns into ETCD_* variables, read back into values. */
const SETTING_ENV = [
  'ETCD_QUOTA_BACKEND_BYTES',
  'ETCD_ELECTION_TIMEOUT',
  'ETCD_HEARTBEAT_INTERVAL',
  'ETCD_SNAPSHOT_COUNT',
  'ETCD_MAX_REQUEST_BYTES',
];

/** The chart values a live StatefulSet implies: members, image, auth, volume, etcd settings. */
export function valuesFromStatefulSet(
  sts: StatefulSetFields,
  container: Container,
  auth: boolean,
): Record<string, unknown> {
  const env = new Map((container.env ?? []).map((e) => [e.name, e.value]));
  const values: Record<string, unknown> = { replicaCount: sts.spec?.replicas ?? 1 };
  const tag = /:([^:/@]+)(?:@.*)?$/.exec(container.image ?? '')?.[1];
  if (tag) values['image'] = { tag };
  values['auth'] = { rbac: { create: auth } };
  const claim = sts.spec?.volumeClaimTemplates?.find((t) => t.metadata?.name === 'data');
  const request = (claim?.spec?.['resources'] as { requests?: { storage?: string } } | undefined)?.requests
    ?.storage;
  if (request) values['persistence'] = { size: request };
  const storageClass = claim?.spec?.['storageClassName'];
  if (typeof storageClass === 'string')
    values['persistence'] = { ...(values['persistence'] as object), storageClass };
  if (container.resources && Object.keys(container.resources).length > 0)
    values['resources'] = container.resources;
  const mode = env.get('ETCD_AUTO_COMPACTION_MODE');
  const retention = env.get('ETCD_AUTO_COMPACTION_RETENTION');
  if (mode) values['autoCompactionMode'] = mode;
  if (retention) values['autoCompactionRetention'] = retention;
  const level = env.get('ETCD_LOG_LEVEL');
  if (level) values['logLevel'] = level;
  const extra = SETTING_ENV.flatMap((name) => {
    const value = env.get(name);
    return value === undefined ? [] : [{ name, value }];
  });
  if (extra.length > 0) values['extraEnvVars'] = extra;
  return values;
}

/**
 * Lists objects of one kind (namespace undefined: all namespaces); an empty list when the server
 * does not serve the kind (no CRD), and a short retry while a new CRD's storage initializes.
 */
export async function listObjects(
  api: KubernetesObjectApi,
  server: string,
  apiVersion: string,
  kind: string,
  namespace: string | undefined,
  labelSelector?: string,
): Promise<KubeObject[]> {
  // A kind whose CRD was just installed answers 429 "storage is (re)initializing" for a while.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const result = await api.list<KubeObject>(
        apiVersion,
        kind,
        namespace,
        undefined,
        undefined,
        undefined,
        undefined,
        labelSelector,
      );
      return result.items;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (
        statusOf(error) === 404 ||
        /Unrecognized API version and kind|Failed to fetch resource metadata/.test(message)
      )
        return [];
      if (statusOf(error) !== 429 || Date.now() > deadline)
        throw apiError(error, `listing ${kind} in ${namespace ?? 'all namespaces'}`, server);
      await sleep(1000);
    }
  }
}

/** The release's member client URLs by their headless Service DNS names (reachable inside the cluster). */
export function memberDnsUrls(release: BitnamiRelease, clusterDomain = 'cluster.local'): string[] {
  return release.memberNames.map(
    (m) =>
      `${release.clientScheme}://${m}.${release.headlessService}.${release.namespace}.svc.${clusterDomain}:2379`,
  );
}

/** The names of a Bitnami release as the port-forwarding runtime needs them (its pods are selected by release). */
class ReleaseNames extends ClusterNames {
  constructor(private readonly source: BitnamiRelease) {
    super(source.fullname, source.namespace, source.replicas, source.clientScheme === 'https', false);
  }
  override get headless(): string {
    return this.source.headlessService;
  }
  override selector(): Record<string, string> {
    return { 'app.kubernetes.io/name': 'etcd', [INSTANCE]: this.source.release };
  }
}

/**
 * The release's members reached from outside the cluster: one loopback listener per pod,
 * port-forwarded through the API server (the Kubernetes runtime's mechanism). `close` ends them.
 */
export class ReleaseMembers extends KubernetesRuntime {
  override readonly names: ClusterNames;
  constructor(spec: Spec, release: BitnamiRelease, options: KubernetesRuntimeOptions) {
    super(spec, { ...options, inCluster: false });
    this.names = new ReleaseNames(release);
  }
}

/** The commands that remove what is left of the release once nothing uses it. */
export function leftoverCommands(release: BitnamiRelease): string[] {
  const ns = `-n ${release.namespace}`;
  const helm = release.objects.some(
    (o) => o.kind === 'Secret' && o.name.startsWith(`sh.helm.release.v1.${release.release}.`),
  );
  const claims = release.objects.filter((o) => o.kind === 'PersistentVolumeClaim');
  const memberClaims = claims.filter(
    (c) => /^data-.+-\d+$/.test(c.name) && c.name.startsWith(`data-${release.fullname}-`),
  );
  const otherClaims = claims.filter((c) => !memberClaims.includes(c));
  const commands: string[] = [];
  if (helm) commands.push(`helm uninstall ${release.release} ${ns}`);
  else {
    const rest = release.objects.filter((o) => o.kind !== 'PersistentVolumeClaim');
    if (rest.length > 0)
      commands.push(`kubectl ${ns} delete ${rest.map((o) => `${o.kind.toLowerCase()}/${o.name}`).join(' ')}`);
  }
  // Helm never deletes the claims a StatefulSet made: the old members' data stays until removed.
  if (memberClaims.length > 0)
    commands.push(`kubectl ${ns} delete pvc ${memberClaims.map((c) => c.name).join(' ')}`);
  if (otherClaims.length > 0)
    commands.push(
      `kubectl ${ns} delete pvc ${otherClaims.map((c) => c.name).join(' ')}   # the chart's snapshot volume: only once you no longer need its old snapshots`,
    );
  return commands;
}
