/**
 * Bench rows for availability during a defrag: on a fragmented database (junk written, deleted
 * and compacted away, so ≥ the junk's size is free on every member), a load client (load.ts)
 * puts and reads at a fixed rate against all three members while (a) `etcd-steward defrag` and
 * (b) `etcdctl defrag --cluster` run, after an idle baseline of the same length. Which member is
 * defragmented when comes from the members' own logs ("defragmenting" … "finished defragmenting
 * directory"); leader and raft term are polled from every member. A second client, routing only
 * to members whose gRPC health is SERVING, runs beside the plain one and shows whether the
 * members' NOT_SERVING during defrag (etcd.stopGrpcServiceOnDefrag) keeps requests off them.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../etcd/member-client.js';
import type { EtcdBinaries } from '../runtime/etcd-binaries.js';
import { HealthWatcher } from './health.js';
import { LoadClient, wallNow, type RequestSample } from './load.js';
import { mib, seconds, type BenchRow } from './measure.js';
import { runMeasured } from './rss.js';

export interface DefragBenchContext {
  readonly binaries: EtcdBinaries;
  readonly cli: string;
  /** The bench cluster's spec file (local runtime): our defrag finds members and names through it. */
  readonly specFile: string;
  readonly endpoints: readonly string[];
  /** Member log files by client URL. */
  readonly logs: ReadonlyMap<string, string>;
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  /** Junk written and deleted before each defrag. */
  readonly junkBytes: number;
  /** Requests per second of each load client. */
  readonly rate: number;
  /** The load clients' deadline per request. */
  readonly deadlineMs: number;
  readonly log: (message: string) => void;
}

interface Window {
  readonly endpoint: string;
  readonly start: number;
  readonly end: number;
}

interface TermSample {
  readonly at: number;
  readonly leaderId: string;
  readonly term: number;
}

export interface PhaseResult {
  readonly name: string;
  readonly totalMs: number;
  readonly dbBefore: number;
  readonly dbAfter: number;
  readonly windows: readonly Window[];
  readonly plain: readonly RequestSample[];
  readonly healthChecked: readonly RequestSample[];
  readonly terms: readonly TermSample[];
  /** MoveLeader calls our defrag made (planned elections). */
  readonly plannedMoves: number;
  readonly from: number;
  readonly to: number;
}

const JUNK_VALUE = 64 * 1024;

/** Writes `bytes` of junk, deletes it and compacts; returns once every member shows it free. */
export async function fragment(ctx: DefragBenchContext, clients: readonly MemberClient[]): Promise<void> {
  const leader = await leaderClient(clients);
  const count = Math.ceil(ctx.junkBytes / JUNK_VALUE);
  const value = Buffer.alloc(JUNK_VALUE, 'j');
  const started = performance.now();
  let i = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (i < count) await leader.put(`/bench-frag/${String(i++).padStart(7, '0')}`, value);
    }),
  );
  const { revision } = await leader.delete('/bench-frag/', { prefix: true });
  await leader.compact(revision, true, 600_000);
  for (let round = 0; ; round += 1) {
    const sizes = await Promise.all(clients.map((c) => c.status()));
    if (sizes.every((s) => s.dbSize - s.dbSizeInUse >= ctx.junkBytes * 0.8)) {
      ctx.log(
        `defrag: ${count} junk values written, deleted and compacted in ${seconds(performance.now() - started)}; ` +
          `db ${sizes.map((s) => `${mib(s.dbSize)} (${mib(s.dbSize - s.dbSizeInUse)} free)`).join(', ')}`,
      );
      return;
    }
    if (round > 150) throw new Error(`members did not show the junk as free: ${JSON.stringify(sizes)}`);
    // bbolt frees what a compaction released at the member's next write.
    await leader.revokeLease(await leader.grantLease(60));
    await sleep(200);
  }
}

async function leaderClient(clients: readonly MemberClient[]): Promise<MemberClient> {
  for (const c of clients) {
    const s = await c.status();
    if (s.leaderId === s.memberId) return c;
  }
  return clients[0] as MemberClient;
}

