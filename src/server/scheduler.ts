/**
 * Cron jobs of the agent: one run of a job at a time (a tick that comes while the last run is
 * still going is skipped and logged), a failed run is counted and retried at the next tick, and
 * stopping aborts the running job through its signal.
 */
import { Cron } from 'croner';
import type { Logger } from './logger.js';

export interface JobStats {
  readonly name: string;
  readonly schedule: string;
  runs: number;
  failures: number;
  skipped: number;
  running: boolean;
  lastStartedAt: string | null;
  lastFinishedAt: string | null;
  lastError: string | null;
  nextRunAt: string | null;
}

export class Scheduler {
  private readonly jobs: {
    cron: Cron;
    stats: JobStats;
    controller: AbortController | undefined;
    done: Promise<void> | undefined;
  }[] = [];
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  /** Adds a job that runs `work` on `schedule` (5 fields, or 6 with seconds). */
  add(
    name: string,
    schedule: string,
    work: (signal: AbortSignal) => Promise<Record<string, unknown>>,
  ): JobStats {
    const stats: JobStats = {
      name,
      schedule,
      runs: 0,
      failures: 0,
      skipped: 0,
      running: false,
      lastStartedAt: null,
      lastFinishedAt: null,
      lastError: null,
      nextRunAt: null,
    };
    const entry = {
      cron: undefined as unknown as Cron,
      stats,
      controller: undefined as AbortController | undefined,
      done: undefined as Promise<void> | undefined,
    };
    const tick = () => {
      if (stats.running) {
        stats.skipped += 1;
        this.log.warn({ job: name }, `${name}: the previous run is still going; skipping this tick`);
        return;
      }
      entry.done = this.runOnce(entry, work);
    };
    entry.cron = new Cron(schedule, { protect: false, catch: true }, tick);
    stats.nextRunAt = entry.cron.nextRun()?.toISOString() ?? null;
    this.jobs.push(entry);
    return stats;
  }

  /** Every job's counters. */
  stats(): JobStats[] {
    return this.jobs.map((j) => ({ ...j.stats, nextRunAt: j.cron.nextRun()?.toISOString() ?? null }));
  }

  private readonly stopHooks: (() => Promise<unknown> | undefined)[] = [];

  /** Work to finish when the agent stops (e.g. the change log's last segment). */
  onStop(hook: () => Promise<unknown> | undefined): void {
    this.stopHooks.push(hook);
  }

  /** Stops every schedule and aborts running jobs; resolves when they have ended. */
  async stop(reason = 'the agent is stopping'): Promise<void> {
    await Promise.allSettled(this.stopHooks.map(async (hook) => hook()));
    for (const job of this.jobs) {
      job.cron.stop();
      job.controller?.abort(new Error(reason));
    }
    await Promise.allSettled(this.jobs.map((j) => j.done ?? Promise.resolve()));
  }

  private async runOnce(
    entry: { stats: JobStats; controller: AbortController | undefined },
    work: (signal: AbortSignal) => Promise<Record<string, unknown>>,
  ): Promise<void> {
    const { stats } = entry;
    stats.running = true;
    stats.runs += 1;
    stats.lastStartedAt = new Date().toISOString();
    entry.controller = new AbortController();
    const started = Date.now();
    this.log.info({ job: stats.name, run: stats.runs }, `${stats.name}: started`);
    try {
      const result = await work(entry.controller.signal);
      stats.lastError = null;
      this.log.info(
        { job: stats.name, run: stats.runs, durationMs: Date.now() - started, ...result },
        `${stats.name}: done`,
      );
    } catch (error) {
      stats.failures += 1;
      stats.lastError = (error as Error).message;
      const hint = (error as { hint?: string }).hint;
      this.log.error(
        { job: stats.name, run: stats.runs, durationMs: Date.now() - started, error: stats.lastError, hint },
        `${stats.name}: failed`,
      );
    } finally {
      stats.running = false;
      stats.lastFinishedAt = new Date().toISOString();
      entry.controller = undefined;
    }
  }
}
