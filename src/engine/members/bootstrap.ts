/**
 * How a member pod starts (Kubernetes' init step, `member-init`): from the pod's own data dir and
 * what the cluster says, one decision —
 * - `start`: the data dir holds data; etcd starts from it as it is.
 * - `join`: no data, and the cluster answers: the stale member at this pod's peer URL (its data
 *   is gone) is removed, the pod is added back as a learner under the same name, and etcd starts
 *   with initial-cluster-state existing. The `--promote` side of the same command promotes it
 *   once it has caught up.
 * - `new` / `restore`: no data, no cluster answers, and every other member of the initial set
 *   says over the rendezvous (rendezvous.ts) that it has no data either — a cluster being created
 *   (`restore`: from the pinned backup). A member of the initial set that never started while the
 *   others did (their member list holds it, unstarted) takes the same decision.
 * Every step looks at the cluster as it is, so a rerun after a crash finishes the job.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MemberRequestError } from '../../etcd/errors.js';
import type { ConnectionOptions } from '../../etcd/member-client.js';
import { StewardError, describeError } from '../../errors.js';
import type { HostedMember, MembershipHost } from '../../runtime/membership-host.js';
import { caughtUp, initialCluster, labelOf } from './plan.js';
import {
  onLeader,
  reconfigure,
  removeThroughLeader,
  surveyWithLeader,
  type MembershipOptions,
} from './steps.js';
import { lagOf, memberAtPeerUrl, sameUrl, surveyCluster, type Survey } from './survey.js';

/** What the init step decided, with the etcd settings it implies and why. */
export type BootstrapDecision =
  | { readonly kind: 'start'; readonly reason: string }
  | { readonly kind: 'new'; readonly reason: string }
  | { readonly kind: 'restore'; readonly reason: string }
  | { readonly kind: 'join'; readonly reason: string; readonly initialCluster: string; readonly id: string };

/** One member of the initial (bootstrap) set, from `--initial-cluster`. */
export interface BootstrapPeer {
  readonly name: string;
  readonly peerUrl: string;
}

