/**
 * Bench rows for restore and snapshot diff on the bench's snapshot.
 *
 * Restore: `etcd-steward restore FILE` (one reader pass: check + etcd's HashKV; `etcdutl snapshot
 * restore` for the three members, as many at once as the machine has cores; start, wait until
 * healthy, compare every member's HashKV at the snapshot's revision) against a
 * shell script doing the same by hand: `etcdutl snapshot restore` ×3 one after another, start
 * three etcd members, poll `etcdctl endpoint health` until all are healthy. Both build a new
 * 3-member cluster on free ports with --unsafe-no-fsync and the bench's quota; whole process,
 * interleaved runs, medians; each cluster is stopped and removed before the next run.
 *
 * Diff: `snapshot diff A B -o json` of two snapshots, B taken after GreptimeDB-shaped changes
 * made here (tables created, ALTERed, dropped, rewritten), time and peak RSS, and the counts
 * checked against what was changed.
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseSpec } from '../config/load.js';
import type { MemberClient } from '../etcd/member-client.js';
import type { EtcdBinaries } from '../runtime/etcd-binaries.js';
import { LocalRuntime } from '../runtime/local/cluster.js';
import { freePorts } from '../runtime/local/ports.js';
import { interleavedSamples, median, mib, seconds, type BenchRow } from './measure.js';
import { cpuSummary, runMeasured, spread, type ProcessRun } from './rss.js';

export interface RestoreBenchContext {
  readonly binaries: EtcdBinaries;
  readonly cli: string;
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly quota: number;
  readonly line: string;
  readonly runs: number;
  readonly log: (message: string) => void;
}

const HAND_SCRIPT = `#!/bin/bash
# Restore a snapshot into a new 3-member cluster by hand, as the etcd docs describe.
set -euo pipefail
file=$1; dir=$2; etcd=$3; etcdutl=$4; etcdctl=$5; quota=$6
shift 6
read -r c0 c1 c2 p0 p1 p2 <<<"$*"
token=restore-$RANDOM$RANDOM
cluster="m0=http://127.0.0.1:$p0,m1=http://127.0.0.1:$p1,m2=http://127.0.0.1:$p2"
clients=(http://127.0.0.1:$c0 http://127.0.0.1:$c1 http://127.0.0.1:$c2)
peers=(http://127.0.0.1:$p0 http://127.0.0.1:$p1 http://127.0.0.1:$p2)
for i in 0 1 2; do
  "$etcdutl" snapshot restore "$file" --name "m$i" --data-dir "$dir/m$i" \\
    --initial-cluster "$cluster" --initial-cluster-token "$token" \\
    --initial-advertise-peer-urls "\${peers[$i]}" >/dev/null 2>&1
done
for i in 0 1 2; do
  nohup "$etcd" --name "m$i" --data-dir "$dir/m$i" \\
    --listen-client-urls "\${clients[$i]}" --advertise-client-urls "\${clients[$i]}" \\
    --listen-peer-urls "\${peers[$i]}" --initial-advertise-peer-urls "\${peers[$i]}" \\
    --initial-cluster "$cluster" --initial-cluster-token "$token" \\
    --quota-backend-bytes "$quota" --unsafe-no-fsync >"$dir/m$i.log" 2>&1 &
  echo $! >>"$dir/pids"
done
endpoints=$(IFS=,; echo "\${clients[*]}")
until "$etcdctl" --endpoints="$endpoints" endpoint health >/dev/null 2>&1; do sleep 0.1; done
`;

async function stopPids(file: string): Promise<void> {
  const pids = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone already */
    }
  }
  for (const pid of pids) {
    for (let i = 0; i < 200; i += 1) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

interface RestoreJson {
  readonly match: boolean | undefined;
  readonly snapshot: { keyCount: number };
  readonly timings: { checkMs: number; buildMs: number; startMs: number; compareMs: number };
}

export async function benchRestore(ctx: RestoreBenchContext, snapshotFile: string): Promise<BenchRow> {
  const script = path.join(ctx.dir, 'restore-by-hand.sh');
  await writeFile(script, HAND_SCRIPT, { mode: 0o755 });
  let round = 0;
  let keyCount = 0;
  const timings: RestoreJson['timings'][] = [];
  const samples = await interleavedSamples<ProcessRun>(
    ctx.runs,
    {
      ours: async () => {
        const base = path.join(ctx.dir, `r-ours-${round++}`);
        await mkdir(base, { recursive: true });
        const specFile = path.join(base, 'steward.yaml');
        const specText =
          `name: rb\nmembers: 3\ndataDir: ${base}/data\n` +
          `etcd: { version: "${ctx.line}", unsafeNoFsync: true, quotaBackendBytes: ${ctx.quota} }\n`;
        await writeFile(specFile, specText);
        const restoredSpec = {
          ...parseSpec(specText, specFile),
          name: 'rb-restored',
          dataDir: `${base}/data-rb-restored`,
        };
        try {
          const run = await runMeasured(
            process.execPath,
            [ctx.cli, '--config', specFile, 'restore', snapshotFile, '-o', 'json'],
            { env: ctx.env, cwd: base },
          );
          const json = JSON.parse(run.stdout) as RestoreJson;
          if (json.match !== true) throw new Error(`restore did not match: ${run.stdout.slice(0, 2000)}`);
          keyCount = json.snapshot.keyCount;
          timings.push(json.timings);
          return run;
        } finally {
          await new LocalRuntime(restoredSpec).stop().catch(() => undefined);
          await rm(base, { recursive: true, force: true });
        }
      },
      byHand: async () => {
        const base = path.join(ctx.dir, `r-hand-${round++}`);
        await mkdir(base, { recursive: true });
        const ports = await freePorts(6);
        try {
          return await runMeasured(
            script,
            [
              snapshotFile,
              base,
              ctx.binaries.etcd,
              ctx.binaries.etcdutl,
              ctx.binaries.etcdctl,
              String(ctx.quota),
              ...ports.map(String),
            ],
            { env: ctx.env, cwd: base },
          );
        } finally {
          await stopPids(path.join(base, 'pids'));
          await rm(base, { recursive: true, force: true });
        }
      },
    },
    { warmUp: false, onRun: (name, r, run) => ctx.log(`restore: ${name} run ${r}: ${seconds(run.ms)}`) },
  );
  const ours = median(samples['ours']?.map((r) => r.ms) ?? []);
  const byHand = median(samples['byHand']?.map((r) => r.ms) ?? []);
  const ratio = ours / byHand;
  const size = (await stat(snapshotFile)).size;
  const oursRuns = samples['ours'] ?? [];
  const perGiB = (ms: number) => `${((ms / 1000) * (2 ** 30 / size)).toFixed(0)} s/GiB`;
  const phase = (pick: (t: RestoreJson['timings']) => number) => seconds(median(timings.map(pick)));
  return {
    name: `restore of a ${mib(size)} snapshot → healthy 3-member cluster, whole process (median of ${ctx.runs})`,
    ours: `${seconds(ours)} (${perGiB(ours)})`,
    theirs: `${seconds(byHand)} (${perGiB(byHand)}; etcdutl snapshot restore ×3 + start + endpoint health)`,
    ratio,
    goal: '≤ 1.2',
    met: ratio <= 1.2,
    note:
      `${keyCount} keys; ours: one reader pass (every page, the trailer, etcd's HashKV alongside) ${phase((t) => t.checkMs)}, ` +
      `the three etcdutl restores (${Math.min(3, availableParallelism())} at a time; the script runs them one after another) ${phase((t) => t.buildMs)}, ` +
      `start until healthy ${phase((t) => t.startMs)}, every member's HashKV at the snapshot's revision against the snapshot's ${phase((t) => t.compareMs)} ` +
      `(medians; match each run). Runs ${spread(oursRuns)} ` +
      `(${cpuSummary(oursRuns)}, peak RSS ${mib(Math.max(...oursRuns.map((r) => r.peakRss ?? 0)))}), ` +
      `by hand ${spread(samples['byHand'] ?? [])}`,
  };
}

/** What the diff bench changed after snapshot A: the counts `snapshot diff A B` must report. */
export interface DiffExpectation {
  readonly added: number;
  readonly removed: number;
  readonly changed: number;
  readonly rewritten: number;
}

const PRE = 3000;
const tableName = (i: number) => `__table_name/greptime/public/diffbench_${i}`;
const tableInfo = (i: number) => `__table_info/${9_000_000 + i}`;
const tableRoute = (i: number) => `__table_route/${9_000_000 + i}`;
const info = (i: number, version: number) =>
  JSON.stringify({
    table_info: { ident: { table_id: 9_000_000 + i, version }, name: `diffbench_${i}` },
    pad: 'x'.repeat(2048),
  });

async function putMany(client: MemberClient, ops: readonly (readonly [string, string])[]): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (i < ops.length) {
        const [k, v] = ops[i++] as readonly [string, string];
        await client.put(k, v);
      }
    }),
  );
}

