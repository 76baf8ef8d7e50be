/**
 * A rolling defrag that does not hurt the cluster: pre-flight checks, an optional compaction,
 * then one member at a time — learners and followers first, leadership handed to a healthy,
 * caught-up follower before the leader's turn — waiting after each until every member is healthy
 * and caught up again; NOSPACE alarms disarmed at the end when every member is well below its
 * quota; every run recorded. The order and the rule are in `plan.ts` / `rule.ts`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { formatBytes } from '../../config/units.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import {
  MemberClient,
  type ActiveAlarm,
  type ClusterMember,
  type ConnectionOptions,
} from '../../etcd/member-client.js';
import { describeError } from '../../errors.js';
import {
  DEFAULT_MAX_APPLIED_LAG,
  NOSPACE_DISARM_BELOW,
  assessPreflight,
  buildPlan,
  chooseTransferee,
  clusterFitness,
  defragDeadlineMs,
  memberLabel,
  type MemberRole,
  type PlannedMember,
  type Preflight,
  type PreflightAlarm,
} from './plan.js';
import { appendDefragHistory, defragHistoryFile, type HistoryPlace } from './history.js';
import type { CompiledRule } from './rule.js';
import { clusterStatus, type ClusterStatus, type MemberStatusRow } from '../status.js';

export interface DefragOptions {
  /** A comma-separated list, or endpoints one by one: every member of the cluster. */
  readonly endpoints: string | readonly string[];
  readonly connection: ConnectionOptions;
  /** Quota to assume when a member does not report its own (etcd < 3.6). */
  readonly specQuota?: number | undefined;
  /** Member names by client URL, when known (the local runtime knows them). */
  readonly names?: ReadonlyMap<string, string> | undefined;
  /** The spec's cluster name, when there is a spec. */
  readonly clusterName?: string | undefined;
  readonly rule: CompiledRule;
  /** Check and plan only; change nothing, record nothing. */
  readonly dryRun?: boolean;
  /** Compact to the current revision (physically) before planning. */
  readonly compact?: boolean;
  /** Go on with the next member when one member's defrag fails (never when the cluster is unhealthy). */
  readonly continueOnError?: boolean;
  /** Largest difference of applied raft indexes that still counts as caught up (default 1000). */
  readonly maxAppliedLag?: number;
  /** How long to wait for the cluster to be healthy and caught up after each member (default 60 s). */
  readonly settleTimeoutMs?: number;
  /** Where to record the run; false: do not record. */
  readonly history?: HistoryPlace | false;
  /** Progress for people, one line per step. */
  readonly onProgress?: (message: string) => void;
  /**
   * Aborting stops the run before the next member (a Defragment call under way is etcd's to
   * finish; the run waits for it and for the cluster to settle).
   */
  readonly signal?: AbortSignal | undefined;
}

export type MemberOutcome = 'defragmented' | 'skipped:rule' | 'skipped:stopped' | 'failed';

export interface MemberRef {
  readonly id: string;
  readonly name: string | undefined;
  readonly endpoint: string;
}

export interface MemberResult extends MemberRef {
  /** The member's role in the plan. */
  readonly role: MemberRole;
  readonly outcome: MemberOutcome;
  readonly dbSizeBefore: number;
  /** After its defrag (defragmented, failed) or at the end of the run (skipped). */
  readonly dbSizeAfter: number | undefined;
  readonly dbSizeInUseAfter: number | undefined;
  /** dbSizeBefore − dbSizeAfter, for defragmented members. */
  readonly reclaimed: number | undefined;
  /** The Defragment call itself. */
  readonly durationMs: number | undefined;
  /** Waiting afterwards until the cluster was healthy and caught up again. */
  readonly settleMs: number | undefined;
  readonly deadlineMs: number | undefined;
  /** Leadership handed to this member (id) just before this member's defrag. */
  readonly leadershipMovedTo: string | undefined;
  readonly startedAt: string | undefined;
  readonly finishedAt: string | undefined;
  readonly error: string | undefined;
}

