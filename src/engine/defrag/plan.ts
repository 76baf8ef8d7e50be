/**
 * The pure half of a defrag: is the cluster fit for it (pre-flight), and in what order which
 * members get defragmented (the plan). No I/O here: inputs are status rows, alarms and the member
 * list; `defrag.ts` asks etcd and acts.
 */
import type { ActiveAlarm, ClusterMember } from '../../etcd/member-client.js';
import type { ClusterStatus, MemberStatusRow } from '../status.js';
import { ruleValues, type CompiledRule } from './rule.js';

/** Applied raft indexes may differ by this much between members and still count as caught up. */
export const DEFAULT_MAX_APPLIED_LAG = 1000;

/** A NOSPACE alarm is disarmed after a run once every member is below this share of its quota. */
export const NOSPACE_DISARM_BELOW = 0.9;

const MiB = 2 ** 20;

/**
 * The Defragment call's deadline, sized to the database: 60 s plus 10 s per started 100 MiB (an
 * 8 GiB member gets about 14.5 minutes). Never the command timeout: the call blocks until etcd
 * has rewritten the whole file.
 */
export function defragDeadlineMs(dbSize: number): number {
  return 60_000 + Math.ceil(Math.max(0, dbSize) / (100 * MiB)) * 10_000;
}

export type MemberRole = 'leader' | 'follower' | 'learner';

/** A member as reports name it: `etcd-1 (8e9e05c52164694d)`, or its endpoint when it has no name. */
export function memberLabel(row: {
  name?: string | undefined;
  endpoint: string;
  id?: string | undefined;
}): string {
  const base = row.name ?? row.endpoint;
  return row.id ? `${base} (${row.id})` : base;
}

export function roleOf(row: MemberStatusRow): MemberRole {
  if (row.isLearner) return 'learner';
  return row.isLeader ? 'leader' : 'follower';
}

export interface DefragHealth {
  readonly ok: boolean;
  readonly error: string | undefined;
  /** Unfit only because of an active alarm other than NOSPACE (pre-flight names those once, from the alarm list). */
  readonly alarmOnly: boolean;
}

/**
 * Whether a member is fit for a defrag run: reachable, serving linearizable reads, a leader known,
 * no error reported, no active alarm — where a NOSPACE alarm does not count (defrag is its cure).
 * etcd reports every alarm of the cluster among each member's errors (`memberID:… alarm:NOSPACE`);
 * those count as alarms, not as errors of that member.
 */
export function defragHealth(row: MemberStatusRow): DefragHealth {
  if (row.health.ok) return { ok: true, error: undefined, alarmOnly: false };
  const error = row.health.error ?? 'unhealthy';
  // The status engine names the first problem: the status call, the read, the member's alarms,
  // a missing leader, then the reported errors. Only the last three are judged again here.
  const derived =
    row.id !== undefined &&
    (error.startsWith('active alarm:') || error === 'no leader' || error === row.errors.join('; '));
  if (!derived) return { ok: false, error, alarmOnly: false };
  if (row.leaderId === undefined || row.leaderId === '0' || row.leaderId === '') {
    return { ok: false, error: 'no leader', alarmOnly: false };
  }
  const alarmText = /\balarm:\s*(\w+)/;
  const others = row.errors.filter((e) => !alarmText.test(e));
  if (others.length > 0) return { ok: false, error: others.join('; '), alarmOnly: false };
  const reported = row.errors.flatMap((e) => alarmText.exec(e)?.slice(1, 2) ?? []);
  const kinds = new Set([...row.alarms, ...reported]);
  const blocking = [...kinds].filter((k) => k !== 'NOSPACE');
  if (blocking.length > 0)
    return { ok: false, error: `active alarm: ${blocking.join(', ')}`, alarmOnly: true };
  return { ok: true, error: undefined, alarmOnly: false };
}

/** An endpoint or client URL without scheme and trailing slash, for comparing the two. */
function bareUrl(url: string): string {
  return url.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
}

/**
 * Cluster-wide: every member fit, one leader all agree on, applied indexes close. With
 * `alarmsApart`, members unfit only through an alarm are left to the caller (pre-flight reports
 * alarms from the alarm list, once each).
 */
