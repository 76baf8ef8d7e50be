/**
 * Bench row: `backup create --to s3://…` into a real MinIO on this machine (the test server of
 * src/testing), whole process; MB/s of the stored bytes, median of `runs`. Each run writes under
 * its own prefix so every run starts from an empty catalog.
 */
import type { Cleanup } from '../testing/harness.js';
import { startS3Server } from '../testing/s3-server.js';
import { runCreate, type BackupBenchContext, type CreateJson } from './backup.js';
import { median, mib, seconds, type BenchRow } from './measure.js';

export async function benchS3(
  ctx: BackupBenchContext,
  cleanup: Cleanup,
  runs: number,
  etcdctlMs: number,
): Promise<BenchRow> {
  // The SDK warns about Node 20 when a client is made (here: MinIO's bucket); the CLI silences it too.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const server = await startS3Server(cleanup, { bucket: 'steward-bench' });
  try {
    const env = {
      ...ctx.env,
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
    };
    const query = `endpoint=${encodeURIComponent(server.endpoint)}&region=us-east-1&forcePathStyle=true`;
    const rates: number[] = [];
    const times: number[] = [];
    let stored = 0;
    let peak = 0;
    for (let i = 1; i <= runs; i++) {
      const run = await runCreate(ctx, `s3://${server.bucket}/bench/run-${i}?${query}`, 'none', env, true);
      stored = (JSON.parse(run.stdout) as CreateJson).backup.storedSize;
      rates.push(stored / 1e6 / (run.ms / 1000));
      times.push(run.ms);
      peak = Math.max(peak, run.peakRss ?? 0);
      ctx.log(`s3: run ${i}: ${seconds(run.ms)}, ${(stored / 1e6 / (run.ms / 1000)).toFixed(1)} MB/s`);
    }
    const rate = median(rates);
    return {
      name: `backup create → s3:// (MinIO), none (median of ${runs})`,
      ours: `${rate.toFixed(1)} MB/s (${seconds(median(times))})`,
      theirs: `${seconds(etcdctlMs)} (etcdctl snapshot save to a file)`,
      ratio: median(times) / etcdctlMs,
      goal: '-',
      met: undefined,
      note:
        `${mib(stored)} stored per run (MB = 10^6 bytes, whole process incl. start-up and verify); ` +
        `peak RSS ${mib(peak)}; MinIO runs on the same cores and disk`,
    };
  } finally {
    await server.stop();
  }
}
