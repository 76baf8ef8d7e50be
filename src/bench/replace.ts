/**
 * Bench rows for replacing a lost member that held the bench's database: a follower is SIGKILLed
 * and its data dir removed, then (a) `etcd-steward member replace NAME` and (b) the same by hand
 * with etcdctl — `member remove`, `member add`, start etcd with initial-cluster-state existing
 * (ETCD_INITIAL_CLUSTER as `member add` printed it), wait until it is healthy and caught up —
 * each timed from the first command to a healthy voting member. The defrag bench's load client
 * (load.ts) puts and reads at a fixed rate against all three members throughout; failed requests
 * are split into those sent to the member being replaced and those sent to the others.
 */
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Spec } from '../config/spec.js';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../etcd/member-client.js';
import type { EtcdBinaries } from '../runtime/etcd-binaries.js';
import { LocalMembershipHost } from '../runtime/local/membership.js';
import { readState } from '../runtime/local/state.js';
import { LoadClient, type RequestSample } from './load.js';
import { mib, seconds, type BenchRow } from './measure.js';
import { runMeasured } from './rss.js';

export interface ReplaceBenchContext {
  readonly binaries: EtcdBinaries;
  readonly cli: string;
  readonly specFile: string;
  readonly spec: Spec;
  readonly endpoints: readonly string[];
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly rate: number;
  readonly deadlineMs: number;
  readonly log: (message: string) => void;
}

interface ReplacePhase {
  readonly name: string;
  readonly ms: number;
  readonly dbSize: number;
  readonly toReplaced: { count: number; failed: number };
  readonly toOthers: { count: number; failed: number };
}

const connection: ConnectionOptions = { dialTimeoutMs: 2000, commandTimeoutMs: 10_000 };

/** Both replaces of one follower, one after the other, under the same load. */
export async function benchReplace(ctx: ReplaceBenchContext): Promise<BenchRow[]> {
  const host = new LocalMembershipHost(ctx.spec, ctx.binaries);
  const members = await host.members();
  const statuses = await Promise.all(members.map((m) => withClient(m.clientUrl, (c) => c.status())));
  const leaderId = statuses[0]?.leaderId;
  const target = members[statuses.findIndex((s) => s.memberId !== leaderId)];
  if (!target) throw new Error('no follower to replace');
  const leader = members[statuses.findIndex((s) => s.memberId === leaderId)] ?? members[0]!;
  ctx.log(`replace: the follower ${target.name} is lost (SIGKILL, data dir removed) and replaced, twice`);

  const lose = async () => {
    const pid = (await readState(ctx.spec.dataDir))?.members.find((m) => m.name === target.name)?.pid;
    if (pid) process.kill(pid, 'SIGKILL');
    while (await host.isRunning(target.name)) await sleep(20);
    await host.stop(target.name); // clears the recorded pid
    await rm((await host.dataDir(target.name)).path, { recursive: true, force: true });
  };

  let steps = '';
  const ours = await phase(ctx, target.clientUrl, 'etcd-steward member replace', lose, async () => {
    const run = await runMeasured(
      process.execPath,
      [ctx.cli, '--config', ctx.specFile, 'member', 'replace', target.name, '-o', 'json'],
      { env: ctx.env, cwd: ctx.dir },
    );
    const report = JSON.parse(run.stdout) as { steps: { step: string; tookMs: number }[] };
    steps = report.steps
      .filter((s) => s.tookMs >= 500)
      .map((s) => `${s.step} ${seconds(s.tookMs)}`)
      .join(', ');
  });
  const theirs = await phase(ctx, target.clientUrl, 'etcdctl by hand', lose, async () => {
    const ctl = (...args: string[]) =>
      runMeasured(ctx.binaries.etcdctl, [`--endpoints=${leader.clientUrl}`, ...args], {
        env: ctx.env,
        cwd: ctx.dir,
      });
    // The simple format has the id in hex (JSON's uint64 would lose digits in JavaScript).
    const rows = (await ctl('member', 'list')).stdout.split('\n').map((l) => l.split(', '));
    const old = rows.find((cols) => cols[3]?.split(',').includes(target.peerUrl));
    if (old?.[0]) await ctl('member', 'remove', old[0]);
    const added = (await ctl('member', 'add', target.name, `--peer-urls=${target.peerUrl}`)).stdout;
    const initial = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(added)?.[1];
    if (!initial) throw new Error(`member add printed no ETCD_INITIAL_CLUSTER:\n${added}`);
    await host.startJoining(target.name, initial);
    await waitHealthyAndCaughtUp(target.clientUrl, leader.clientUrl);
  });
  return rows(ours, theirs, ctx, steps);
}

