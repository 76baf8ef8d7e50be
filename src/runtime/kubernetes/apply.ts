/**
 * Sends objects to a Kubernetes API server with server-side apply (field manager
 * `etcd-steward`), as `kubectl apply --server-side` does, and optionally waits until the etcd
 * StatefulSet and the agent Deployment report ready.
 */
import { PatchStrategy, type KubernetesObjectApi } from '@kubernetes/client-node';
import { StewardError } from '../../errors.js';
import {
  apiError,
  describeObject,
  loadKubeConfig,
  objectApi,
  readLive,
  type KubeObject,
  type KubeTarget,
} from './kube-client.js';

export type { KubeObject } from './kube-client.js';

export const FIELD_MANAGER = 'etcd-steward';
const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const POLL_MS = 2000;

export interface ApplyOptions extends KubeTarget {
  /** 'server': the server validates and admits everything and stores nothing. */
  readonly dryRun?: 'server';
  /** Wait until every StatefulSet and Deployment sent is ready (not with dryRun). */
  readonly wait?: boolean;
  /** For the wait; default 10 minutes. */
  readonly timeoutMs?: number;
  readonly fieldManager?: string;
  /** Take over fields another field manager owns (kubectl's --force-conflicts). */
  readonly force?: boolean;
  /** Progress lines while waiting. */
  readonly onProgress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** What apply did to one object: `unchanged` when the server stored nothing new. */
export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

export interface AppliedObject {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string | undefined;
  readonly outcome: ApplyOutcome;
}

export interface ApplyResult {
  readonly server: string;
  readonly dryRun: boolean;
  /** Namespaces that did not exist and were created first (with dryRun: would be). */
  readonly namespacesCreated: readonly string[];
  readonly objects: readonly AppliedObject[];
  /** With wait: the workloads that became ready. */
  readonly ready: readonly string[];
}

/**
 * Applies `objects` in order (their namespaces first), reporting per object whether it was
 * created, changed or left as it was; refuses, before sending anything, a StatefulSet whose
 * volumeClaimTemplates differ from the live one (Kubernetes cannot change them in place).
 */
export async function applyObjects(
  objects: readonly KubeObject[],
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const kc = loadKubeConfig(options);
  const server = kc.getCurrentCluster()?.server ?? '?';
  const api = objectApi(kc);
  const dryRun = options.dryRun === 'server';

  // Everything that can be refused by us is checked before the first write.
  const live = new Map<KubeObject, KubeObject | undefined>();
  for (const o of objects) {
    const current = await readLive(api, o, server);
    if (current && o.kind === 'StatefulSet') checkVolumeClaimTemplates(o, current);
    live.set(o, current);
  }

  const namespacesCreated = await ensureNamespaces(api, objects, { dryRun, server, options });
  const applied: AppliedObject[] = [];
  for (const o of objects) {
    options.signal?.throwIfAborted();
    if (o.kind === 'Namespace' && namespacesCreated.includes(o.metadata.name)) {
      applied.push(row(o, 'created'));
      continue;
    }
    const before = live.get(o);
    const after = await serverSideApply(api, dryRunTarget(o, dryRun, namespacesCreated), {
      dryRun,
      server,
      options,
    });
    applied.push(row(o, outcomeOf(before, after, dryRun)));
  }

  const ready = options.wait && !dryRun ? await waitReady(api, objects, server, options) : [];
  return { server, dryRun, namespacesCreated, objects: applied, ready };
}

interface Call {
  readonly dryRun: boolean;
  readonly server: string;
  readonly options: ApplyOptions;
}

async function serverSideApply(api: KubernetesObjectApi, o: KubeObject, call: Call): Promise<KubeObject> {
  const { resourceVersion: _rv, ...metadata } = o.metadata;
  try {
    return await api.patch(
      { ...o, metadata },
      undefined,
      call.dryRun ? 'All' : undefined,
      call.options.fieldManager ?? FIELD_MANAGER,
      call.options.force ?? false,
      PatchStrategy.ServerSideApply,
    );
  } catch (error) {
    throw apiError(error, `applying ${describeObject(o)}`, call.server);
  }
}

/** Namespaces the objects live in that do not exist yet: created (or, dry run, checked) first. */
async function ensureNamespaces(
  api: KubernetesObjectApi,
  objects: readonly KubeObject[],
  call: Call,
): Promise<string[]> {
  const wanted = new Set<string>();
  for (const o of objects) {
    if (o.kind === 'Namespace') wanted.add(o.metadata.name);
    else if (o.metadata.namespace) wanted.add(o.metadata.namespace);
  }
  const created: string[] = [];
  for (const name of wanted) {
    const ns: KubeObject = objects.find((o) => o.kind === 'Namespace' && o.metadata.name === name) ?? {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name },
    };
    if (await readLive(api, ns, call.server)) continue;
    await serverSideApply(api, ns, call);
    created.push(name);
  }
  return created;
}