export interface LeadershipMove {
  readonly from: MemberRef;
  readonly to: MemberRef;
  /** The member whose defrag needed it (the former leader). */
  readonly before: string;
  readonly at: string;
  readonly tookMs: number;
}

export interface DefragReport {
  readonly format: 1;
  readonly kind: 'defrag';
  readonly cluster: { readonly name: string | undefined; readonly id: string | undefined };
  /** planned (dry run), done, failed (a member failed or the cluster did not recover), refused (pre-flight). */
  readonly outcome: 'planned' | 'done' | 'failed' | 'refused';
  readonly ok: boolean;
  readonly dryRun: boolean;
  readonly rule: string;
  readonly continueOnError: boolean;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly preflight: Preflight;
  readonly compaction: CompactionResult | undefined;
  readonly plan: readonly PlannedMember[];
  readonly results: readonly MemberResult[];
  readonly leadershipMoves: readonly LeadershipMove[];
  readonly alarmsDisarmed: readonly PreflightAlarm[];
  /** Alarms still active at the end, with why a NOSPACE one was left. */
  readonly alarmsLeft: readonly (PreflightAlarm & { readonly reason: string })[];
  /** Sum of `reclaimed` over defragmented members. */
  readonly reclaimed: number;
  /** Why the run was refused or failed. */
  readonly error: string | undefined;
  readonly historyFile: string | undefined;
}

export interface CompactionResult {
  readonly requested: true;
  /** The revision compacted to (undefined in a dry run: it would be the revision at run time). */
  readonly revision: number | undefined;
  readonly tookMs: number | undefined;
  readonly note: string | undefined;
}

const POLL_MS = 250;
const MiB = 2 ** 20;

/** Runs (or, with dryRun, plans) a defrag. Never throws for what etcd does; only for bad input. */
export async function runDefrag(options: DefragOptions): Promise<DefragReport> {
  const run = new DefragRun(options);
  try {
    return await run.execute();
  } finally {
    run.close();
  }
}

class DefragRun {
  private readonly o: DefragOptions;
  private readonly lag: number;
  private readonly settleMs: number;
  private readonly clients = new Map<string, MemberClient>();
  private readonly started = new Date();
  private readonly results: MemberResult[] = [];
  private readonly moves: LeadershipMove[] = [];

  constructor(options: DefragOptions) {
    this.o = options;
    this.lag = options.maxAppliedLag ?? DEFAULT_MAX_APPLIED_LAG;
    this.settleMs = options.settleTimeoutMs ?? 60_000;
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
  }

  private progress(message: string): void {
    this.o.onProgress?.(message);
  }

  private status(): Promise<ClusterStatus> {
    return clusterStatus({
      endpoints: this.o.endpoints,
      connection: this.o.connection,
      specQuota: this.o.specQuota,
      names: this.o.names,
    });
  }

  private client(row: { endpoint: string }): MemberClient {
    let client = this.clients.get(row.endpoint);
    if (!client) {
      client = new MemberClient(parseEndpoint(row.endpoint), this.o.connection);
      this.clients.set(row.endpoint, client);
    }
    return client;
  }

  /** The members to ask cluster-wide questions: the leader first, then the other healthy ones. */
  private askable(status: ClusterStatus): MemberStatusRow[] {
    return status.members
      .filter((m) => m.id !== undefined)
      .sort((a, b) => Number(b.isLeader === true) - Number(a.isLeader === true));
  }

  private async alarmsAndMembers(
    status: ClusterStatus,
  ): Promise<{ alarms: ActiveAlarm[] | undefined; memberList: ClusterMember[] | undefined }> {
    let alarms: ActiveAlarm[] | undefined;
    let memberList: ClusterMember[] | undefined;
    for (const row of this.askable(status)) {
      const client = this.client(row);
      alarms ??= await client.alarms().catch(() => undefined);
      memberList ??= await client.memberList().catch(() => undefined);
      if (alarms && memberList) break;
    }
    return { alarms, memberList };
  }