/** Before snapshot A: 3000 tables (name + info) that the changes then act on. */
export async function prepareDiffKeys(client: MemberClient): Promise<void> {
  const ops: [string, string][] = [];
  for (let i = 0; i < PRE; i += 1)
    ops.push([tableName(i), `{"table_id":${9_000_000 + i}}`], [tableInfo(i), info(i, 0)]);
  await putMany(client, ops);
}

/**
 * After snapshot A: 1000 ALTERs (info changed), 500 DROPs (name + info deleted), 500 tables whose
 * info is written again unchanged, 2000 new tables (name, info, route).
 */
export async function changeDiffKeys(client: MemberClient): Promise<DiffExpectation> {
  const ops: [string, string][] = [];
  for (let i = 0; i < 1000; i += 1) ops.push([tableInfo(i), info(i, 1)]);
  for (let i = 1500; i < 2000; i += 1) ops.push([tableInfo(i), info(i, 0)]);
  for (let i = PRE; i < PRE + 2000; i += 1)
    ops.push(
      [tableName(i), `{"table_id":${9_000_000 + i}}`],
      [tableInfo(i), info(i, 0)],
      [tableRoute(i), '{"region_routes":[]}'],
    );
  await putMany(client, ops);
  for (let i = 1000; i < 1500; i += 1) {
    await client.delete(tableName(i));
    await client.delete(tableInfo(i));
  }
  return { added: 6000, removed: 1000, changed: 1000, rewritten: 500 };
}