/**
 * A dry run cannot put objects into a namespace that it only pretended to create (the server
 * answers "namespace not found"), so those are validated in `default` instead: same schema,
 * same admission, nothing stored.
 */
function dryRunTarget(o: KubeObject, dryRun: boolean, missing: readonly string[]): KubeObject {
  const ns = o.metadata.namespace;
  if (!dryRun || !ns || !missing.includes(ns)) return o;
  return { ...o, metadata: { ...o.metadata, namespace: 'default' } };
}

function row(o: KubeObject, outcome: ApplyOutcome): AppliedObject {
  return { kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace, outcome };
}

/**
 * created when there was none; unchanged when the server kept the resourceVersion (it writes
 * nothing for an apply that changes nothing) or stored an object equal to the one before. The
 * second case is real: a PersistentVolumeClaim is written again on every apply (seen with
 * kube-apiserver 1.36, its protection finalizer is re-added by admission) and only the
 * resourceVersion moves. A dry run never stores, so there we always compare.
 */
function outcomeOf(before: KubeObject | undefined, after: KubeObject, dryRun: boolean): ApplyOutcome {
  if (!before) return 'created';
  if (!dryRun && before.metadata.resourceVersion === after.metadata.resourceVersion) return 'unchanged';
  return stable(comparable(before)) === stable(comparable(after)) ? 'unchanged' : 'configured';
}

function comparable(o: KubeObject): unknown {
  const { managedFields: _m, resourceVersion: _r, generation: _g, ...metadata } = o.metadata;
  return { ...o, metadata };
}

