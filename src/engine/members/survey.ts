/**
 * What the cluster says about its members right now: the member list (from the leader when there
 * is one), each member's status and health, its raft lag behind the leader, and — for the
 * members a runtime hosts — the state of their data dirs. Every membership step starts from here.
 */
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient, type ClusterMember, type ConnectionOptions } from '../../etcd/member-client.js';
import { StewardError, describeError } from '../../errors.js';
import type { DataDirState, MembershipHost } from '../../runtime/membership-host.js';
import { clusterStatus, type MemberStatusRow } from '../status.js';

/** A member of the cluster with what its own status call said (undefined when it did not answer). */
export interface SurveyedMember extends ClusterMember {
  /** False until the member has started once and published its name and client URLs. */
  readonly started: boolean;
  readonly status: MemberStatusRow | undefined;
}

export interface Survey {
  readonly clusterId: string | undefined;
  readonly leaderId: string | undefined;
  /** The leader's raft index, the mark lags are measured against. */
  readonly leaderRaftIndex: number | undefined;
  readonly members: readonly SurveyedMember[];
}

/** One row of `member list`: etcdctl's columns, plus health, leadership, lag and (local) data dir. */
export interface MemberListRow {
  /** Hex id; undefined for a member the runtime hosts that is not in the cluster. */
  readonly id: string | undefined;
  readonly name: string;
  /** etcdctl's STATUS (started/unstarted), or 'not a member' for a hosted member outside the cluster. */
  readonly status: 'started' | 'unstarted' | 'not a member';
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
  readonly isLeader: boolean;
  readonly healthy: boolean;
  readonly healthError: string | undefined;
  readonly version: string | undefined;
  readonly raftIndex: number | undefined;
  readonly raftAppliedIndex: number | undefined;
  /** Raft entries the member has still to apply, measured against the leader's index. */
  readonly lag: number | undefined;
  readonly dataDir: string | undefined;
  readonly dataDirState: DataDirState | undefined;
}

export interface MemberList {
  readonly clusterId: string | undefined;
  readonly leaderId: string | undefined;
  readonly members: readonly MemberListRow[];
}

/** Polling budget per call: a member that does not answer within it counts as unreachable now. */
export function pollConnection(connection: ConnectionOptions): ConnectionOptions {
  return {
    ...connection,
    dialTimeoutMs: Math.min(connection.dialTimeoutMs, 1_000),
    commandTimeoutMs: Math.min(connection.commandTimeoutMs, 2_000),
  };
}