export function clusterFitness(
  status: ClusterStatus,
  maxAppliedLag: number,
  alarmsApart = false,
): { ok: boolean; problems: string[]; appliedLag: number | undefined } {
  const problems: string[] = [];
  for (const row of status.members) {
    const health = defragHealth(row);
    if (!health.ok && !(alarmsApart && health.alarmOnly)) {
      problems.push(`${memberLabel(row)}: ${health.error ?? 'unhealthy'}`);
    }
  }
  if (status.members.length > 0 && problems.length === 0 && status.leaderId === undefined) {
    const seen = [...new Set(status.members.map((m) => m.leaderId ?? '?'))].join(', ');
    problems.push(`the members do not agree on a leader (they report ${seen})`);
  }
  const applied = status.members.map((m) => m.raftAppliedIndex).filter((v): v is number => v !== undefined);
  const newest = applied.length > 0 ? Math.max(...applied) : 0;
  const appliedLag = applied.length > 0 ? newest - Math.min(...applied) : undefined;
  if (appliedLag !== undefined && appliedLag > maxAppliedLag) {
    const behind = status.members
      .filter((m) => m.raftAppliedIndex !== undefined && newest - m.raftAppliedIndex > maxAppliedLag)
      .map((m) => `${memberLabel(m)} at ${m.raftAppliedIndex}`);
    problems.push(
      `raft applied indexes are ${appliedLag} apart (allowed: ${maxAppliedLag}); behind: ${behind.join(', ')} (newest ${newest})`,
    );
  }
  return { ok: problems.length === 0, problems, appliedLag };
}

export interface PreflightAlarm {
  readonly memberId: string;
  readonly member: string;
  readonly alarm: string;
}

export interface Preflight {
  readonly ok: boolean;
  /** Why the run may not start; each names the member or the alarm. */
  readonly problems: readonly string[];
  /** Worth knowing, not blocking (a single-member cluster, a NOSPACE alarm). */
  readonly warnings: readonly string[];
  readonly votingMembers: number;
  readonly appliedLag: number | undefined;
  readonly maxAppliedLag: number;
  /** Every active alarm in the cluster. */
  readonly alarms: readonly PreflightAlarm[];
  readonly members: readonly {
    readonly endpoint: string;
    readonly name: string | undefined;
    readonly id: string | undefined;
    readonly role: MemberRole | undefined;
    readonly healthy: boolean;
    readonly error: string | undefined;
    readonly raftAppliedIndex: number | undefined;
    readonly alarms: readonly string[];
  }[];
}

export interface PreflightInput {
  readonly status: ClusterStatus;
  /** The cluster's alarm list, or undefined when no member could be asked. */
  readonly alarms: readonly ActiveAlarm[] | undefined;
  /** The member list, or undefined when no member could be asked. */
  readonly memberList: readonly ClusterMember[] | undefined;
  readonly maxAppliedLag: number;
}

/**
 * Checks the cluster before anything is changed: every member reachable and healthy (NOSPACE
 * allowed), no CORRUPT or unknown alarm, the endpoints cover every member, applied indexes close,
 * and a quorum that survives one member being blocked. One member is allowed with a warning: it
 * has no quorum to protect (and no other way to be defragmented); two are refused.
 */
export function assessPreflight(input: PreflightInput): Preflight {
  const { status, maxAppliedLag } = input;
  const problems: string[] = [];
  const warnings: string[] = [];
  const byId = new Map(status.members.filter((m) => m.id).map((m) => [m.id as string, m]));
  const nameOf = (id: string) => {
    const row = byId.get(id);
    if (row) return memberLabel(row);
    const listed = input.memberList?.find((m) => m.id === id);
    return listed?.name ? `${listed.name} (${id})` : id;
  };

  const fitness = clusterFitness(status, maxAppliedLag, input.alarms !== undefined);
  problems.push(...fitness.problems);

  const alarms = (input.alarms ?? []).map((a) => ({
    memberId: a.memberId,
    member: nameOf(a.memberId),
    alarm: a.alarm,
  }));
  for (const a of alarms) {
    if (a.alarm === 'NOSPACE') {
      warnings.push(
        `NOSPACE alarm on ${a.member}: writes are refused until it is disarmed (after this run, once every member is below ${NOSPACE_DISARM_BELOW * 100}% of its quota)`,
      );
    } else if (a.alarm === 'CORRUPT') {
      problems.push(
        `CORRUPT alarm on ${a.member}: its data may differ from the others'; find out why (etcd's logs, hashkv) and resolve it before any defrag`,
      );
    } else {
      problems.push(`${a.alarm} alarm on ${a.member}: an alarm defrag does not know; resolve it first`);
    }
  }
  if (input.alarms === undefined && status.members.some((m) => m.id !== undefined)) {
    problems.push('could not read the alarm list from any member');
  }

  // Duplicate endpoints for one member, and members the endpoints leave out.
  const seen = new Map<string, string>();
  for (const row of status.members) {
    if (!row.id) continue;
    const earlier = seen.get(row.id);
    if (earlier)
      problems.push(`${earlier} and ${row.endpoint} are the same member (${row.id}); name each member once`);
    else seen.set(row.id, row.endpoint);
  }
  if (input.memberList) {
    // Members the endpoints leave out. An unreachable endpoint has no id: it stands for one of
    // them (it is reported as unreachable above), so only a surplus counts as left out.
    const unreachable = status.members.filter((m) => m.id === undefined).map((m) => bareUrl(m.endpoint));
    const missing = input.memberList.filter(
      (m) => !byId.has(m.id) && !m.clientUrls.some((u) => unreachable.includes(bareUrl(u))),
    );
    const unaccounted = input.memberList.filter((m) => !byId.has(m.id)).length - unreachable.length;
    if (missing.length > 0 && unaccounted > 0) {
      const list = missing.map(
        (m) => `${m.name || m.id} (${m.clientUrls.join(', ') || 'no client URL yet'})`,
      );
      problems.push(
        `the endpoints cover ${input.memberList.length - unaccounted} of ${input.memberList.length} members; not given: ${list.join(', ')}`,
      );
    }
  }

  const voting = input.memberList
    ? input.memberList.filter((m) => !m.isLearner).length
    : status.members.filter((m) => m.isLearner !== true).length;
  if (voting === 2) {
    problems.push(
      'a 2-member cluster loses its quorum while either member is defragmented (writes stop); add a third member first',
    );
  } else if (voting === 1) {
    warnings.push(
      'a single-member cluster cannot serve while it is defragmented: reads and writes wait until it is done',
    );
  }

  const members = status.members.map((row) => {
    const health = defragHealth(row);
    return {
      endpoint: row.endpoint,
      name: row.name,
      id: row.id,
      role: row.id === undefined ? undefined : roleOf(row),
      healthy: health.ok,
      error: health.error,
      raftAppliedIndex: row.raftAppliedIndex,
      alarms: row.alarms,
    };
  });
  return {
    ok: problems.length === 0,
    problems,
    warnings,
    votingMembers: voting,
    appliedLag: fitness.appliedLag,
    maxAppliedLag,
    alarms,
    members,
  };
}