function stable(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

// --- StatefulSet volume claim templates -------------------------------------------------------

interface ClaimTemplate {
  metadata?: { name?: string };
  spec?: Record<string, unknown>;
}

function claimTemplates(o: KubeObject): ClaimTemplate[] {
  const spec = o['spec'] as { volumeClaimTemplates?: ClaimTemplate[] } | undefined;
  return spec?.volumeClaimTemplates ?? [];
}

/**
 * Kubernetes refuses any change to a StatefulSet's volumeClaimTemplates; say so in our words,
 * with the way out, before sending anything. Fields the server defaults (volumeMode, status) do
 * not count as changes, and quantities compare by value (1024Mi = 1Gi).
 */
export function checkVolumeClaimTemplates(desired: KubeObject, live: KubeObject): void {
  const want = claimTemplates(desired);
  const have = claimTemplates(live);
  const differences: string[] = [];
  const names = (ts: ClaimTemplate[]) => ts.map((t) => t.metadata?.name ?? '?');
  if (stable(names(want)) !== stable(names(have)))
    differences.push(`claim templates [${names(have).join(', ')}] → [${names(want).join(', ')}]`);
  else {
    want.forEach((t, i) => {
      const diff = firstDifference(t.spec ?? {}, have[i]?.spec ?? {}, `${t.metadata?.name ?? '?'}.spec`);
      if (diff) differences.push(diff);
    });
  }
  if (differences.length === 0) return;
  const ns = desired.metadata.namespace ? ` -n ${desired.metadata.namespace}` : '';
  throw new StewardError(
    `refusing to change the volumeClaimTemplates of ${describeObject(desired)}: ${differences.join('; ')} — Kubernetes cannot change a StatefulSet's volume claim templates in place`,
    {
      hint: `keep the live value in the spec; to change storage, resize each PVC (kubectl${ns} edit pvc) where the storage class allows expansion, or delete the StatefulSet with --cascade=orphan and apply again (the pods and their volumes stay)`,
    },
  );
}

/** The first place where `want` (what we send) is not what `have` (live) holds, or undefined. */
function firstDifference(want: unknown, have: unknown, at: string): string | undefined {
  if (want && typeof want === 'object' && !Array.isArray(want)) {
    if (!have || typeof have !== 'object' || Array.isArray(have))
      return `${at}: ${show(have)} → ${show(want)}`;
    for (const [key, value] of Object.entries(want)) {
      const d = firstDifference(value, (have as Record<string, unknown>)[key], `${at}.${key}`);
      if (d) return d;
    }
    return undefined;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(have) || have.length !== want.length) return `${at}: ${show(have)} → ${show(want)}`;
    for (let i = 0; i < want.length; i++) {
      const d = firstDifference(want[i], have[i], `${at}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (want === have) return undefined;
  if (typeof want === 'string' && typeof have === 'string' && sameQuantity(want, have)) return undefined;
  return `${at}: ${show(have)} → ${show(want)}`;
}

function show(v: unknown): string {
  return v === undefined ? '(none)' : JSON.stringify(v);
}

const QUANTITY_UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Whether two Kubernetes quantities (such as 1Gi and 1024Mi) are the same amount. */
function sameQuantity(a: string, b: string): boolean {
  const value = (q: string) => {
    const m = /^([0-9.]+)([A-Za-z]*)$/.exec(q);
    const unit = m ? QUANTITY_UNITS[m[2] as string] : undefined;
    return m && unit !== undefined ? Number(m[1]) * unit : undefined;
  };
  const x = value(a);
  return x !== undefined && x === value(b);
}

// --- waiting --------------------------------------------------------------------------------

interface WorkloadStatus {
  readonly name: string;
  readonly ready: boolean;
  readonly progress: string;
}

/** Polls every StatefulSet and Deployment among `objects` until all are ready, printing changes. */
async function waitReady(
  api: KubernetesObjectApi,
  objects: readonly KubeObject[],
  server: string,
  options: ApplyOptions,
): Promise<string[]> {
  const workloads = objects.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const last = new Map<string, string>();
  for (;;) {
    options.signal?.throwIfAborted();
    const states: WorkloadStatus[] = [];
    for (const o of workloads) {
      const current = await readLive(api, o, server);
      states.push(workloadStatus(o, current));
    }
    for (const s of states) {
      if (last.get(s.name) !== s.progress) options.onProgress?.(`${s.name}: ${s.progress}`);
      last.set(s.name, s.progress);
    }
    if (states.every((s) => s.ready)) return states.map((s) => s.name);
    if (Date.now() >= deadline) {
      const waiting = states.filter((s) => !s.ready);
      throw new StewardError(
        `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${waiting.map((s) => `${s.name} (${s.progress})`).join(', ')}`,
        {
          hint: 'see why pods are not ready: kubectl get pods, kubectl describe pod (storage class, image pull, scheduling); or raise --timeout',
        },
      );
    }
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))),
    );
  }
}

interface WorkloadFields {
  spec?: { replicas?: number };
  status?: { readyReplicas?: number; availableReplicas?: number; observedGeneration?: number };
}

/**
 * A StatefulSet is ready when readyReplicas == replicas, a Deployment when availableReplicas ==
 * replicas; either only once its controller has seen the current generation.
 */
export function workloadStatus(o: KubeObject, live: KubeObject | undefined): WorkloadStatus {
  const name = describeObject(o);
  if (!live) return { name, ready: false, progress: 'not found' };
  const { spec, status } = live as unknown as WorkloadFields;
  const want = spec?.replicas ?? 1;
  const count = (o.kind === 'StatefulSet' ? status?.readyReplicas : status?.availableReplicas) ?? 0;
  const seen =
    status?.observedGeneration === undefined || status.observedGeneration >= (live.metadata.generation ?? 0);
  const word = o.kind === 'StatefulSet' ? 'ready' : 'available';
  return {
    name,
    ready: seen && count >= want,
    progress: `${count}/${want} ${word}${seen ? '' : ' (waiting for the controller to see the new generation)'}`,
  };
}

/** The live version of `o` on the cluster of `target`, or undefined when it does not exist. */
export async function readObject(o: KubeObject, target: KubeTarget = {}): Promise<KubeObject | undefined> {
  const kc = loadKubeConfig(target);
  return readLive(objectApi(kc), o, kc.getCurrentCluster()?.server ?? '?');
}