/** The defrag windows the members logged between `from` and `to` (wall-clock ms). */
export async function defragWindows(
  logs: ReadonlyMap<string, string>,
  from: number,
  to: number,
): Promise<Window[]> {
  const windows: Window[] = [];
  for (const [endpoint, file] of logs) {
    const text = await readFile(file, 'utf8').catch(() => '');
    let start: number | undefined;
    for (const line of text.split('\n')) {
      if (!line.includes('defragmenting')) continue;
      let entry: { ts?: string; msg?: string };
      try {
        entry = JSON.parse(line) as { ts?: string; msg?: string };
      } catch {
        continue;
      }
      const at = Date.parse(entry.ts ?? '');
      if (!Number.isFinite(at) || at < from - 1000 || at > to + 1000) continue;
      if (entry.msg === 'defragmenting') start = at;
      else if (entry.msg === 'finished defragmenting directory' && start !== undefined) {
        windows.push({ endpoint, start, end: at });
        start = undefined;
      }
    }
  }
  return windows.sort((a, b) => a.start - b.start);
}

/** Runs the two load clients (plain and health-checking) and the term poller around `action`. */
export async function measurePhase(
  ctx: DefragBenchContext,
  clients: readonly MemberClient[],
  name: string,
  action: () => Promise<{ plannedMoves: number }>,
): Promise<PhaseResult> {
  const connection: ConnectionOptions = { dialTimeoutMs: 2000, commandTimeoutMs: ctx.deadlineMs };
  const health = new HealthWatcher(ctx.endpoints, connection);
  const plain = new LoadClient({
    endpoints: ctx.endpoints,
    connection,
    rate: ctx.rate,
    keyPrefix: '/bench-load/p',
  });
  const checked = new LoadClient({
    endpoints: ctx.endpoints,
    connection,
    rate: ctx.rate,
    keyPrefix: '/bench-load/h',
    health,
  });
  const pollers = ctx.endpoints.map(
    (e) => new MemberClient(parseEndpoint(e), { dialTimeoutMs: 1000, commandTimeoutMs: 1000 }),
  );
  const terms: TermSample[] = [];
  let polling = true;
  const poll = (async () => {
    while (polling) {
      await Promise.all(
        pollers.map((p) =>
          p.status().then(
            (s) => terms.push({ at: wallNow(), leaderId: s.leaderId, term: s.raftTerm }),
            () => undefined,
          ),
        ),
      );
      await sleep(300);
    }
  })();
  try {
    await plain.warmUp();
    await checked.warmUp();
    const dbBefore = Math.max(...(await Promise.all(clients.map((c) => c.status()))).map((s) => s.dbSize));
    plain.start();
    checked.start();
    await sleep(2000);
    const from = wallNow();
    const { plannedMoves } = await action();
    const to = wallNow();
    await sleep(2000);
    const plainSamples = await plain.stop();
    const checkedSamples = await checked.stop();
    polling = false;
    await poll;
    const dbAfter = Math.max(...(await Promise.all(clients.map((c) => c.status()))).map((s) => s.dbSize));
    const windows = await defragWindows(ctx.logs, from, to);
    ctx.log(
      `defrag: ${name}: ${seconds(to - from)}, windows ${windows
        .map((w) => `${w.endpoint} ${seconds(w.end - w.start)}`)
        .join(', ')}; health changes ${health.changes.length}`,
    );
    return {
      name,
      totalMs: to - from,
      dbBefore,
      dbAfter,
      windows,
      plain: plainSamples,
      healthChecked: checkedSamples,
      terms,
      plannedMoves,
      from,
      to,
    };
  } finally {
    polling = false;
    health.close();
    plain.close();
    checked.close();
    for (const p of pollers) p.close();
  }
}

/** Our defrag through the spec, every member (rule: anything free), JSON out. */
export async function runOurs(ctx: DefragBenchContext): Promise<{ plannedMoves: number }> {
  const run = await runMeasured(
    process.execPath,
    [ctx.cli, '--config', ctx.specFile, 'defrag', '--rule', 'dbSizeFree > 1MiB', '-o', 'json'],
    { env: ctx.env, cwd: ctx.dir },
  );
  const report = JSON.parse(run.stdout) as { ok: boolean; leadershipMoves: unknown[]; error?: string };
  if (!report.ok) throw new Error(`etcd-steward defrag failed: ${report.error ?? run.stdout}`);
  return { plannedMoves: report.leadershipMoves.length };
}

