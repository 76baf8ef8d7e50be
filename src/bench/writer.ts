/**
 * Bench row for the bbolt writer: rewriting a snapshot file (read every bucket with our reader,
 * write a new snapshot with writeEtcdSnapshotFile; rewrite-snapshot.ts, a child process) in MB/s,
 * against bbolt's own `bbolt compact` of the same file when bbolt's CLI is installed
 * (scripts/install-bbolt.sh). The reading alone is timed once to show the split.
 */
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { findBbolt } from '../testing/bbolt-cli.js';
import { interleavedSamples, median, mib, seconds, type BenchRow } from './measure.js';
import { cpuSummary, runMeasured, spread, type ProcessRun } from './rss.js';

export async function benchWriter(options: {
  /** `dist/` of the build under test. */
  dist: string;
  /** The snapshot to rewrite. */
  file: string;
  runs: number;
  dir: string;
  env: NodeJS.ProcessEnv;
  log: (message: string) => void;
}): Promise<BenchRow[]> {
  const { file, runs, dir, env } = options;
  const script = path.join(options.dist, 'bench', 'rewrite-snapshot.js');
  const out = path.join(dir, 'writer-rewritten.db');
  const compacted = path.join(dir, 'writer-bbolt-compact.db');
  const bbolt = await findBbolt();
  const jobs: Record<string, () => Promise<ProcessRun>> = {
    ours: () => runMeasured(process.execPath, [script, file, out], { env, cwd: dir }),
  };
  if ('path' in bbolt)
    jobs['bbolt'] = async () => {
      await rm(compacted, { force: true });
      return runMeasured(bbolt.path, ['compact', '-no-sync', '-o', compacted, file], { env, cwd: dir });
    };
  else options.log(`writer: ${bbolt.missing}; the row has no bbolt compact figure`);
  const samples = await interleavedSamples<ProcessRun>(runs, jobs, {
    onRun: (name, round, run) => options.log(`writer: ${name} run ${round}: ${seconds(run.ms)}`),
  });
  const ours = samples['ours'] ?? [];
  const theirs = samples['bbolt'] ?? [];
  const readOnly = JSON.parse(
    (await runMeasured(process.execPath, [script, file, '--read-only'], { env, cwd: dir })).stdout,
  ) as { ms: number; entries: number };
  const inputBytes = (await stat(file)).size;
  const outputBytes = (await stat(out)).size;
  const compactBytes = theirs.length > 0 ? (await stat(compacted)).size : undefined;
  await rm(out, { force: true });
  await rm(compacted, { force: true });
  const oursMs = median(ours.map((r) => r.ms));
  const theirsMs = theirs.length > 0 ? median(theirs.map((r) => r.ms)) : undefined;
  const rate = inputBytes / 1e6 / (oursMs / 1000);
  const peak = Math.max(...ours.map((r) => r.peakRss ?? 0));
  return [
    {
      name: `writer: rewrite the ${mib(inputBytes)} snapshot (read + write + trailer, median of ${runs})`,
      ours: `${seconds(oursMs)} (${rate.toFixed(0)} MB/s)`,
      theirs:
        theirsMs === undefined ? 'n/a (bbolt CLI missing)' : `${seconds(theirsMs)} (bbolt compact -no-sync)`,
      ratio: theirsMs === undefined ? undefined : oursMs / theirsMs,
      goal: '≥ 100 MB/s',
      met: rate >= 100,
      note:
        `${readOnly.entries} entries; the reading alone ${seconds(readOnly.ms)}. Output ${mib(outputBytes)}` +
        (compactBytes === undefined ? '' : `, bbolt compact's ${mib(compactBytes)}`) +
        `; peak RSS ${mib(peak)}. Runs ${spread(ours)} (${cpuSummary(ours)})` +
        (theirs.length > 0 ? `, bbolt ${spread(theirs)} (${cpuSummary(theirs)})` : ''),
    },
  ];
}
