/**
 * The Kubernetes runtime behind the ClusterRuntime seam: the members are the pods of the
 * StatefulSet `render kubernetes` emits. Inside the cluster (KUBERNETES_SERVICE_HOST is set) a
 * member is reached through its headless Service DNS name, as the agent and GreptimeDB reach it.
 * From a laptop it is reached through the API server: a listener on 127.0.0.1 per member whose
 * connections are port-forwarded to the member pod's client port, as `kubectl port-forward` does;
 * `close` ends them. Pods are run by the StatefulSet controller, so starting and stopping one
 * member here are refused with the way to do it instead; changing one member's image is done by
 * the template and that member's pod alone (member-image.ts).
 */
import net from 'node:net';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { CoreV1Api, PortForward, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Spec } from '../../config/spec.js';
import { StewardError } from '../../errors.js';
import type { MembershipHost } from '../membership-host.js';
import {
  RuntimeUnsupportedError,
  type ClusterRuntime,
  type MemberBootstrap,
  type MemberDataLocation,
  type MemberStopResult,
  type MemberVersion,
  type RuntimeCallOptions,
  type RuntimeMember,
} from '../runtime.js';
import { apiError, loadKubeConfig, objectApi, statusOf, type KubeTarget } from './kube-client.js';
import { setTemplateImage, waitForMemberPod } from './member-image.js';
import { ETCD_PATHS, etcdImageForLine } from './render-images.js';
import { clusterNames, type ClusterNames } from './render-types.js';

const CLIENT_PORT = 2379;
/** A pulled image and an etcd that replays its WAL: minutes on a slow node, not hours. */
const MEMBER_TIMEOUT_MS = 10 * 60_000;

export interface KubernetesRuntimeOptions extends KubeTarget {
  /** Reach members by their Service DNS names (default: when KUBERNETES_SERVICE_HOST is set). */
  readonly inCluster?: boolean;
  /** How long changeMemberVersion waits for the member's new pod to be Ready (default 10 minutes). */
  readonly memberTimeoutMs?: number;
}

/** One member pod as the API server reports it. */
export interface MemberPod {
  readonly name: string;
  readonly phase: string;
  /** The node it was scheduled on; undefined while Pending. */
  readonly node: string | undefined;
}

/** What the API server knows of the cluster: its headless Service and its member pods. */
export interface KubernetesDiscovery {
  readonly namespace: string;
  readonly headlessService: string;
  readonly pods: readonly MemberPod[];
}

/** The ClusterRuntime of a `runtime: kubernetes` spec. */
export class KubernetesRuntime implements ClusterRuntime {
  readonly kind = 'kubernetes' as const;
  readonly spec: Spec;
  readonly recordsDir = undefined;
  readonly names: ClusterNames;
  private readonly options: KubernetesRuntimeOptions;
  private readonly inCluster: boolean;
  private readonly listeners: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();
  private forwarded: RuntimeMember[] | undefined;

  constructor(spec: Spec, options: KubernetesRuntimeOptions = {}) {
    this.spec = spec;
    this.options = options;
    this.names = clusterNames(spec);
    this.inCluster = options.inCluster ?? Boolean(process.env['KUBERNETES_SERVICE_HOST']);
  }

  /**
   * In the cluster: every member's headless Service DNS name. From a laptop: one loopback
   * listener per member pod, forwarded through the API server (opened once, reused).
   */
  async members(): Promise<RuntimeMember[]> {
    if (this.inCluster) {
      return this.names.memberNames().map((name) => ({ name, endpoint: this.names.clientUrl(name) }));
    }
    this.forwarded ??= await this.forwardAll();
    return this.forwarded;
  }