async function withClient<T>(url: string, fn: (client: MemberClient) => Promise<T>): Promise<T> {
  const client = new MemberClient(parseEndpoint(url), connection);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Until the member answers a linearizable read and has applied within 100 entries of the leader. */
async function waitHealthyAndCaughtUp(url: string, leaderUrl: string): Promise<void> {
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      const ok = await withClient(url, async (c) => {
        await c.healthRead();
        const [own, lead] = [await c.status(), await withClient(leaderUrl, (l) => l.status())];
        return !own.isLearner && lead.raftIndex - own.raftAppliedIndex <= 100;
      });
      if (ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not turn healthy within 30 minutes`);
    await sleep(100);
  }
}

async function phase(
  ctx: ReplaceBenchContext,
  replacedUrl: string,
  name: string,
  lose: () => Promise<void>,
  replace: () => Promise<void>,
): Promise<ReplacePhase> {
  const load = new LoadClient({
    endpoints: ctx.endpoints,
    connection: { dialTimeoutMs: 2000, commandTimeoutMs: ctx.deadlineMs },
    rate: ctx.rate,
    keyPrefix: '/bench-replace/',
  });
  try {
    await load.warmUp();
    await lose();
    const from = performance.timeOrigin + performance.now();
    load.start();
    const started = performance.now();
    await replace();
    const ms = performance.now() - started;
    const samples = (await load.stop()).filter((s) => s.sentAt >= from);
    const dbSize = (await withClient(replacedUrl, (c) => c.status())).dbSize;
    const split = (list: readonly RequestSample[]) => ({
      count: list.length,
      failed: list.filter((s) => s.error !== undefined).length,
    });
    const result = {
      name,
      ms,
      dbSize,
      toReplaced: split(samples.filter((s) => s.endpoint === replacedUrl)),
      toOthers: split(samples.filter((s) => s.endpoint !== replacedUrl)),
    };
    ctx.log(`replace: ${name} in ${seconds(ms)}, ${JSON.stringify(result)}`);
    return result;
  } finally {
    load.close();
  }
}

function rows(ours: ReplacePhase, theirs: ReplacePhase, ctx: ReplaceBenchContext, steps: string): BenchRow[] {
  const failed = (p: ReplacePhase) =>
    `${p.toOthers.failed} of ${p.toOthers.count} to the others; ${p.toReplaced.failed} of ${p.toReplaced.count} to it`;
  return [
    {
      name: `replace: a lost member (${mib(ours.dbSize)} db) back as a healthy voter`,
      ours: seconds(ours.ms),
      theirs: seconds(theirs.ms),
      ratio: ours.ms / theirs.ms,
      goal: '≤ 1.5× (learner first, then promote)',
      met: ours.ms <= 1.5 * theirs.ms,
      note:
        `follower SIGKILLed, data dir removed; ours: member replace (learner, promoted when caught up); ` +
        `etcdctl: member remove, member add (a voter at once), etcd started with initial-cluster-state existing, ` +
        `timed until healthy and within 100 entries of the leader; db after: ours ${mib(ours.dbSize)}, by hand ${mib(theirs.dbSize)}; ` +
        `our steps over 0.5 s: ${steps || 'none'}`,
    },
    {
      name: 'replace: failed client requests during it',
      ours: failed(ours),
      theirs: failed(theirs),
      ratio: undefined,
      goal: '0 to the others',
      met: ours.toOthers.failed === 0,
      note: `load client of the defrag bench, ${ctx.rate} req/s over all three members (puts and gets), deadline ${seconds(ctx.deadlineMs)}; requests to the member being replaced fail while it is away (no health-checking balancer)`,
    },
  ];
}