/** `etcdctl defrag --cluster`, with a command timeout long enough for a large database. */
export async function runEtcdctl(ctx: DefragBenchContext): Promise<{ plannedMoves: number }> {
  await runMeasured(
    ctx.binaries.etcdctl,
    [`--endpoints=${ctx.endpoints[0] ?? ''}`, '--command-timeout=10m', 'defrag', '--cluster'],
    { env: ctx.env, cwd: ctx.dir },
  );
  return { plannedMoves: 0 };
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

export interface Split {
  readonly count: number;
  readonly failed: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

function split(samples: readonly RequestSample[]): Split {
  const ms = samples.map((s) => s.ms);
  return {
    count: samples.length,
    failed: samples.filter((s) => s.error !== undefined).length,
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    max: ms.length ? Math.max(...ms) : NaN,
  };
}

/** A request "hit" the member being defragmented when its time in flight overlapped that member's window. */
function hits(s: RequestSample, windows: readonly Window[]): boolean {
  return windows.some((w) => w.endpoint === s.endpoint && s.sentAt <= w.end && s.sentAt + s.ms >= w.start);
}

function during(s: RequestSample, windows: readonly Window[]): boolean {
  return windows.some((w) => s.sentAt <= w.end && s.sentAt + s.ms >= w.start);
}

export interface PhaseFigures {
  readonly all: Split;
  readonly toDefragging: Split;
  readonly toOthers: Split;
  /** Requests the health-checking client sent to a member while it was being defragmented. */
  readonly healthSentToDefragging: number;
  readonly plainSentToDefragging: number;
  readonly healthChecked: Split;
  readonly leaderChanges: number;
  readonly termIncrease: number;
  readonly unplannedElections: number;
  /** Longest time between two completed writes while the defrag ran. */
  readonly writeStallMs: number;
  readonly defragMs: number;
}

export function figures(phase: PhaseResult): PhaseFigures {
  const inWindow = (s: RequestSample) =>
    phase.windows.some((w) => w.endpoint === s.endpoint && s.sentAt >= w.start && s.sentAt <= w.end);
  const ordered = [...phase.terms].sort((a, b) => a.at - b.at);
  let leaderChanges = 0;
  let leader: string | undefined;
  let top = 0;
  for (const t of ordered) {
    if (t.term < top) continue; // a member that has not heard of the newer term yet
    top = t.term;
    if (t.leaderId === '0') continue;
    if (leader !== undefined && t.leaderId !== leader) leaderChanges += 1;
    leader = t.leaderId;
  }
  const termIncrease = ordered.length
    ? Math.max(...ordered.map((t) => t.term)) - (ordered[0] as TermSample).term
    : 0;
  const writes = [...phase.plain, ...phase.healthChecked]
    .filter((s) => s.kind === 'put' && s.error === undefined)
    .map((s) => s.sentAt + s.ms)
    .filter((t) => t >= phase.from && t <= phase.to + 2000)
    .sort((a, b) => a - b);
  let writeStallMs = 0;
  let last = phase.from;
  for (const t of writes) {
    writeStallMs = Math.max(writeStallMs, t - last);
    last = t;
  }
  const defragMs = phase.windows.reduce((sum, w) => sum + (w.end - w.start), 0);
  const plainDuring = phase.plain.filter((s) => during(s, phase.windows));
  return {
    all: split(phase.plain.filter((s) => s.sentAt >= phase.from && s.sentAt <= phase.to)),
    toDefragging: split(plainDuring.filter((s) => hits(s, phase.windows))),
    toOthers: split(plainDuring.filter((s) => !hits(s, phase.windows))),
    healthSentToDefragging: phase.healthChecked.filter(inWindow).length,
    plainSentToDefragging: phase.plain.filter(inWindow).length,
    healthChecked: split(phase.healthChecked.filter((s) => s.sentAt >= phase.from && s.sentAt <= phase.to)),
    leaderChanges,
    termIncrease,
    unplannedElections: Math.max(0, termIncrease - phase.plannedMoves),
    writeStallMs,
    defragMs,
  };
}

const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(v < 10 ? 1 : 0)} ms` : '-');
const lat = (s: Split) => `p50 ${ms(s.p50)}, p99 ${ms(s.p99)}, max ${ms(s.max)}`;

/** The availability rows: ours against etcdctl, and the idle baseline. */
export function defragRows(
  idle: PhaseResult,
  ours: PhaseResult,
  theirs: PhaseResult,
  ctx: Pick<DefragBenchContext, 'rate' | 'deadlineMs' | 'junkBytes'>,
): BenchRow[] {
  const i = figures(idle);
  const o = figures(ours);
  const t = figures(theirs);
  const idleP99 = i.all.p99;
  const load =
    `two clients, each ${ctx.rate} req/s (puts and linearizable gets alternating, round-robin over the 3 members, ` +
    `deadline ${seconds(ctx.deadlineMs + 2000)}); one plain, one routing only to members whose gRPC health is SERVING`;
  const windowsOf = (p: PhaseResult) =>
    p.windows.map((w) => `${seconds(w.end - w.start)}`).join(' + ') || 'no windows in the logs';
  return [
    {
      name: `defrag: idle baseline (${seconds(idle.totalMs)}, no defrag)`,
      ours: lat(i.all),
      theirs: '-',
      ratio: undefined,
      goal: '-',
      met: undefined,
      note: `${i.all.count} requests, ${i.all.failed} failed; ${load}`,
    },
    {
      name: `defrag: whole run, 3 members, ${mib(ours.dbBefore)} db with ${mib(ctx.junkBytes)} junk freed`,
      ours: `${seconds(ours.totalMs)} → ${mib(ours.dbAfter)}`,
      theirs: `${seconds(theirs.totalMs)} → ${mib(theirs.dbAfter)} (etcdctl defrag --cluster)`,
      ratio: ours.totalMs / theirs.totalMs,
      goal: '-',
      met: undefined,
      note:
        `members blocked (from their logs): ours ${windowsOf(ours)}, etcdctl ${windowsOf(theirs)}; ` +
        `ours also checks health before and waits for every member to be healthy and caught up after each one, ` +
        `and moves leadership before the leader's turn`,
    },
    {
      name: 'defrag: failed requests (plain client)',
      ours: `${o.all.failed} of ${o.all.count}`,
      theirs: `${t.all.failed} of ${t.all.count}`,
      ratio: undefined,
      goal: '0',
      met: o.all.failed === 0,
      note:
        `failed = an error or the deadline (${seconds(ctx.deadlineMs + 2000)}: 2 s to connect + ${seconds(ctx.deadlineMs)}) passed; the health-checking client: ` +
        `ours ${o.healthChecked.failed} of ${o.healthChecked.count}, etcdctl ${t.healthChecked.failed} of ${t.healthChecked.count}`,
    },
    {
      name: 'defrag: latency of requests to the member being defragmented',
      ours: lat(o.toDefragging),
      theirs: lat(t.toDefragging),
      ratio: undefined,
      goal: '-',
      met: undefined,
      note: `requests in flight while their member was blocked: ours ${o.toDefragging.count}, etcdctl ${t.toDefragging.count}`,
    },
    {
      name: 'defrag: p99 of requests to the other members, vs idle',
      ours: `${ms(o.toOthers.p99)} (${(o.toOthers.p99 / idleP99).toFixed(1)}× idle)`,
      theirs: `${ms(t.toOthers.p99)} (${(t.toOthers.p99 / idleP99).toFixed(1)}× idle)`,
      ratio: o.toOthers.p99 / t.toOthers.p99,
      goal: '≤ 2× idle',
      met: o.toOthers.p99 <= 2 * idleP99,
      note: `idle p99 ${ms(idleP99)}; others during the defrags: ours ${lat(o.toOthers)} (${o.toOthers.count} requests), etcdctl ${lat(t.toOthers)} (${t.toOthers.count})`,
    },
    {
      name: 'defrag: leader changes / unplanned elections',
      ours: `${o.leaderChanges} / ${o.unplannedElections}`,
      theirs: `${t.leaderChanges} / ${t.unplannedElections}`,
      ratio: undefined,
      goal: '0 unplanned',
      met: o.unplannedElections === 0,
      note:
        `raft term +${o.termIncrease} with ours (${ours.plannedMoves} planned MoveLeader), +${t.termIncrease} with etcdctl; ` +
        `leader and term polled from every member every 0.3 s`,
    },
    {
      name: 'defrag: write stall (longest gap between completed writes)',
      ours: ms(o.writeStallMs),
      theirs: ms(t.writeStallMs),
      ratio: undefined,
      goal: '-',
      met: undefined,
      note: `idle: ${ms(figures(idle).writeStallMs)}; both clients' puts, ${2 * ctx.rate} req/s in all, half of them puts`,
    },
    {
      name: 'defrag: requests sent to the member while it defragments, health-checking client vs plain',
      ours: `${o.healthSentToDefragging} vs ${o.plainSentToDefragging}`,
      theirs: `${t.healthSentToDefragging} vs ${t.plainSentToDefragging}`,
      ratio: undefined,
      goal: '-',
      met: undefined,
      note:
        `members run with StopGRPCServiceOnDefrag (NOT_SERVING on grpc.health.v1 while defragmenting); ` +
        `health-checking client latency: ours ${lat(o.healthChecked)}, etcdctl ${lat(t.healthChecked)}`,
    },
  ];
}