/** A URL without trailing slash, for comparing peer and client URLs. */
export function sameUrl(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

/**
 * True when the member serves: its status answers, it knows a leader and reports no error. A
 * learner cannot serve the linearizable health read, so for it the status call is the test.
 */
export function isHealthy(member: SurveyedMember): boolean {
  const s = member.status;
  if (!s || s.id === undefined) return false;
  if (s.health.ok) return true;
  if (!member.isLearner) return false;
  const leaderKnown = s.leaderId !== undefined && s.leaderId !== '0' && s.leaderId !== '';
  return leaderKnown && /learner/i.test(s.health.error ?? '') && s.alarms.length === 0;
}

/** Raft entries `member` has still to apply, against the leader's index; undefined when unknown. */
export function lagOf(survey: Survey, member: SurveyedMember): number | undefined {
  const applied = member.status?.raftAppliedIndex;
  if (survey.leaderRaftIndex === undefined || applied === undefined) return undefined;
  return Math.max(0, survey.leaderRaftIndex - applied);
}

/**
 * Asks the members at `endpoints` (and every client URL the member list adds) for status and
 * the member list. Throws only when no member answers the member list at all.
 */
export async function surveyCluster(
  endpoints: readonly string[],
  connection: ConnectionOptions,
): Promise<Survey> {
  const poll = pollConnection(connection);
  const first = await clusterStatus({ endpoints, connection: poll });
  const order = [...first.members].sort(
    (a, b) =>
      Number(b.isLeader === true) - Number(a.isLeader === true) || Number(b.health.ok) - Number(a.health.ok),
  );
  let list: ClusterMember[] | undefined;
  const failures: string[] = [];
  for (const row of order) {
    const client = new MemberClient(parseEndpoint(row.endpoint), poll);
    try {
      list = await client.memberList();
      break;
    } catch (error) {
      failures.push(describeError(error));
    } finally {
      client.close();
    }
  }
  if (!list) {
    throw new StewardError(
      `no member answered the member list:\n    ${failures.join('\n    ') || 'no endpoints'}`,
      {
        hint: 'are the members running? `etcd-steward status` shows each one',
      },
    );
  }
  const known = new Set(first.members.map((m) => m.endpoint.replace(/\/+$/, '')));
  const extra = list.flatMap((m) => m.clientUrls).filter((u) => !known.has(u.replace(/\/+$/, '')));
  const rows =
    extra.length > 0
      ? [...first.members, ...(await clusterStatus({ endpoints: extra, connection: poll })).members]
      : first.members;
  const byId = new Map(rows.filter((r) => r.id !== undefined).map((r) => [r.id as string, r]));
  const leaderRow = rows.find((r) => r.isLeader === true);
  return {
    clusterId: first.clusterId,
    // Only a member that answers and says it leads counts: followers keep naming a dead leader
    // until the election timeout has passed.
    leaderId: leaderRow?.id,
    leaderRaftIndex: leaderRow?.raftIndex,
    members: list.map((m) => ({
      ...m,
      started: m.name !== '' || m.clientUrls.length > 0,
      status: byId.get(m.id),
    })),
  };
}

/** The surveyed member at `peerUrl`, if the cluster has one. */
export function memberAtPeerUrl(survey: Survey, peerUrl: string): SurveyedMember | undefined {
  return survey.members.find((m) => m.peerUrls.some((u) => sameUrl(u, peerUrl)));
}

/** `member list`: the cluster's members and the runtime's members outside it, with their data dirs. */
export async function listMembers(options: {
  readonly host: MembershipHost;
  readonly connection: ConnectionOptions;
}): Promise<MemberList> {
  const hosted = await options.host.members();
  const survey = await surveyCluster(
    hosted.map((h) => h.clientUrl),
    options.connection,
  );
  const rows: MemberListRow[] = [];
  const matched = new Set<string>();
  for (const m of survey.members) {
    const own = hosted.find((h) => m.peerUrls.some((u) => sameUrl(u, h.peerUrl)));
    if (own) matched.add(own.name);
    const data = own ? await options.host.dataDir(own.name) : undefined;
    rows.push({
      id: m.id,
      name: m.name || own?.name || '',
      status: m.started ? 'started' : 'unstarted',
      peerUrls: m.peerUrls,
      clientUrls: m.clientUrls,
      isLearner: m.isLearner,
      isLeader: m.id === survey.leaderId,
      healthy: isHealthy(m),
      healthError: isHealthy(m) ? undefined : (m.status?.health.error ?? 'no answer'),
      version: m.status?.version,
      raftIndex: m.status?.raftIndex,
      raftAppliedIndex: m.status?.raftAppliedIndex,
      lag: lagOf(survey, m),
      dataDir: data?.path,
      dataDirState: data?.state,
    });
  }
  for (const h of hosted.filter((h) => !matched.has(h.name))) {
    const data = await options.host.dataDir(h.name);
    rows.push({
      id: undefined,
      name: h.name,
      status: 'not a member',
      peerUrls: [h.peerUrl],
      clientUrls: [h.clientUrl],
      isLearner: false,
      isLeader: false,
      healthy: false,
      healthError: 'not a member of the cluster',
      version: undefined,
      raftIndex: undefined,
      raftAppliedIndex: undefined,
      lag: undefined,
      dataDir: data.path,
      dataDirState: data.state,
    });
  }
  return { clusterId: survey.clusterId, leaderId: survey.leaderId, members: rows };
}
