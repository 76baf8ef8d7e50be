/**
 * Cluster status: one row per member with etcdctl's `endpoint status` columns, plus health,
 * fragmentation, quota use and active alarms. An unreachable member is a row with its error.
 */
import { parseEndpoint, parseEndpointList, type Endpoint } from '../etcd/endpoint.js';
import {
  MemberClient,
  type ActiveAlarm,
  type ClusterMember,
  type ConnectionOptions,
  type MemberStatus,
} from '../etcd/member-client.js';
import { memberVersions, type MemberVersions } from '../etcd/version-endpoint.js';
import { describeError } from '../errors.js';
import { clusterVersionOf, versionWarnings } from './status-versions.js';

/** etcd's default --quota-backend-bytes (2 GiB), used when neither the member nor the spec says. */
export const ETCD_DEFAULT_QUOTA = 2 * 2 ** 30;

export interface MemberHealth {
  readonly ok: boolean;
  /** Why the member is not healthy; undefined when ok. */
  readonly error: string | undefined;
  /** Round trip of the linearizable health read, in ms. */
  readonly tookMs: number | undefined;
}

/** One member's row. Sizes in bytes; percentages 0–100 with one decimal; ids in hex. */
export interface MemberStatusRow {
  readonly endpoint: string;
  readonly id: string | undefined;
  readonly name: string | undefined;
  readonly version: string | undefined;
  readonly storageVersion: string | undefined;
  /** The cluster version as this member reports it (its `/version` endpoint). */
  readonly clusterVersion?: string | undefined;
  readonly dbSize: number | undefined;
  readonly dbSizeInUse: number | undefined;
  readonly fragmentationPercent: number | undefined;
  readonly quota: number;
  readonly quotaSource: 'member' | 'spec' | 'default';
  readonly quotaUsePercent: number | undefined;
  readonly isLeader: boolean | undefined;
  readonly isLearner: boolean | undefined;
  readonly leaderId: string | undefined;
  readonly raftTerm: number | undefined;
  readonly raftIndex: number | undefined;
  readonly raftAppliedIndex: number | undefined;
  readonly errors: readonly string[];
  readonly alarms: readonly string[];
  readonly health: MemberHealth;
  /**
   * Why this member looks cut off from the others (it answers us, but follows no leader or an
   * older term than the members that do); undefined when it is not. See `findCutOff`.
   */
  readonly cutOff?: string | undefined;
}

/** A member of the cluster (from MemberList) that no asked endpoint reaches. */
export interface UnaskedMember {
  readonly id: string;
  readonly name: string | undefined;
  readonly clientUrls: readonly string[];
}

export interface ClusterStatus {
  readonly clusterId: string | undefined;
  /** The leader as any answering member names it, whether or not it was asked itself. */
  readonly leaderId: string | undefined;
  /** The leader's name from the member list, when known. */
  readonly leaderName: string | undefined;
  /**
   * Every member asked and healthy, a leader, and no started member of the cluster left unasked:
   * one endpoint of three never makes a healthy cluster.
   */
  readonly healthy: boolean;
  /** Rows asked (one per endpoint). */
  readonly membersAsked: number;
  /** Members in the cluster's member list; undefined when no member answered it. */
  readonly membersInCluster: number | undefined;
  /** Started members of the cluster that no asked endpoint reaches (`--cluster` asks them too). */
  readonly unasked: readonly UnaskedMember[];
  readonly members: readonly MemberStatusRow[];
  /** The version the cluster speaks (the leader's word; see status-versions.ts). */
  readonly clusterVersion?: string | undefined;
  /** Members on different versions, or below the floor of their next upgrade (status-versions.ts). */
  readonly versionWarnings?: readonly string[];
}

export interface StatusOptions {
  /** A comma-separated list, or endpoints one by one. */
  readonly endpoints: string | readonly (Endpoint | string)[];
  readonly connection: ConnectionOptions;
  /** Quota to assume when a member does not report its own (etcd < 3.6). */
  readonly specQuota?: number | undefined;
  /** Member names by client URL or id, when known (the local runtime knows them). */
  readonly names?: ReadonlyMap<string, string> | undefined;
  /**
   * etcdctl's `--cluster`: ask the given endpoints only for the member list, then every member
   * at its client URL (a Service name in front of the cluster becomes its members).
   */
  readonly discover?: boolean | undefined;
}

/**
 * Queries every endpoint in parallel (with `discover`, every member the member list names);
 * never throws for a member that fails, it becomes a row. The member list also says which
 * members no endpoint reached, so a partial view is never called healthy.
 */
