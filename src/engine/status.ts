/**
 * Cluster status: one row per member with etcdctl's `endpoint status` columns, plus health,
 * fragmentation, quota use and active alarms. An unreachable member is a row with its error.
 */
import { parseEndpoint, parseEndpointList, type Endpoint } from '../etcd/endpoint.js';
import {
  MemberClient,
  type ActiveAlarm,
  type ConnectionOptions,
  type MemberStatus,
} from '../etcd/member-client.js';
import { describeError } from '../errors.js';

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
}

export interface ClusterStatus {
  readonly clusterId: string | undefined;
  readonly leaderId: string | undefined;
  readonly healthy: boolean;
  readonly members: readonly MemberStatusRow[];
}

export interface StatusOptions {
  /** A comma-separated list, or endpoints one by one. */
  readonly endpoints: string | readonly (Endpoint | string)[];
  readonly connection: ConnectionOptions;
  /** Quota to assume when a member does not report its own (etcd < 3.6). */
  readonly specQuota?: number | undefined;
  /** Member names by client URL or id, when known (the local runtime knows them). */
  readonly names?: ReadonlyMap<string, string> | undefined;
}

/** Queries every endpoint in parallel; never throws for a member that fails, it becomes a row. */
export async function clusterStatus(options: StatusOptions): Promise<ClusterStatus> {
  const endpoints =
    typeof options.endpoints === 'string'
      ? parseEndpointList(options.endpoints)
      : options.endpoints.map((e) => (typeof e === 'string' ? parseEndpoint(e) : e));
  // Bad TLS files are the caller's input error (exit 2), found before any member is asked.
  const clients = endpoints.map((endpoint) => new MemberClient(endpoint, options.connection));
  const probes = await Promise.all(clients.map(probeMember));
  const alarms = probes.find((p) => p.alarms !== undefined)?.alarms ?? [];
  const members = probes.map((probe) => toRow(probe, alarms, options));
  const leaderIds = new Set(members.filter((m) => m.leaderId && m.leaderId !== '0').map((m) => m.leaderId));
  const leaderId = leaderIds.size === 1 ? [...leaderIds][0] : undefined;
  const clusterId = probes.find((p) => p.status)?.status?.clusterId;
  const healthy = members.length > 0 && members.every((m) => m.health.ok) && leaderId !== undefined;
  return { clusterId, leaderId, healthy, members };
}

interface Probe {
  endpoint: Endpoint;
  status?: MemberStatus;
  statusError?: string;
  alarms?: ActiveAlarm[];
  healthError?: string;
  healthMs?: number;
}

async function probeMember(client: MemberClient): Promise<Probe> {
  const probe: Probe = { endpoint: client.endpoint };
  try {
    const [status, alarms, health] = await Promise.allSettled([
      client.status(),
      client.alarms(),
      (async () => {
        const started = performance.now();
        await client.healthRead();
        return performance.now() - started;
      })(),
    ]);
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

function toRow(probe: Probe, alarms: readonly ActiveAlarm[], options: StatusOptions): MemberStatusRow {
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
  const name = options.names?.get(probe.endpoint.display) ?? (s ? options.names?.get(s.memberId) : undefined);
  return {
    endpoint: probe.endpoint.display,
    id: s?.memberId,
    name,
    version: s?.version,
    storageVersion: s?.storageVersion,
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
  };
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