  async execute(): Promise<DefragReport> {
    const o = this.o;
    let status = await this.status();
    const { alarms, memberList } = await this.alarmsAndMembers(status);
    const preflight = assessPreflight({ status, alarms, memberList, maxAppliedLag: this.lag });
    // Evaluated before anything changes, so a rule that fails for a member stops the run untouched.
    let plan = buildPlan(status, o.rule);
    const clusterId = status.clusterId;
    if (!preflight.ok) {
      return this.finish({
        outcome: 'refused',
        clusterId,
        preflight,
        plan,
        compaction: o.compact
          ? { requested: true, revision: undefined, tookMs: undefined, note: 'not done: refused' }
          : undefined,
        error: `refusing to defrag: ${preflight.problems.join('; ')}`,
      });
    }
    if (o.dryRun) {
      return this.finish({
        outcome: 'planned',
        clusterId,
        preflight,
        plan,
        compaction: o.compact
          ? {
              requested: true,
              revision: undefined,
              tookMs: undefined,
              note: 'a real run compacts first; the sizes in use would then be smaller',
            }
          : undefined,
        error: undefined,
      });
    }

    let compaction: CompactionResult | undefined;
    if (o.compact) {
      compaction = await this.compact(status);
      if (compaction.note?.startsWith('failed')) {
        return this.finish({
          outcome: 'failed',
          clusterId,
          preflight,
          plan,
          compaction,
          error: `compaction ${compaction.note}`,
        });
      }
      status = await this.afterCompaction(this.askable(status)[0] as MemberStatusRow);
      plan = buildPlan(status, o.rule);
    }

    const done = new Set<string>();
    let stopped: string | undefined;
    for (const member of plan) {
      if (!member.ruleHolds) {
        this.results.push(this.result(member, 'skipped:rule', {}));
        continue;
      }
      if (stopped === undefined && o.signal?.aborted) stopped = 'interrupted';
      if (stopped !== undefined) {
        this.results.push(this.result(member, 'skipped:stopped', { error: `not reached: ${stopped}` }));
        continue;
      }
      const outcome = await this.defragMember(member, done);
      this.results.push(outcome.result);
      done.add(member.id);
      if (outcome.stop) stopped = `the run stopped after ${memberLabel(member)} failed`;
    }

    // Sizes at the end for members that were skipped, then the NOSPACE alarms.
    const final = await this.status();
    for (let i = 0; i < this.results.length; i += 1) {
      const r = this.results[i] as MemberResult;
      if (r.outcome === 'skipped:rule' || r.outcome === 'skipped:stopped') {
        const row = final.members.find((m) => m.id === r.id);
        this.results[i] = { ...r, dbSizeAfter: row?.dbSize, dbSizeInUseAfter: row?.dbSizeInUse };
      }
    }
    const alarmsEnd = await this.settleAlarms(final);
    const failed = this.results.filter((r) => r.outcome === 'failed');
    const problems = failed.map((r) => `${memberLabel(r)}: ${r.error ?? 'failed'}`);
    if (stopped === 'interrupted') problems.push('interrupted before every member was done');
    return this.finish({
      outcome: problems.length > 0 ? 'failed' : 'done',
      clusterId,
      preflight,
      plan,
      compaction,
      error: problems.length > 0 ? problems.join('; ') : undefined,
      ...alarmsEnd,
    });
  }

  private async compact(status: ClusterStatus): Promise<CompactionResult> {
    const leader = this.askable(status)[0] as MemberStatusRow;
    const client = this.client(leader);
    const started = performance.now();
    let revision: number | undefined;
    try {
      revision = (await client.countKeys()).revision;
      this.progress(`compacting to revision ${revision} (physical) through ${memberLabel(leader)}`);
      await client.compact(revision, true, defragDeadlineMs(leader.dbSize ?? 0));
      return { requested: true, revision, tookMs: Math.round(performance.now() - started), note: undefined };
    } catch (error) {
      const text = describeError(error);
      if (/has been compacted/i.test(text)) {
        return {
          requested: true,
          revision,
          tookMs: Math.round(performance.now() - started),
          note: 'already compacted to this revision',
        };
      }
      return {
        requested: true,
        revision,
        tookMs: Math.round(performance.now() - started),
        note: `failed: ${text}`,
      };
    }
  }