export interface BootstrapOptions {
  /** This member's name and peer URL. */
  readonly name: string;
  readonly peerUrl: string;
  /** The initial set of members the cluster is created with. */
  readonly bootstrap: readonly BootstrapPeer[];
  /** Client URLs to look for the cluster at (the initial members' and the client Service's). */
  readonly endpoints: readonly string[];
  readonly connection: ConnectionOptions;
  /** True when the member's data dir holds data. */
  readonly dataPresent: boolean;
  /**
   * Moves the data dir aside (never deletes it): called when it holds data of a member the running
   * cluster removed (a scale-down left the volume); the member then joins afresh.
   */
  readonly moveDataAside?: () => Promise<string>;
  /** A backup is pinned: a member of a cluster being created restores it rather than starting empty. */
  readonly restorePinned: boolean;
  /** This volume held a restored member before (its marker): never restore or start new again. */
  readonly restoredBefore: boolean;
  /** Names of the other initial members that say, now, that they have no data and are deciding too. */
  readonly emptyPeers: () => Promise<string[]>;
  /** Collects every initial member seen empty during this run (the rendezvous tells the others). */
  readonly seen?: Set<string>;
  /** How long to keep looking before giving up (the kubelet reruns the step); default 5 min. */
  readonly timeoutMs?: number;
  readonly pollMs?: number;
  readonly onProgress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** A membership host for one pod: it reaches the cluster through `endpoints` and starts nothing (the etcd container does). */
export function podHost(endpoints: readonly string[]): MembershipHost {
  const unsupported = (what: string) => () =>
    Promise.reject(
      new StewardError(`a pod's init step cannot ${what}`, { hint: 'the StatefulSet runs the pods' }),
    );
  return {
    members: () =>
      Promise.resolve(endpoints.map((clientUrl): HostedMember => ({ name: '', peerUrl: '', clientUrl }))),
    nextMemberName: unsupported('name a new member'),
    ensureMember: unsupported('record a member'),
    dataDir: unsupported('read another data dir'),
    isRunning: () => Promise.resolve(false),
    startJoining: unsupported('start etcd'),
    stop: unsupported('stop etcd'),
    moveDataAside: unsupported('move data aside'),
    forget: unsupported('forget a member'),
    lastLogLines: () => Promise.resolve([]),
    readReplaceNote: () => Promise.resolve(undefined),
    writeReplaceNote: unsupported('write notes'),
    clearReplaceNote: unsupported('clear notes'),
    startForceNewCluster: unsupported('start etcd'),
    startOnData: unsupported('start etcd'),
    readRecoverNote: () => Promise.resolve(undefined),
    writeRecoverNote: unsupported('write notes'),
    clearRecoverNote: unsupported('clear notes'),
  };
}

function membershipOptions(options: BootstrapOptions): MembershipOptions {
  return {
    host: podHost(options.endpoints),
    connection: options.connection,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

async function trySurvey(options: BootstrapOptions): Promise<Survey | undefined> {
  try {
    return await surveyCluster(options.endpoints, options.connection);
  } catch {
    return undefined;
  }
}

/** True when the cluster's members are exactly the initial set (by peer URL): it is still being created. */
function isInitialSet(current: Survey, bootstrap: readonly BootstrapPeer[]): boolean {
  return (
    current.members.length === bootstrap.length &&
    current.members.every((m) => bootstrap.some((b) => m.peerUrls.some((u) => sameUrl(u, b.peerUrl))))
  );
}

/** Decides how this member starts and makes the membership changes a join needs. */
export async function decideBootstrap(options: BootstrapOptions): Promise<BootstrapDecision> {
  if (options.dataPresent) {
    const current = await trySurvey(options);
    if (!current || memberAtPeerUrl(current, options.peerUrl) || !options.moveDataAside)
      return { kind: 'start', reason: 'the data dir holds data: etcd starts from it' };
    // The cluster runs without a member at our peer URL: this data is of a removed member.
    const moved = await options.moveDataAside();
    const joined = await join(options, current);
    return {
      ...joined,
      reason: `the running cluster removed this member earlier: moved its data aside to ${moved}; ${joined.reason}`,
    };
  }
  const inInitialSet = options.bootstrap.some(
    (b) => b.name === options.name && sameUrl(b.peerUrl, options.peerUrl),
  );
  const fresh = (why: string): BootstrapDecision =>
    options.restorePinned
      ? { kind: 'restore', reason: `${why}: restoring the pinned backup` }
      : { kind: 'new', reason: `${why}: starting as a member of the new cluster` };
  const deadline = Date.now() + (options.timeoutMs ?? 300_000);
  const say = options.onProgress ?? (() => undefined);
  const seen = options.seen ?? new Set<string>();
  for (;;) {
    options.signal?.throwIfAborted();
    const current = await trySurvey(options);
    if (current) {
      const me = memberAtPeerUrl(current, options.peerUrl);
      if (me && !me.started && !me.isLearner && inInitialSet && isInitialSet(current, options.bootstrap)) {
        if (options.restoredBefore)
          throw new StewardError(
            `member ${options.name} was restored on this volume before, and its data dir is gone`,
            {
              hint: 'it is never restored twice; move the volume’s contents aside (or delete the PVC and pod) so it joins as a learner',
            },
          );
        return fresh('the cluster is being created and this member has not started yet');
      }
      return join(options, current);
    }
    let waiting: string;
    if (!inInitialSet) {
      waiting = `no member of the cluster answers at ${options.endpoints.join(', ')}; ${options.name} is not one of the initial members, so it can only join a running cluster`;
    } else if (options.restoredBefore) {
      waiting = `no member answers, and ${options.name} was restored on this volume before: it waits to join as a learner`;
    } else {
      // Seen empty once during this run is enough: a member that saw us and decided has left
      // the rendezvous, and its etcd serves no client before the others join it.
      const others = options.bootstrap.filter((b) => b.name !== options.name).map((b) => b.name);
      for (const n of await options.emptyPeers()) seen.add(n);
      const missing = others.filter((n) => !seen.has(n));
      if (missing.length === 0)
        return fresh(
          `no member answers and ${others.length === 0 ? 'it is the only member' : `${others.join(', ')} have no data either`}`,
        );
      waiting = `no member answers; waiting for ${missing.join(', ')} (a new cluster starts only when every initial member is there with an empty data dir)`;
    }
    if (Date.now() > deadline)
      throw new StewardError(`member ${options.name} cannot decide how to start: ${waiting}`, {
        hint: 'the kubelet runs the init step again; check the other pods (kubectl get pods) and their init logs',
      });
    say(waiting);
    await sleep(options.pollMs ?? 1000, undefined, { signal: options.signal });
  }
}

/** The join half: remove a stale member at our peer URL, add us as a learner, and the initial cluster to start with. */
async function join(options: BootstrapOptions, first: Survey): Promise<BootstrapDecision> {
  const membership = membershipOptions(options);
  const say = options.onProgress ?? (() => undefined);
  let removed = '';
  const stale = memberAtPeerUrl(first, options.peerUrl);
  if (stale?.started) {
    // Its data is gone (ours is empty): the old identity can never come back. Removing it first
    // keeps quorum arithmetic honest (a dead voter counts against it).
    say(`removing stale member ${labelOf(stale)}: this pod's data dir is empty`);
    await removeThroughLeader(membership, stale.id, labelOf(stale));
    removed = `removed stale member ${labelOf(stale)}, `;
  }
  const id = await reconfigure(
    membership,
    `add ${options.name} as a learner`,
    'etcd adds a member only while its leader is connected to every voting member; the kubelet runs the init step again',
    async (leader, now) => {
      const there = memberAtPeerUrl(now, options.peerUrl);
      if (there && !there.started) return there.id;
      if (there) await leader.memberRemove(there.id);
      return (await leader.memberAdd([options.peerUrl], true)).member.id;
    },
  );
  const now = await surveyWithLeader(membership);
  const cluster = initialCluster(now.members, options.peerUrl, options.name);
  return {
    kind: 'join',
    id,
    initialCluster: cluster,
    reason: `${removed}${options.name} is learner ${id} of the running cluster: it joins with initial-cluster-state existing`,
  };
}

const IN_SYNC = /in sync with leader|learner.*not ready/i;

/**
 * Promotes the member at `peerUrl` once it is a learner that has caught up; resolves when it is a
 * voting member. Retries etcd's "not in sync" until it is.
 */
export async function promoteWhenCaughtUp(
  options: Pick<BootstrapOptions, 'endpoints' | 'connection' | 'onProgress' | 'signal' | 'pollMs'> & {
    readonly peerUrl: string;
  },
): Promise<string> {
  const membership: MembershipOptions = {
    host: podHost(options.endpoints),
    connection: options.connection,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const say = options.onProgress ?? (() => undefined);
  let said = '';
  const tell = (line: string) => {
    if (line !== said) say(line);
    said = line;
  };
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const current = await surveyWithLeader(membership, 2_000);
      const me = memberAtPeerUrl(current, options.peerUrl);
      if (me && !me.isLearner) return `${labelOf(me)} is a voting member`;
      if (!me) tell(`no member at ${options.peerUrl} yet`);
      else if (!caughtUp(current, me))
        tell(`learner ${labelOf(me)} is ${lagOf(current, me) ?? '?'} entries behind the leader`);
      else {
        try {
          await onLeader(membership, current, (client) => client.memberPromote(me.id));
          return `promoted ${labelOf(me)} to a voting member`;
        } catch (error) {
          if (!(error instanceof MemberRequestError && IN_SYNC.test(error.reason))) throw error;
          tell(`learner ${labelOf(me)} is not in sync with the leader yet`);
        }
      }
    } catch (error) {
      if (options.signal?.aborted) throw error;
      tell(`cannot promote yet: ${describeError(error)}`);
    }
    await sleep(options.pollMs ?? 1000, undefined, { signal: options.signal });
  }
}