interface DiffJson {
  added: number;
  removed: number;
  changed: number;
  rewritten: number;
  unchanged: number;
  a: { keyCount: number };
  b: { keyCount: number };
}

export async function benchDiff(
  ctx: RestoreBenchContext,
  fileA: string,
  fileB: string,
  expected: DiffExpectation,
  sizes: readonly [number, number],
): Promise<BenchRow> {
  const samples = await interleavedSamples<ProcessRun>(
    ctx.runs,
    {
      ours: () =>
        runMeasured(process.execPath, [ctx.cli, 'snapshot', 'diff', fileA, fileB, '-o', 'json'], {
          env: ctx.env,
          cwd: ctx.dir,
        }),
    },
    {
      warmUp: false,
      onRun: (name, r, run) => ctx.log(`diff: run ${r}: ${seconds(run.ms)}, ${mib(run.peakRss ?? 0)}`),
    },
  );
  const runs = samples['ours'] ?? [];
  const last = JSON.parse((runs[runs.length - 1] as ProcessRun).stdout) as DiffJson;
  const got = { added: last.added, removed: last.removed, changed: last.changed, rewritten: last.rewritten };
  const ok = (Object.keys(expected) as (keyof DiffExpectation)[]).every((k) => got[k] === expected[k]);
  const peak = Math.max(...runs.map((r) => r.peakRss ?? 0));
  return {
    name: `snapshot diff of two snapshots, ${mib(sizes[0])} and ${mib(sizes[1])} (median of ${ctx.runs})`,
    ours: `${seconds(median(runs.map((r) => r.ms)))}, peak RSS ${mib(peak)}`,
    theirs: '- (etcd has no diff)',
    ratio: undefined,
    goal: 'counts right',
    met: ok,
    note:
      `${last.a.keyCount} vs ${last.b.keyCount} keys; reported added ${got.added}, removed ${got.removed}, ` +
      `changed ${got.changed}, rewritten ${got.rewritten} (unchanged ${last.unchanged}); the bench made ` +
      `${expected.added} added, ${expected.removed} removed, ${expected.changed} changed, ${expected.rewritten} rewritten ` +
      `(GreptimeDB-shaped: 2000 tables created, 500 dropped, 1000 ALTERed, 500 infos rewritten unchanged). ` +
      `Runs ${spread(runs)} (${cpuSummary(runs)})`,
  };
}