  /**
   * The other members compact on their own a moment after the one asked, and bbolt releases the
   * pages a compaction freed only when the member's next write begins: right after a compaction
   * etcd can report most of the old size as still in use. So, for the rule to see the real free
   * space, write something that leaves nothing behind — a lease granted and revoked, two raft
   * entries every member applies — and read the sizes again, until no member's size in use has
   * dropped by more than 1 MiB for two rounds in a row (one write often frees only part of it):
   * 3 to 8 rounds, at most about 4 s.
   */
  private async afterCompaction(leader: MemberStatusRow): Promise<ClusterStatus> {
    let previous = await this.status();
    let quiet = 0;
    for (let round = 0; round < 8; round += 1) {
      try {
        const lease = await this.client(leader).grantLease(60);
        await this.client(leader).revokeLease(lease);
      } catch {
        // Only a nudge: without it the sizes are merely less fresh.
      }
      await sleep(POLL_MS);
      const current = await this.status();
      const dropping = current.members.some((m) => {
        const was = previous.members.find((p) => p.endpoint === m.endpoint)?.dbSizeInUse;
        return was !== undefined && m.dbSizeInUse !== undefined && was - m.dbSizeInUse > MiB;
      });
      quiet = dropping ? 0 : quiet + 1;
      if (quiet >= 2 && round >= 2 && clusterFitness(current, this.lag).ok) return current;
      previous = current;
    }
    return previous;
  }

  /** Polls until `ready` holds for a status (returns it), or the settle timeout passes (returns the last problems). */
  private async waitFor(
    ready: (s: ClusterStatus) => string[],
  ): Promise<
    | { ok: true; status: ClusterStatus; tookMs: number }
    | { ok: false; status: ClusterStatus | undefined; problems: string[]; tookMs: number }
  > {
    const started = performance.now();
    let last: ClusterStatus | undefined;
    let problems: string[];
    do {
      last = await this.status();
      problems = ready(last);
      if (problems.length === 0)
        return { ok: true, status: last, tookMs: Math.round(performance.now() - started) };
      await sleep(POLL_MS);
    } while (performance.now() - started < this.settleMs);
    return { ok: false, status: last, problems, tookMs: Math.round(performance.now() - started) };
  }

  private fit = (s: ClusterStatus): string[] => clusterFitness(s, this.lag).problems;

