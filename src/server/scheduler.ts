/**
 * Cron ticks of the agent. A tick only submits a job to the JobQueue (which runs one job at a
 * time); a tick that comes while a job of the same kind is still queued or running is skipped and
 * logged. A failed job is counted by the queue and tried again at the next tick.
 */
import { Cron } from 'croner';
import type { Logger } from './logger.js';

export interface Schedule {
  readonly name: string;
  readonly pattern: string;
  /** The next run, ISO, or null when there is none. */
  nextRunAt(): string | null;
  /** Seconds between the next two runs (the schedule's interval), or undefined. */
  intervalSeconds(): number | undefined;
}

/** Seconds between the next two runs of a cron pattern (undefined if it has fewer than two). */
export function cronIntervalSeconds(pattern: string): number | undefined {
  const [a, b] = new Cron(pattern, { paused: true }).nextRuns(2);
  return a && b ? (b.getTime() - a.getTime()) / 1000 : undefined;
}

export class Scheduler {
  private readonly crons: Cron[] = [];
  private readonly schedules: Schedule[] = [];
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  /** Calls `tick` on `pattern` (5 fields, or 6 with seconds). */
  add(name: string, pattern: string, tick: () => void): Schedule {
    const cron = new Cron(pattern, { protect: false, catch: true }, () => {
      this.log.debug({ schedule: name }, `${name}: tick`);
      tick();
    });
    this.crons.push(cron);
    const schedule: Schedule = {
      name,
      pattern,
      nextRunAt: () => cron.nextRun()?.toISOString() ?? null,
      intervalSeconds: () => cronIntervalSeconds(pattern),
    };
    this.schedules.push(schedule);
    return schedule;
  }

  list(): readonly Schedule[] {
    return this.schedules;
  }

  get(name: string): Schedule | undefined {
    return this.schedules.find((s) => s.name === name);
  }

  /** Stops every schedule (running jobs are the queue's to end). */
  stop(): void {
    for (const cron of this.crons) cron.stop();
  }
}