/** One member in the plan, with the rule's values and verdict. */
export interface PlannedMember {
  /** 1-based position in the run. */
  readonly order: number;
  readonly endpoint: string;
  readonly name: string | undefined;
  readonly id: string;
  readonly role: MemberRole;
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  readonly dbSizeFree: number;
  readonly dbQuota: number;
  readonly dbQuotaSource: 'member' | 'spec' | 'default';
  /** dbSize / dbQuota, a ratio (0.85 = 85 %). */
  readonly dbQuotaUsage: number;
  readonly ruleHolds: boolean;
  readonly action: 'defragment' | 'skip';
  /** What a defrag would give back, ≈ dbSize − dbSizeInUse (0 when skipped). */
  readonly wouldReclaim: number;
}

/**
 * Orders the members and evaluates the rule for each: learners, then followers (in the order
 * given), the leader last. Members without a status are left out (pre-flight names them).
 */
export function buildPlan(status: ClusterStatus, rule: CompiledRule): PlannedMember[] {
  const rank: Record<MemberRole, number> = { learner: 0, follower: 1, leader: 2 };
  const rows = status.members
    .filter((m) => m.id !== undefined && m.dbSize !== undefined && m.dbSizeInUse !== undefined)
    .map((row, index) => ({ row, index, role: roleOf(row) }))
    .sort((a, b) => rank[a.role] - rank[b.role] || a.index - b.index);
  return rows.map(({ row, role }, i) => {
    const values = ruleValues(row.dbSize as number, row.dbSizeInUse as number, row.quota);
    const holds = rule.holds(values, memberLabel(row));
    return {
      order: i + 1,
      endpoint: row.endpoint,
      name: row.name,
      id: row.id as string,
      role,
      dbSize: values.dbSize,
      dbSizeInUse: values.dbSizeInUse,
      dbSizeFree: values.dbSizeFree,
      dbQuota: values.dbQuota,
      dbQuotaSource: row.quotaSource,
      dbQuotaUsage: Math.round(values.dbQuotaUsage * 10_000) / 10_000,
      ruleHolds: holds,
      action: holds ? 'defragment' : 'skip',
      wouldReclaim: holds ? values.dbSizeFree : 0,
    };
  });
}

/**
 * Who takes over leadership from `leaderId`: a healthy voting member, caught up, preferring one
 * that is already done (so it need not hand leadership on again), then the highest applied index.
 */
export function chooseTransferee(
  status: ClusterStatus,
  leaderId: string,
  done: ReadonlySet<string>,
  maxAppliedLag: number,
): MemberStatusRow | undefined {
  const leader = status.members.find((m) => m.id === leaderId);
  const newest = Math.max(...status.members.map((m) => m.raftAppliedIndex ?? 0));
  const candidates = status.members.filter(
    (m) =>
      m.id !== undefined &&
      m.id !== leaderId &&
      m.isLearner === false &&
      defragHealth(m).ok &&
      m.raftAppliedIndex !== undefined &&
      newest - m.raftAppliedIndex <= maxAppliedLag &&
      (leader?.raftAppliedIndex === undefined ||
        leader.raftAppliedIndex - m.raftAppliedIndex <= maxAppliedLag),
  );
  candidates.sort(
    (a, b) =>
      Number(done.has(b.id as string)) - Number(done.has(a.id as string)) ||
      (b.raftAppliedIndex ?? 0) - (a.raftAppliedIndex ?? 0),
  );
  return candidates[0];
}
