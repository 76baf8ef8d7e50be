/**
 * The etcd image of a cluster on Kubernetes, one member at a time: the StatefulSet (OnDelete)
 * carries the image its next recreated pod gets, etcd-steward deletes one member's pod and waits
 * for its replacement, and `apply` keeps the live image so that a new etcd version in the spec
 * never rolls members by itself (`etcd-steward upgrade --to VERSION` does, with its checks).
 */
import { PatchStrategy, type CoreV1Api, type KubernetesObjectApi, type V1Pod } from '@kubernetes/client-node';
import { StewardError } from '../../errors.js';
import { apiError, describeObject, readLive, statusOf, type KubeObject } from './kube-client.js';
import type { ClusterNames } from './render-types.js';

/** The name of the etcd container in the member pods. */
export const ETCD_CONTAINER = 'etcd';

interface StatefulSetFields {
  spec?: {
    updateStrategy?: { type?: string };
    template?: { spec?: { containers?: { name: string; image?: string }[] } };
  };
}

/** The etcd container's image in a StatefulSet's pod template; undefined when it has none. */
export function templateImage(statefulSet: KubeObject): string | undefined {
  const containers = (statefulSet as StatefulSetFields).spec?.template?.spec?.containers ?? [];
  return containers.find((c) => c.name === ETCD_CONTAINER)?.image;
}

/**
 * `desired` (the rendered StatefulSet) with the etcd image of `live`, and the two images when
 * they differ (so the caller can say why the spec's image was not applied).
 */
export function keepLiveImage(
  desired: KubeObject,
  live: KubeObject | undefined,
): { object: KubeObject; kept?: { live: string; wanted: string } } {
  const liveImage = live ? templateImage(live) : undefined;
  const wanted = templateImage(desired);
  if (liveImage === undefined || wanted === undefined || liveImage === wanted) return { object: desired };
  const object = structuredClone(desired) as KubeObject & StatefulSetFields;
  for (const c of object.spec?.template?.spec?.containers ?? [])
    if (c.name === ETCD_CONTAINER) c.image = liveImage;
  return { object, kept: { live: liveImage, wanted } };
}

/**
 * Sets the etcd image of the cluster's StatefulSet template (and OnDelete, for a StatefulSet
 * applied before etcd-steward chose it: RollingUpdate would roll every member at once). No pod
 * changes: only deleted pods come back on the new template.
 */
export async function setTemplateImage(
  api: KubernetesObjectApi,
  names: ClusterNames,
  image: string,
  server: string,
): Promise<void> {
  const ref: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: names.name, namespace: names.namespace },
  };
  const live = await readLive(api, ref, server);
  if (!live) {
    throw new StewardError(`cluster '${names.name}' has no ${describeObject(ref)} on ${server}`, {
      hint: 'apply it first (etcd-steward apply), or check kubernetes.namespace and --context',
    });
  }
  const strategy = (live as StatefulSetFields).spec?.updateStrategy?.type;
  if (templateImage(live) === image && strategy === 'OnDelete') return;
  const patch = {
    ...ref,
    spec: {
      updateStrategy: { type: 'OnDelete', rollingUpdate: null },
      template: { spec: { containers: [{ name: ETCD_CONTAINER, image }] } },
    },
  };
  try {
    await api.patch(
      patch,
      undefined,
      undefined,
      'etcd-steward',
      undefined,
      PatchStrategy.StrategicMergePatch,
    );
  } catch (error) {
    throw apiError(error, `setting the etcd image of ${describeObject(ref)} to ${image}`, server);
  }
}

export interface MemberPodWait {
  readonly namespace: string;
  readonly name: string;
  readonly image: string;
  /** The pod that was deleted: until it is gone, the member has not come back. */
  readonly oldUid: string | undefined;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly server: string;
}

/** Where a member's pod stands, in words; `done` once it runs `image` and is Ready. */
function podState(pod: V1Pod | undefined, wait: MemberPodWait): { done: boolean; words: string } {
  if (!pod) return { done: false, words: 'not recreated yet (the StatefulSet controller creates it)' };
  if (pod.metadata?.uid === wait.oldUid)
    return {
      done: false,
      words: pod.metadata?.deletionTimestamp
        ? 'the old pod is still terminating'
        : 'the old pod is still there',
    };
  const image = pod.spec?.containers.find((c) => c.name === ETCD_CONTAINER)?.image;
  if (image !== wait.image) return { done: false, words: `recreated on ${image ?? 'no etcd container'}` };
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  if (ready) return { done: true, words: `Ready on ${image}` };
  return { done: false, words: `${pod.status?.phase ?? 'Pending'} on ${image}, not Ready` };
}

/**
 * Waits until the member's pod is a new one (not `oldUid`), runs `image` and is Ready. A new pod
 * on another image was made from the template before the controller saw the new one: it is
 * deleted again. Times out with the pod's last state and the way on.
 */
export async function waitForMemberPod(core: CoreV1Api, wait: MemberPodWait): Promise<void> {
  const { namespace, name } = wait;
  const deadline = Date.now() + wait.timeoutMs;
  let words: string;
  for (;;) {
    wait.signal?.throwIfAborted();
    let pod: V1Pod | undefined;
    try {
      pod = await core.readNamespacedPod({ name, namespace });
    } catch (error) {
      if (statusOf(error) !== 404) throw apiError(error, `reading pod ${namespace}/${name}`, wait.server);
    }
    const state = podState(pod, wait);
    words = state.words;
    if (state.done) return;
    const stale = pod && pod.metadata?.uid !== wait.oldUid && !pod.metadata?.deletionTimestamp;
    if (stale && words.startsWith('recreated on')) {
      await core.deleteNamespacedPod({ name, namespace }).catch((error: unknown) => {
        if (statusOf(error) !== 404) throw apiError(error, `deleting pod ${namespace}/${name}`, wait.server);
      });
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, Math.max(0, deadline - Date.now()))));
  }
  throw new StewardError(
    `pod ${namespace}/${name} did not come back Ready on ${wait.image} within ${Math.round(wait.timeoutMs / 1000)} s: ${words}`,
    {
      hint: `see why: kubectl describe pod ${name} -n ${namespace} (image pull, scheduling, etcd's log: kubectl logs ${name} -n ${namespace}); the other members keep their image, and etcd-steward upgrade --to the old version puts this one back`,
    },
  );
}
