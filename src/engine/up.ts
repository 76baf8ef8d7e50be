/**
 * Bringing a local cluster up: start what is not running, then wait until every member is
 * healthy and a leader exists. A member that dies on start ends the wait at once with its last
 * log lines; a fresh cluster that lost a race for an auto-picked port is created again. When the
 * spec's `members:` differs from the cluster on disk, the recorded members start first, then
 * the cluster is scaled one member at a time (engine/members/scale.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Spec } from '../config/spec.js';
import { parseEndpointList, type Endpoint } from '../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../etcd/member-client.js';
import { StewardError } from '../errors.js';
import { LocalRuntime, type MemberExit, type StartResult } from '../runtime/local/cluster.js';
import type { EtcdBinaries } from '../runtime/etcd-binaries.js';
import { peerUrl } from '../runtime/local/member-process.js';
import { LocalClusterRuntime } from '../runtime/local/runtime.js';
import type { LocalClusterState } from '../runtime/local/state.js';
import { evenSizeWarning, nextScaleStep, scaleMembers, type ScaleResult } from './members/scale.js';
import type { MembershipOptions } from './members/steps.js';
import { clusterStatus, type ClusterStatus } from './status.js';

export interface UpOptions {
  readonly spec: Spec;
  readonly binaries: EtcdBinaries;
  readonly connection: ConnectionOptions;
  /** How long to wait for a healthy cluster; default 30 s plus ten election timeouts. */
  readonly timeoutMs?: number;
  readonly onProgress?: (message: string) => void;
  readonly signal?: AbortSignal;
  /** Called after every membership step of a scale (tests crash there to prove a rerun finishes). */
  readonly afterStep?: MembershipOptions['afterStep'];
}

export interface UpResult {
  readonly runtime: LocalRuntime;
  readonly start: StartResult;
  readonly status: ClusterStatus;
  /** The adds and removes that brought the cluster to the spec's size (none when it had it). */
  readonly scale: ScaleResult | undefined;
  /** Things worth saying that did not stop `up` (an even member count). */
  readonly warnings: readonly string[];
}

const PORT_RACE_ATTEMPTS = 3;

/** Starts the spec's local cluster and returns once it is healthy. */
export async function upCluster(options: UpOptions): Promise<UpResult> {
  const warnings = [evenSizeWarning(options.spec.members)].filter((w): w is string => w !== undefined);
  for (const warning of warnings) options.onProgress?.(`warning: ${warning}`);
  for (let attempt = 1; ; attempt += 1) {
    const runtime = new LocalRuntime(options.spec, options.binaries);
    const start = await runtime.start();
    options.onProgress?.(
      start.mode === 'running'
        ? `cluster '${options.spec.name}' is already running`
        : `started ${start.started.join(', ')} (etcd ${options.binaries.version}, ${start.mode === 'created' ? 'a new cluster' : 'on their existing data'})`,
    );
    try {
      // A new cluster has no users yet: wait for it without credentials, then turn auth on.
      const fresh = start.mode === 'created';
      const waitConnection = fresh
        ? { ...options.connection, user: undefined, password: undefined }
        : options.connection;
      let status = await waitHealthy(runtime, start, waitConnection, options, start.notStarted ?? []);
      const scale = fresh ? undefined : await scaleToSpec(options);
      if (scale && scale.changes.length > 0)
        status = await waitHealthy(runtime, start, waitConnection, options, []);
      if (fresh && options.spec.auth) {
        await enableAuth(runtime, options);
        status = await clusterStatus({
          endpoints: await runtime.endpoints(),
          connection: options.connection,
          specQuota: options.spec.etcd.quotaBackendBytes,
          names: new Map(status.members.map((m) => [m.endpoint, m.name ?? ''])),
        });
      }
      return { runtime, start, status, scale, warnings };
    } catch (error) {
      const lostPortRace =
        error instanceof MemberStartError &&
        error.portInUse &&
        start.mode === 'created' &&
        attempt < PORT_RACE_ATTEMPTS;
      if (start.mode !== 'running') await runtime.stop(2_000);
      if (!lostPortRace) throw error;
      options.onProgress?.('a picked port was taken meanwhile; creating the cluster again on other ports');
      await runtime.purge();
    }
  }
}

/**
 * Scales the running cluster to the spec's `members:` through the membership engine; undefined
 * when it has that size already and no add is left unfinished.
 */
async function scaleToSpec(options: UpOptions): Promise<ScaleResult | undefined> {
  const membership: MembershipOptions = {
    host: new LocalClusterRuntime(options.spec, options.binaries).membership(),
    connection: options.connection,
    onProgress: options.onProgress,
    afterStep: options.afterStep,
    signal: options.signal,
  };
  const target = options.spec.members;
  if ((await nextScaleStep({ ...membership, target })).kind === 'done') return undefined;
  return scaleMembers({ ...membership, target });
}