  /** The headless Service and the member pods, read through the API server. */
  async discover(): Promise<KubernetesDiscovery> {
    const { kc, server } = this.kube();
    const core = kc.makeApiClient(CoreV1Api);
    const namespace = this.names.namespace;
    const headlessService = this.names.headless;
    try {
      await core.readNamespacedService({ name: headlessService, namespace });
    } catch (error) {
      if (statusOf(error) === 404) {
        throw new StewardError(
          `cluster '${this.spec.name}' is not on ${server}: no Service ${namespace}/${headlessService}`,
          {
            hint: 'apply it first (`etcd-steward apply`, or `etcd-steward render kubernetes | kubectl apply -f -`), or check kubernetes.namespace and --context',
          },
        );
      }
      throw apiError(error, `reading Service ${namespace}/${headlessService}`, server);
    }
    let items: V1Pod[];
    try {
      const selector = Object.entries(this.names.selector())
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      items = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
    } catch (error) {
      throw apiError(error, `listing the pods of ${namespace}/${this.spec.name}`, server);
    }
    const pods = items
      .map((p) => ({
        name: p.metadata?.name ?? '',
        phase: p.status?.phase ?? 'Unknown',
        node: p.spec?.nodeName ?? undefined,
      }))
      .filter((p) => this.names.memberNames().includes(p.name))
      .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
    return { namespace, headlessService, pods };
  }

  startMember(name: string): Promise<void> {
    return Promise.reject(
      new RuntimeUnsupportedError(
        'kubernetes',
        `start member ${name}`,
        `the StatefulSet ${this.names.namespace}/${this.names.name} starts its pods; scale it (etcd-steward apply) or check why pod ${name} is not running (kubectl describe pod ${name} -n ${this.names.namespace})`,
      ),
    );
  }

  stopMember(name: string): Promise<MemberStopResult> {
    return Promise.reject(
      new RuntimeUnsupportedError(
        'kubernetes',
        `stop member ${name}`,
        `the StatefulSet ${this.names.namespace}/${this.names.name} restarts a deleted pod at once; to restart it: kubectl delete pod ${name} -n ${this.names.namespace}`,
      ),
    );
  }

  memberData(name: string): Promise<MemberDataLocation> {
    this.requireMember(name);
    // The volumeClaimTemplate is called `data`: the StatefulSet names its claims data-POD.
    const claim = `data-${name}`;
    return Promise.resolve({
      kind: 'volume',
      namespace: this.names.namespace,
      claim,
      path: ETCD_PATHS.dataDir,
    });
  }

  /** A member restored from a snapshot: the membership `render --restore` pods restore with. */
  memberBootstrap(name: string): Promise<MemberBootstrap> {
    this.requireMember(name);
    return Promise.resolve({
      name,
      dataDir: ETCD_PATHS.dataDir,
      initialCluster: this.names.initialCluster(),
      initialClusterToken: this.names.restoredToken(),
      initialAdvertisePeerUrls: this.names.peerUrl(name),
    });
  }

  /**
   * Moves one member to the image of `version.line` (etcdImageForLine), the others untouched: the
   * StatefulSet's pod template gets the new image (its OnDelete strategy rolls no pod; one still
   * on RollingUpdate is switched in the same patch), then exactly this member's pod is deleted and
   * its replacement awaited until it runs the new image and is Ready. The engine's own gates
   * (healthy, caught up, no alarm) come after.
   */
  async changeMemberVersion(
    name: string,
    version: MemberVersion,
    options: RuntimeCallOptions = {},
  ): Promise<void> {
    this.requireMember(name);
    const image = etcdImageForLine(this.spec, version.line);
    const { kc, server } = this.kube();
    const namespace = this.names.namespace;
    const core = kc.makeApiClient(CoreV1Api);
    await setTemplateImage(objectApi(kc), this.names, image, server);
    const podPath = `pod ${namespace}/${name}`;
    let old: V1Pod | undefined;
    try {
      old = await core.readNamespacedPod({ name, namespace });
      await core.deleteNamespacedPod({ name, namespace });
    } catch (error) {
      if (statusOf(error) !== 404) throw apiError(error, `deleting ${podPath}`, server);
    }
    await waitForMemberPod(core, {
      namespace,
      name,
      image,
      oldUid: old?.metadata?.uid,
      timeoutMs: this.options.memberTimeoutMs ?? MEMBER_TIMEOUT_MS,
      signal: options.signal,
      server,
    });
  }

  membership(): MembershipHost {
    throw new RuntimeUnsupportedError(
      'kubernetes',
      'change membership (member add/remove/replace, scaling) itself',
      `membership on Kubernetes is not automated yet: run etcdctl member add (as a learner) or member remove against the cluster, then scale the StatefulSet ${this.names.namespace}/${this.names.name} to match`,
    );
  }