  private async defragMember(
    member: PlannedMember,
    done: ReadonlySet<string>,
  ): Promise<{ result: MemberResult; stop: boolean }> {
    const label = memberLabel(member);
    const startedAt = new Date().toISOString();
    const fail = (error: string, extra: Partial<MemberResult> = {}) => ({
      result: this.result(member, 'failed', {
        startedAt,
        finishedAt: new Date().toISOString(),
        error,
        ...extra,
      }),
      stop: true,
    });

    // Health again before every member, not only before the first.
    const before = await this.status();
    const problems = this.fit(before);
    if (problems.length > 0)
      return fail(`the cluster is not healthy before its turn: ${problems.join('; ')}`);
    const row = before.members.find((m) => m.id === member.id);
    if (!row || row.dbSize === undefined) return fail('it no longer reports its status');

    let movedTo: string | undefined;
    // A single voting member has no one to hand leadership to: it is defragmented in place
    // (pre-flight warned that it serves nothing meanwhile).
    const voters = before.members.filter((m) => m.isLearner === false).length;
    if (row.isLeader && voters > 1) {
      const target = chooseTransferee(before, member.id, done, this.lag);
      if (!target?.id) return fail('it is the leader and no healthy, caught-up voting member can take over');
      const to = ref(target);
      this.progress(`moving leadership from ${label} to ${memberLabel(target)}`);
      const moveStarted = performance.now();
      try {
        await this.client(row).moveLeader(
          to.id,
          this.o.connection.dialTimeoutMs + this.o.connection.commandTimeoutMs + 10_000,
        );
      } catch (error) {
        return fail(`handing leadership to ${memberLabel(target)} failed: ${describeError(error)}`);
      }
      const moved = await this.waitFor((s) =>
        s.leaderId === to.id ? this.fit(s) : [`the leader is ${s.leaderId ?? 'unknown'}, not ${to.id} yet`],
      );
      if (!moved.ok) {
        return fail(
          `leadership did not settle on ${memberLabel(target)} within ${this.settleMs} ms: ${moved.problems.join('; ')}`,
        );
      }
      this.moves.push({
        from: ref(member),
        to,
        before: member.id,
        at: new Date().toISOString(),
        tookMs: Math.round(performance.now() - moveStarted),
      });
      movedTo = to.id;
    }

    const sizeBefore = row.dbSize;
    const deadlineMs = defragDeadlineMs(sizeBefore);
    this.progress(
      `defragmenting ${label} (${member.role}, ${formatBytes(sizeBefore)}, deadline ${Math.round(deadlineMs / 1000)} s)`,
    );
    const callStarted = performance.now();
    let error: string | undefined;
    try {
      await this.client(row).defragment(deadlineMs);
    } catch (e) {
      error = describeError(e);
    }
    const durationMs = Math.round(performance.now() - callStarted);
    // Healthy and caught up again before the next member.
    const settled = await this.waitFor(this.fit);
    const after = settled.status?.members.find((m) => m.id === member.id);
    const common = {
      startedAt,
      finishedAt: new Date().toISOString(),
      dbSizeBefore: sizeBefore,
      dbSizeAfter: after?.dbSize,
      dbSizeInUseAfter: after?.dbSizeInUse,
      durationMs,
      settleMs: settled.tookMs,
      deadlineMs,
      leadershipMovedTo: movedTo,
    };
    if (error !== undefined) {
      const recovered = settled.ok
        ? ''
        : `; and the cluster was not healthy within ${this.settleMs} ms: ${settled.problems.join('; ')}`;
      return {
        result: this.result(member, 'failed', { ...common, error: `${error}${recovered}` }),
        stop: !settled.ok || this.o.continueOnError !== true,
      };
    }
    if (!settled.ok) {
      return {
        result: this.result(member, 'failed', {
          ...common,
          error: `defragmented, but the cluster was not healthy and caught up within ${this.settleMs} ms: ${settled.problems.join('; ')}`,
        }),
        stop: true,
      };
    }
    const reclaimed = after?.dbSize === undefined ? undefined : sizeBefore - after.dbSize;
    this.progress(
      `${label}: ${formatBytes(sizeBefore)} → ${after?.dbSize === undefined ? '?' : formatBytes(after.dbSize)} in ${durationMs} ms`,
    );
    return { result: this.result(member, 'defragmented', { ...common, reclaimed }), stop: false };
  }