export async function clusterStatus(options: StatusOptions): Promise<ClusterStatus> {
  const given =
    typeof options.endpoints === 'string'
      ? parseEndpointList(options.endpoints)
      : options.endpoints.map((e) => (typeof e === 'string' ? parseEndpoint(e) : e));
  // Bad TLS files are the caller's input error (exit 2), found before any member is asked.
  let clients = given.map((endpoint) => new MemberClient(endpoint, options.connection));
  let discovered: ClusterMember[] | undefined;
  if (options.discover) {
    discovered = await firstMemberList(clients);
    const urls = discovered?.flatMap((m) => (m.clientUrls[0] ? [m.clientUrls[0]] : []));
    if (urls && urls.length > 0) {
      for (const c of clients) c.close();
      clients = urls.map((url) => new MemberClient(parseEndpoint(url), options.connection));
    }
  }
  const probes = await Promise.all(
    clients.map((c) => probeMember(c, discovered === undefined, options.connection)),
  );
  const list = discovered ?? probes.find((p) => p.memberList !== undefined)?.memberList;
  const alarms = probes.find((p) => p.alarms !== undefined)?.alarms ?? [];
  const members = markCutOff(probes.map((probe) => toRow(probe, alarms, options, list)));
  const leaderIds = new Set(
    members.filter((m) => m.leaderId && m.leaderId !== '0' && !m.cutOff).map((m) => m.leaderId),
  );
  const leaderId = leaderIds.size === 1 ? [...leaderIds][0] : undefined;
  const leaderName =
    members.find((m) => m.id === leaderId)?.name ?? list?.find((m) => m.id === leaderId)?.name;
  const clusterId = probes.find((p) => p.status)?.status?.clusterId;
  const unasked = list ? unaskedMembers(list, members) : [];
  const clusterVersion = clusterVersionOf(members);
  const healthy =
    members.length > 0 && members.every((m) => m.health.ok) && leaderId !== undefined && unasked.length === 0;
  return {
    clusterId,
    leaderId,
    leaderName: leaderName || undefined,
    healthy,
    membersAsked: members.length,
    membersInCluster: list?.length,
    unasked,
    members,
    clusterVersion,
    versionWarnings: versionWarnings(members, clusterVersion),
  };
}

function hasLeader(row: MemberStatusRow): boolean {
  return row.leaderId !== undefined && row.leaderId !== '0' && row.leaderId !== '';
}

/**
 * Which answering members are cut off from the rest: the current leader is the one named by the
 * members at the highest term that know a leader, confirmed by that leader itself; a member that
 * answers us but knows no leader, names another one, or sits at an older term is cut off (a
 * partitioned member, or an old leader that has not noticed yet). Undefined entries when no
 * leader is confirmed: then nobody is "the rest".
 */
export function findCutOff(rows: readonly MemberStatusRow[]): (string | undefined)[] {
  const answering = rows.filter((r) => r.id !== undefined && r.raftTerm !== undefined);
  const led = answering.filter(hasLeader);
  const term = Math.max(...led.map((r) => r.raftTerm as number));
  const atTerm = new Set(led.filter((r) => r.raftTerm === term).map((r) => r.leaderId));
  const leaderId = atTerm.size === 1 ? [...atTerm][0] : undefined;
  const leader = answering.find((r) => r.id === leaderId && r.isLeader && r.raftTerm === term);
  const followers = led.filter((r) => r.raftTerm === term && r.leaderId === leaderId);
  if (!leader || followers.length < 2) return rows.map(() => undefined);
  return rows.map((r) => {
    if (r.id === undefined || r.raftTerm === undefined || r.id === leaderId) return undefined;
    if (!hasLeader(r))
      return `knows no leader while ${followers.length} members follow ${leader.name ?? leaderId} at term ${term}`;
    if ((r.raftTerm ?? 0) < term || r.leaderId !== leaderId)
      return `follows ${r.leaderId === r.id ? 'itself' : r.leaderId} at term ${r.raftTerm} while ${followers.length} members follow ${leader.name ?? leaderId} at term ${term}`;
    return undefined;
  });
}

/** The rows with `cutOff` set, and the health error saying so for those that are cut off. */
function markCutOff(rows: readonly MemberStatusRow[]): MemberStatusRow[] {
  const cut = findCutOff(rows);
  return rows.map((row, i) => {
    const why = cut[i];
    if (!why) return row;
    return {
      ...row,
      // An old leader that has not yet noticed still says it leads: it does not.
      isLeader: false,
      cutOff: why,
      health: { ...row.health, ok: false, error: `cut off from the cluster: ${why}` },
    };
  });
}

/** The member list from the first endpoint that answers it; undefined when none does. */
async function firstMemberList(clients: readonly MemberClient[]): Promise<ClusterMember[] | undefined> {
  for (const client of clients) {
    try {
      return await client.memberList();
    } catch {
      // the next endpoint may answer; the probes will show why this one did not
    }
  }
  return undefined;
}

