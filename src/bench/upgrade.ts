/**
 * Bench rows for a rolling 3.5 → 3.6 upgrade of 3 local members holding BENCH_DB_MIB each: how
 * long `etcd-steward upgrade --to 3.6` takes (pre-flight, v2store check, each member's gate; the
 * backup skipped, as the backup bench measures that) and what a client putting and reading at a
 * fixed rate sees meanwhile (failed requests, p99), beside an idle baseline of the same cluster and
 * beside a by-hand rolling restart onto the new binaries in etcd's documented order (each member in
 * turn: stop, start on the new binary, `etcdctl endpoint health` until it answers; no leader
 * hand-off, no checks) on a second cluster of the same size.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { parseSpec } from '../config/load.js';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../etcd/member-client.js';
import { resolveEtcd } from '../runtime/etcd-binaries.js';
import { LocalClusterRuntime } from '../runtime/local/runtime.js';
import { LoadClient, type RequestSample } from './load.js';
import { seconds, type BenchRow } from './measure.js';

const run = promisify(execFile);

export interface UpgradeBenchContext {
  /** The built CLI (bin/etcd-steward.mjs of the bench's build copy). */
  readonly cli: string;
  readonly dir: string;
  readonly dbMib: number;
  readonly rate: number;
  readonly env: NodeJS.ProcessEnv;
  readonly log: (message: string) => void;
  /** Registers a cleanup step (members stopped, data removed). */
  readonly onCleanup: (fn: () => Promise<void>) => void;
}

interface Phase {
  readonly ms: number;
  readonly count: number;
  readonly failed: number;
  readonly p99: number;
}

const connection: ConnectionOptions = { dialTimeoutMs: 2000, commandTimeoutMs: 5000 };

function p99(samples: readonly RequestSample[]): number {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  return ms.length === 0 ? NaN : (ms[Math.min(ms.length - 1, Math.ceil(0.99 * ms.length) - 1)] as number);
}

async function cli(ctx: UpgradeBenchContext, spec: string, args: string[]): Promise<void> {
  await run(process.execPath, [ctx.cli, '--config', spec, ...args], {
    env: ctx.env,
    cwd: ctx.dir,
    maxBuffer: 64 * 2 ** 20,
  });
}

/** A 3-member 3.5 cluster with `dbMib` of 64 KiB values; returns its spec file and endpoints. */
async function makeCluster(ctx: UpgradeBenchContext, name: string) {
  const spec = path.join(ctx.dir, `${name}.yaml`);
  const raw = {
    name,
    runtime: 'local',
    members: 3,
    dataDir: path.join(ctx.dir, name),
    etcd: { version: '3.5', unsafeNoFsync: true, quotaBackendBytes: '8GiB', snapshotCount: 10000 },
  };
  await writeFile(spec, stringify(raw));
  ctx.onCleanup(async () => {
    await cli(ctx, spec, ['down', '--purge']).catch(() => undefined);
  });
  await cli(ctx, spec, ['up', '--detach']);
  const runtime = new LocalClusterRuntime(parseSpec(stringify(raw), spec));
  const endpoints = (await runtime.members()).map((m) => m.endpoint);
  const writer = new MemberClient(parseEndpoint(endpoints[0] as string), connection);
  const value = Buffer.alloc(64 * 1024, 'u');
  const count = Math.ceil((ctx.dbMib * 2 ** 20) / value.length);
  for (let i = 0; i < count; i += 16) {
    await Promise.all(
      Array.from({ length: Math.min(16, count - i) }, (_, j) =>
        writer.put(`/bench/upgrade/${String(i + j).padStart(7, '0')}`, value),
      ),
    );
  }
  writer.close();
  return { spec, runtime, endpoints };
}

async function measure(
  ctx: UpgradeBenchContext,
  endpoints: readonly string[],
  prefix: string,
  work: () => Promise<void>,
): Promise<Phase> {
  const load = new LoadClient({ endpoints, connection, rate: ctx.rate, keyPrefix: prefix });
  await load.warmUp();
  load.start();
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  const samples = await load.stop();
  load.close();
  return { ms, count: samples.length, failed: samples.filter((s) => s.error).length, p99: p99(samples) };
}

/** Stops each member in name order, starts it on `etcd`, waits until etcdctl says it is healthy. */
async function byHand(runtime: LocalClusterRuntime, etcd: string, etcdctl: string): Promise<void> {
  for (const member of await runtime.members()) {
    await runtime.changeMemberVersion(member.name as string, { line: '3.6', bin: etcd });
    for (;;) {
      const ok = await run(etcdctl, [`--endpoints=${member.endpoint}`, 'endpoint', 'health']).then(
        () => true,
        () => false,
      );
      if (ok) break;
      await sleep(200);
    }
  }
}

export async function benchUpgrade(ctx: UpgradeBenchContext): Promise<BenchRow[]> {
  const target = await resolveEtcd('3.6');
  ctx.log(`upgrade: two 3-member 3.5 clusters with ${ctx.dbMib} MiB each`);
  const ours = await makeCluster(ctx, 'upgrade-ours');
  const idleMs = 10_000;
  const idle = await measure(ctx, ours.endpoints, '/bench/idle/', () => sleep(idleMs));
  const upgraded = await measure(ctx, ours.endpoints, '/bench/ours/', () =>
    cli(ctx, ours.spec, ['upgrade', '--to', '3.6', '--skip-backup-i-have-one']),
  );
  const theirsCluster = await makeCluster(ctx, 'upgrade-hand');
  const hand = await measure(ctx, theirsCluster.endpoints, '/bench/hand/', () =>
    byHand(theirsCluster.runtime, target.etcd, target.etcdctl),
  );
  const cell = (p: Phase) => `${seconds(p.ms)}, ${p.failed}/${p.count} failed, p99 ${p.p99.toFixed(0)} ms`;
  ctx.log(`upgrade: idle ${cell(idle)}; ours ${cell(upgraded)}; by hand ${cell(hand)}`);
  return [
    {
      name: `upgrade 3.5→3.6, 3 members × ${ctx.dbMib} MiB`,
      ours: seconds(upgraded.ms),
      theirs: seconds(hand.ms),
      ratio: upgraded.ms / hand.ms,
      goal: 'checked, leader last',
      met: undefined,
      note: 'theirs: by-hand rolling restart onto 3.6 (stop, start, endpoint health), no checks',
    },
    {
      name: `  load during it (${ctx.rate}/s): failed, p99`,
      ours: `${upgraded.failed}/${upgraded.count}, ${upgraded.p99.toFixed(0)} ms`,
      theirs: `${hand.failed}/${hand.count}, ${hand.p99.toFixed(0)} ms`,
      ratio: undefined,
      goal: `idle: ${idle.failed}/${idle.count}, ${idle.p99.toFixed(0)} ms`,
      met: undefined,
      note: 'failed requests and p99 latency of puts+gets spread over the 3 members',
    },
  ];
}