  /** Disarms NOSPACE alarms when every member is fit and below 90 % of its quota. */
  private async settleAlarms(
    final: ClusterStatus,
  ): Promise<{ alarmsDisarmed: PreflightAlarm[]; alarmsLeft: (PreflightAlarm & { reason: string })[] }> {
    const { alarms } = await this.alarmsAndMembers(final);
    const label = (id: string) => {
      const row = final.members.find((m) => m.id === id);
      return row ? memberLabel(row) : id;
    };
    const disarmed: PreflightAlarm[] = [];
    const left: (PreflightAlarm & { reason: string })[] = [];
    const problems = this.fit(final);
    const full = final.members.filter(
      (m) => m.dbSize === undefined || m.dbSize >= NOSPACE_DISARM_BELOW * m.quota,
    );
    for (const a of alarms ?? []) {
      const alarm = { memberId: a.memberId, member: label(a.memberId), alarm: a.alarm };
      if (a.alarm !== 'NOSPACE') {
        left.push({ ...alarm, reason: 'only NOSPACE alarms are disarmed by defrag' });
      } else if (problems.length > 0) {
        left.push({ ...alarm, reason: `the cluster is not healthy: ${problems.join('; ')}` });
      } else if (full.length > 0) {
        const over = full.map((m) =>
          m.dbSize === undefined
            ? `${memberLabel(m)}: size unknown`
            : `${memberLabel(m)} at ${Math.round((m.dbSize / m.quota) * 1000) / 10}% of its quota`,
        );
        left.push({
          ...alarm,
          reason: `not every member is below ${NOSPACE_DISARM_BELOW * 100}% of its quota (${over.join(', ')})`,
        });
      } else {
        const asker = this.askable(final)[0] as MemberStatusRow;
        try {
          await this.client(asker).deactivateAlarm(a.memberId, 'NOSPACE');
          this.progress(`disarmed the NOSPACE alarm of ${alarm.member}`);
          disarmed.push(alarm);
        } catch (error) {
          left.push({ ...alarm, reason: `disarming failed: ${describeError(error)}` });
        }
      }
    }
    return { alarmsDisarmed: disarmed, alarmsLeft: left };
  }

  private result(member: PlannedMember, outcome: MemberOutcome, extra: Partial<MemberResult>): MemberResult {
    return {
      id: member.id,
      name: member.name,
      endpoint: member.endpoint,
      role: member.role,
      outcome,
      dbSizeBefore: member.dbSize,
      dbSizeAfter: undefined,
      dbSizeInUseAfter: undefined,
      reclaimed: undefined,
      durationMs: undefined,
      settleMs: undefined,
      deadlineMs: undefined,
      leadershipMovedTo: undefined,
      startedAt: undefined,
      finishedAt: undefined,
      error: undefined,
      ...extra,
    };
  }

  private async finish(parts: {
    outcome: DefragReport['outcome'];
    clusterId: string | undefined;
    preflight: Preflight;
    plan: readonly PlannedMember[];
    compaction: CompactionResult | undefined;
    error: string | undefined;
    alarmsDisarmed?: PreflightAlarm[];
    alarmsLeft?: (PreflightAlarm & { reason: string })[];
  }): Promise<DefragReport> {
    const o = this.o;
    const finished = new Date();
    const record = o.dryRun !== true && o.history !== false && o.history !== undefined;
    const historyFile = record ? defragHistoryFile(o.history, parts.clusterId) : undefined;
    const report: DefragReport = {
      format: 1,
      kind: 'defrag',
      cluster: { name: o.clusterName, id: parts.clusterId },
      outcome: parts.outcome,
      ok: parts.outcome === 'done' || parts.outcome === 'planned',
      dryRun: o.dryRun === true,
      rule: o.rule.source,
      continueOnError: o.continueOnError === true,
      startedAt: this.started.toISOString(),
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - this.started.getTime(),
      preflight: parts.preflight,
      compaction: parts.compaction,
      plan: parts.plan,
      results: this.results,
      leadershipMoves: this.moves,
      alarmsDisarmed: parts.alarmsDisarmed ?? [],
      alarmsLeft:
        parts.alarmsLeft ??
        parts.preflight.alarms.map((a) => ({
          ...a,
          reason: parts.outcome === 'planned' ? 'dry run' : 'the run did not get that far',
        })),
      reclaimed: this.results.reduce(
        (sum, r) => sum + (r.outcome === 'defragmented' ? (r.reclaimed ?? 0) : 0),
        0,
      ),
      error: parts.error,
      historyFile,
    };
    if (historyFile) {
      try {
        await appendDefragHistory(historyFile, report);
      } catch (error) {
        this.progress(`warning: could not record the run in ${historyFile}: ${describeError(error)}`);
      }
    }
    return report;
  }
}

function ref(row: { id?: string | undefined; name?: string | undefined; endpoint: string }): MemberRef {
  return { id: row.id ?? '', name: row.name, endpoint: row.endpoint };
}
