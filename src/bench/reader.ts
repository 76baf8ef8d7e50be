/**
 * Bench rows for the offline snapshot reader: counting the keys of a snapshot file with
 * `openSnapshot` + `summarizeSnapshot` (count-keys.ts, a child process) against
 * `etcdutl snapshot status -w json`; wall time and peak RSS of each.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { EtcdBinaries } from '../runtime/etcd-binaries.js';
import type { BackupBenchContext } from './backup.js';
import { interleavedSamples, median, mib, seconds, timeProcess, type BenchRow } from './measure.js';
import { cpuSummary, runMeasured, spread, type ProcessRun } from './rss.js';

export async function benchReader(options: {
  binaries: EtcdBinaries;
  /** `dist/` of the build under test. */
  dist: string;
  file: string;
  fileBytes: number;
  runs: number;
  cwd: string;
  env: NodeJS.ProcessEnv;
  log: (message: string) => void;
}): Promise<BenchRow[]> {
  const { binaries, file, runs, cwd, env } = options;
  const countKeys = path.join(options.dist, 'bench', 'count-keys.js');
  const samples = await interleavedSamples<ProcessRun>(
    runs,
    {
      ours: () => runMeasured(process.execPath, [countKeys, file], { env, cwd }),
      etcdutl: () => runMeasured(binaries.etcdutl, ['snapshot', 'status', file, '-w', 'json'], { env, cwd }),
    },
    { onRun: (name, round, run) => options.log(`reader: ${name} run ${round}: ${seconds(run.ms)}`) },
  );
  const ours = samples['ours'] ?? [];
  const theirs = samples['etcdutl'] ?? [];
  const oursMs = median(ours.map((r) => r.ms));
  const theirsMs = median(theirs.map((r) => r.ms));
  const oursPeak = Math.max(...ours.map((r) => r.peakRss ?? 0));
  const theirsPeak = Math.max(...theirs.map((r) => r.peakRss ?? 0));
  const counted = JSON.parse(ours[0]?.stdout ?? '{}') as { liveKeys?: number; revisions?: number };
  const status = JSON.parse(theirs[0]?.stdout ?? '{}') as { totalKey?: number };
  const split = JSON.parse(
    (await runMeasured(process.execPath, [countKeys, file, '--split'], { env, cwd })).stdout,
  ) as { trailerMs?: number; walkMs?: number };
  const ratio = oursMs / theirsMs;
  const gib = options.fileBytes / 2 ** 30;
  const perGib = (ms: number) => `${seconds(ms / gib)}/GiB`;
  return [
    {
      name: `reader: count keys of the ${mib(options.fileBytes)} snapshot (median of ${runs})`,
      ours: `${seconds(oursMs)} (${perGib(oursMs)})`,
      theirs: `${seconds(theirsMs)} (${perGib(theirsMs)}; etcdutl snapshot status)`,
      ratio,
      goal: '≤ 2',
      met: ratio <= 2,
      note:
        `we count ${counted.liveKeys ?? '?'} live keys (${counted.revisions ?? '?'} revisions), etcdutl ` +
        `reports totalKey ${status.totalKey ?? '?'}. Runs ${spread(ours)} (${cpuSummary(ours)}), etcdutl ` +
        `${spread(theirs)} (${cpuSummary(theirs)}). Split once: the trailer's SHA-256 pass over the whole file ` +
        `${seconds(split.trailerMs ?? 0)}, then the page walk and key index ${seconds(split.walkMs ?? 0)} ` +
        `(normally the two run side by side on one thread)`,
    },
    {
      name: `reader: peak RSS counting keys (max of ${runs})`,
      ours: `${mib(oursPeak)} (median ${mib(median(ours.map((r) => r.peakRss ?? 0)))})`,
      theirs: `${mib(theirsPeak)} (etcdutl snapshot status)`,
      ratio: oursPeak / theirsPeak,
      goal: '< 200 MiB',
      met: oursPeak < 200 * 2 ** 20,
      note: "etcdutl mmaps the file: its RSS counts the file's pages it touched (page cache, not heap)",
    },
  ];
}

/**
 * The reader rows alone (`BENCH_ONLY=reader`, without the backup rows that otherwise provide the
 * file): a snapshot of the bench cluster saved with etcdctl from a follower, then `benchReader`.
 */
export async function benchReaderOnSnapshot(ctx: BackupBenchContext, dist: string): Promise<BenchRow[]> {
  const file = path.join(ctx.dir, 'reader.db');
  await timeProcess(ctx.binaries.etcdctl, [`--endpoints=${ctx.follower}`, 'snapshot', 'save', file], {
    env: ctx.env,
    cwd: ctx.dir,
  });
  return benchReader({
    binaries: ctx.binaries,
    dist,
    file,
    fileBytes: (await stat(file)).size,
    runs: ctx.runs,
    cwd: ctx.dir,
    env: ctx.env,
    log: ctx.log,
  });
}