  /** Closes the loopback listeners and every forwarded connection. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await Promise.all(
      this.listeners.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
    this.forwarded = undefined;
  }

  private kube(): { kc: KubeConfig; server: string } {
    const kc = loadKubeConfig(this.options);
    return { kc, server: kc.getCurrentCluster()?.server ?? 'the API server' };
  }

  private requireMember(name: string): void {
    if (!this.names.memberNames().includes(name)) {
      throw new StewardError(`cluster '${this.spec.name}' has no member '${name}'`, {
        hint: `its members are ${this.names.memberNames().join(', ')}`,
        exitCode: 2,
      });
    }
  }

  /**
   * Tries one port-forward per member pod, then opens a loopback listener per pod that
   * answered. A member whose forward fails is named with the reason; when none answers, throws.
   */
  private async forwardAll(): Promise<RuntimeMember[]> {
    const { kc, server } = this.kube();
    const found = await this.discover();
    const namespace = found.namespace;
    const where = `namespace ${namespace} of ${server}`;
    if (found.pods.length === 0) {
      throw new StewardError(`cluster '${this.spec.name}' has no member pods in ${where}`, {
        hint: `the StatefulSet ${this.names.name} has created no pods yet; check it with kubectl get statefulset ${this.names.name} -n ${namespace}`,
      });
    }
    const forward = new PortForward(kc, true);
    const problems: string[] = [];
    const reachable: MemberPod[] = [];
    for (const pod of found.pods) {
      const problem = await probe(forward, namespace, pod);
      if (problem) problems.push(problem);
      else reachable.push(pod);
    }
    if (reachable.length === 0) {
      throw new StewardError(
        `cannot reach any member of '${this.spec.name}' through the API server ${server}:\n    ${problems.join('\n    ')}`,
        {
          hint: 'a port-forward goes API server → the kubelet of the pod’s node → the pod; run this inside the cluster (the agent does), or check the pods and nodes (kubectl get pods -o wide)',
        },
      );
    }
    const scheme = this.names.clientTls ? 'https' : 'http';
    const members: RuntimeMember[] = [];
    for (const pod of reachable) {
      const port = await this.listen(forward, namespace, pod.name);
      members.push({ name: pod.name, endpoint: `${scheme}://127.0.0.1:${port}` });
    }
    return members;
  }

  /** A loopback listener whose every connection is forwarded to the pod's client port. */
  private async listen(forward: PortForward, namespace: string, pod: string): Promise<number> {
    const server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      openForward(forward, namespace, pod, socket, socket).then(
        (ws) => {
          socket.once('close', () => ws?.close());
          ws?.once('close', () => socket.end());
        },
        (error: unknown) => socket.destroy(error instanceof Error ? error : new Error(String(error))),
      );
    });
    this.listeners.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  }
}

/** Opens and closes one port-forward to the pod; the reason when it cannot, else undefined. */
async function probe(forward: PortForward, namespace: string, pod: MemberPod): Promise<string | undefined> {
  if (pod.node === undefined)
    return `pod ${pod.name} is ${pod.phase} and not on any node yet: nothing to forward to`;
  if (pod.phase !== 'Running') return `pod ${pod.name} is ${pod.phase} (on node ${pod.node}), not Running`;
  try {
    (await openForward(forward, namespace, pod.name, new PassThrough(), new PassThrough()))?.close();
    return undefined;
  } catch (error) {
    const message =
      error instanceof Error ? error.message : String((error as { message?: unknown }).message ?? error);
    return `port-forward to pod ${pod.name} failed (${message}): the API server reaches a pod through the kubelet of its node ${pod.node}, and none answered`;
  }
}

/** The part of the forwarding WebSocket we use (the library's type comes from isomorphic-ws). */
interface ForwardSocket {
  close(): void;
  once(event: 'close', listener: () => void): unknown;
}

/** One port-forward stream to the pod's client port: `output` gets what the pod sends. */
async function openForward(
  forward: PortForward,
  namespace: string,
  pod: string,
  output: Writable,
  input: Readable,
): Promise<ForwardSocket | null> {
  const ws = (await forward.portForward(namespace, pod, [CLIENT_PORT], output, null, input)) as unknown as
    ForwardSocket | (() => ForwardSocket | null);
  return typeof ws === 'function' ? ws() : ws;
}