/** Started members (with a client URL) that no row reaches, by id or by client URL. */
function unaskedMembers(list: readonly ClusterMember[], rows: readonly MemberStatusRow[]): UnaskedMember[] {
  const ids = new Set(rows.map((r) => r.id).filter((id) => id !== undefined));
  const urls = new Set(rows.map((r) => trimSlash(r.endpoint)));
  return list
    .filter((m) => m.clientUrls.length > 0)
    .filter((m) => !ids.has(m.id) && !m.clientUrls.some((u) => urls.has(trimSlash(u))))
    .map((m) => ({ id: m.id, name: m.name || undefined, clientUrls: m.clientUrls }));
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

interface Probe {
  endpoint: Endpoint;
  status?: MemberStatus;
  statusError?: string;
  alarms?: ActiveAlarm[];
  healthError?: string;
  healthMs?: number;
  memberList?: ClusterMember[];
  versions?: MemberVersions;
}

async function probeMember(
  client: MemberClient,
  askList: boolean,
  connection: ConnectionOptions,
): Promise<Probe> {
  const probe: Probe = { endpoint: client.endpoint };
  try {
    const [status, alarms, health, list, versions] = await Promise.allSettled([
      client.status(),
      client.alarms(),
      (async () => {
        const started = performance.now();
        await client.healthRead();
        return performance.now() - started;
      })(),
      askList ? client.memberList() : Promise.resolve(undefined),
      // The cluster version is only on the HTTP /version endpoint: one GET, alongside.
      memberVersions(client.endpoint, connection),
    ]);
    if (versions.status === 'fulfilled') probe.versions = versions.value;
    if (list.status === 'fulfilled' && list.value) probe.memberList = list.value;
    if (status.status === 'fulfilled') probe.status = status.value;
    else probe.statusError = reasonOf(status.reason);
    if (alarms.status === 'fulfilled') probe.alarms = alarms.value;
    if (health.status === 'fulfilled') probe.healthMs = Math.round(health.value * 10) / 10;
    else probe.healthError = reasonOf(health.reason);
  } finally {
    client.close();
  }
  return probe;
}

function reasonOf(error: unknown): string {
  return error instanceof Error && 'reason' in error
    ? String((error as { reason: unknown }).reason)
    : describeError(error);
}

function toRow(
  probe: Probe,
  alarms: readonly ActiveAlarm[],
  options: StatusOptions,
  list: readonly ClusterMember[] | undefined,
): MemberStatusRow {
  const s = probe.status;
  const quota = s?.dbSizeQuota ?? options.specQuota ?? ETCD_DEFAULT_QUOTA;
  const quotaSource =
    s?.dbSizeQuota !== undefined ? 'member' : options.specQuota !== undefined ? 'spec' : 'default';
  const memberAlarms = s ? alarms.filter((a) => a.memberId === s.memberId).map((a) => a.alarm) : [];
  const errors = [...(s?.errors ?? [])];
  if (probe.statusError) errors.unshift(probe.statusError);
  const healthError =
    probe.statusError ??
    probe.healthError ??
    (memberAlarms.length > 0 ? `active alarm: ${memberAlarms.join(', ')}` : undefined) ??
    (s && (s.leaderId === '0' || s.leaderId === '') ? 'no leader' : undefined) ??
    (s?.errors.length ? s.errors.join('; ') : undefined);
  const name =
    options.names?.get(probe.endpoint.display) ??
    (s
      ? (options.names?.get(s.memberId) ?? (list?.find((m) => m.id === s.memberId)?.name || undefined))
      : undefined);
  return {
    endpoint: probe.endpoint.display,
    id: s?.memberId,
    name,
    version: s?.version,
    storageVersion: s?.storageVersion,
    clusterVersion: probe.versions?.cluster,
    dbSize: s?.dbSize,
    dbSizeInUse: s?.dbSizeInUse,
    fragmentationPercent:
      s && s.dbSize > 0 ? round1(((s.dbSize - s.dbSizeInUse) / s.dbSize) * 100) : undefined,
    quota,
    quotaSource,
    quotaUsePercent: s ? round1((s.dbSize / quota) * 100) : undefined,
    isLeader: s ? s.leaderId === s.memberId : undefined,
    isLearner: s?.isLearner,
    leaderId: s?.leaderId,
    raftTerm: s?.raftTerm,
    raftIndex: s?.raftIndex,
    raftAppliedIndex: s?.raftAppliedIndex,
    errors,
    alarms: memberAlarms,
    health: { ok: healthError === undefined, error: healthError, tookMs: probe.healthMs },
    cutOff: undefined,
  };
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