/** True when the members that answer list no member at `name`'s peer URL. */
async function removedFromCluster(
  name: string,
  state: LocalClusterState,
  endpoints: readonly Endpoint[],
  connection: ConnectionOptions,
): Promise<boolean> {
  const member = state.members.find((m) => m.name === name);
  if (!member) return false;
  const url = peerUrl(state, member);
  for (const endpoint of endpoints) {
    const client = new MemberClient(endpoint, {
      ...connection,
      dialTimeoutMs: 1_000,
      commandTimeoutMs: 2_000,
    });
    try {
      const list = await client.memberList();
      return !list.some((m) => m.peerUrls.some((u) => u.replace(/\/+$/, '') === url));
    } catch {
      // not answering (the exited member itself, or one still starting): ask the next
    } finally {
      client.close();
    }
  }
  return false;
}

/** A member exited while the cluster was starting; carries its last log lines. */
export class MemberStartError extends StewardError {
  readonly portInUse: boolean;
  constructor(exit: MemberExit, logLines: readonly string[]) {
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code ?? '?'}`;
    const portInUse = logLines.some((line) => /address already in use/.test(line));
    super(`member ${exit.name} ${how} while starting; its last log lines:\n    ${logLines.join('\n    ')}`, {
      hint: portInUse
        ? 'another process holds one of its ports: stop it, or use ports: auto'
        : 'read the log lines above; the full log is etcd.log in the member folder under dataDir',
    });
    this.portInUse = portInUse;
  }
}

/** Adds the root user with the spec's password and enables authentication (new clusters only). */
async function enableAuth(runtime: LocalRuntime, options: UpOptions): Promise<void> {
  const { user, password } = options.connection;
  if (user !== 'root' || password === undefined) {
    throw new StewardError(`auth.user is '${user ?? ''}': the local runtime can only set up the root user`, {
      hint: 'set auth.user: root; add other users with etcdctl once the cluster runs',
    });
  }
  const [first] = parseEndpointList(await runtime.endpoints());
  const client = new MemberClient(first as Endpoint, {
    ...options.connection,
    user: undefined,
    password: undefined,
  });
  try {
    await client.enableAuthWithRoot(password);
  } finally {
    client.close();
  }
  options.onProgress?.('authentication enabled (user root)');
}

async function waitHealthy(
  runtime: LocalRuntime,
  start: StartResult,
  connection: ConnectionOptions,
  options: UpOptions,
  skip: readonly string[],
): Promise<ClusterStatus> {
  const timeoutMs = options.timeoutMs ?? 30_000 + 10 * options.spec.etcd.electionTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  const state = await runtime.requireState();
  const urls = await runtime.endpoints();
  const names = new Map(state.members.map((m, i) => [urls[i] as string, m.name]));
  let endpoints = parseEndpointList(urls.filter((url) => !skip.includes(names.get(url) ?? '')));
  let exited: MemberExit | undefined;
  void start.firstExit.then((exit) => (exited = exit));
  let last: ClusterStatus | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    if (exited) {
      // A member a crashed remove took out of the cluster exits on start: leave it to the scale,
      // which finishes that remove; any other exit ends the wait.
      if (
        start.mode === 'restarted' &&
        (await removedFromCluster(exited.name, state, endpoints, connection))
      ) {
        options.onProgress?.(
          `${exited.name} is no longer in the cluster (an unfinished remove); it stays stopped`,
        );
        endpoints = endpoints.filter((e) => names.get(e.display) !== exited?.name);
        exited = undefined;
      } else throw new MemberStartError(exited, await runtime.lastLogLines(exited.name));
    }
    // A short per-call budget while polling: a member still starting answers within it or next time.
    last = await clusterStatus({
      endpoints,
      connection: { ...connection, dialTimeoutMs: 500, commandTimeoutMs: 1_000 },
      specQuota: options.spec.etcd.quotaBackendBytes,
      names,
    });
    if (last.healthy) return last;
    if (Date.now() > deadline) break;
    await sleep(200);
  }
  const problems = last.members
    .filter((m) => !m.health.ok)
    .map((m) => `${m.endpoint}: ${m.health.error ?? 'unhealthy'}`);
  throw new StewardError(
    `the cluster did not become healthy within ${Math.round(timeoutMs / 1000)} s:\n    ${problems.join('\n    ') || 'no leader elected'}`,
    {
      hint: 'look at etcd.log in each member folder under dataDir',
    },
  );
}
