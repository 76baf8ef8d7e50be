/** Timing helpers for benchmarks: whole-process wall time, medians, ratios. */
import { spawn } from 'node:child_process';

/** Wall time of one process run, in ms; rejects when it exits non-zero. */
export function timeProcess(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`${command} ${args.join(' ')} exited ${String(code)}: ${stderr}`));
    });
  });
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Runs each named job `runs` times, interleaved so drift hits all alike, after one warm-up run of
 * each (page cache, connections) unless `warmUp` is false; returns every sample of each job.
 */
export async function interleavedSamples<T>(
  runs: number,
  jobs: Record<string, () => Promise<T>>,
  options: { warmUp?: boolean; onRun?: (name: string, round: number, sample: T) => void } = {},
): Promise<Record<string, T[]>> {
  const samples: Record<string, T[]> = Object.fromEntries(Object.keys(jobs).map((k) => [k, []]));
  if (options.warmUp !== false) for (const job of Object.values(jobs)) await job();
  for (let i = 0; i < runs; i += 1) {
    for (const [name, job] of Object.entries(jobs)) {
      const sample = await job();
      samples[name]?.push(sample);
      options.onRun?.(name, i + 1, sample);
    }
  }
  return samples;
}

/** Runs each named job `runs` times, interleaved so drift hits all alike; returns medians in ms. */
export async function interleavedMedians(
  runs: number,
  jobs: Record<string, () => Promise<number>>,
): Promise<Record<string, number>> {
  const samples = await interleavedSamples(runs, jobs);
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}

/** Milliseconds as seconds with one decimal: `12.3 s`. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Bytes as MiB: `151 MiB`. */
export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** One line of the benchmark table. */
export interface BenchRow {
  readonly name: string;
  readonly ours: string;
  readonly theirs: string;
  readonly ratio: number | undefined;
  readonly goal: string;
  readonly met: boolean | undefined;
  readonly note: string;
}
