/**
 * The agent's job queue: one job at a time per cluster, scheduled and API jobs in one line.
 * A job that throws is `failed` (counted; its schedule simply tries again at the next tick); one
 * ended by `close()` is `aborted`. Finished jobs are kept (newest 200) for `/api/jobs`.
 */
import { randomBytes } from 'node:crypto';
import { describeError } from '../errors.js';
import type { Logger } from './logger.js';

export type JobKind = 'backup' | 'prune' | 'verify' | 'drill' | 'defrag' | 'snapshot';
export type JobTrigger = 'schedule' | 'api';
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'aborted';

/** A job as `/api/jobs` shows it. */
export interface Job {
  readonly id: string;
  readonly kind: JobKind;
  readonly trigger: JobTrigger;
  state: JobState;
  readonly createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  result?: unknown;
  error?: string;
  /** What to do about the error, when the failure names a fix. */
  hint?: string;
}

/** What a job's work may throw to fail with a result attached (e.g. a defrag report). */
export class JobFailure extends Error {
  readonly result: unknown;
  readonly hint: string | undefined;
  constructor(message: string, result: unknown, hint?: string) {
    super(message);
    this.result = result;
    this.hint = hint;
  }
}

export type JobWork = (signal: AbortSignal) => Promise<unknown>;

const KEEP_FINISHED = 200;

export class JobQueue {
  private readonly jobs: Job[] = [];
  private readonly waiting: { job: Job; work: JobWork }[] = [];
  private running: { job: Job; controller: AbortController; done: Promise<void> } | undefined;
  private closed = false;
  private readonly log: Logger | undefined;
  private readonly listeners: ((job: Job) => void)[] = [];

  constructor(options: { log?: Logger } = {}) {
    this.log = options.log;
  }

  /** Calls `listener` with every job that has just finished (succeeded, failed or aborted). */
  onFinished(listener: (job: Job) => void): void {
    this.listeners.push(listener);
  }

  /** Queues `work`; it runs once every job before it has ended. */
  submit(kind: JobKind, trigger: JobTrigger, work: JobWork): Job {
    const job: Job = {
      id: `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`,
      kind,
      trigger,
      state: 'queued',
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
      durationMs: null,
    };
    this.jobs.unshift(job);
    if (this.closed) {
      this.finish(job, 'aborted', undefined, 'the agent is stopping');
      return job;
    }
    this.waiting.push({ job, work });
    this.log?.info({ job: job.id, kind, trigger }, `${kind}: queued`);
    this.next();
    return job;
  }

  /** Whether a job of `kind` is queued or running (a schedule skips its tick then). */
  pending(kind: JobKind): boolean {
    return this.running?.job.kind === kind || this.waiting.some((w) => w.job.kind === kind);
  }

  /** Every job, newest first. */
  list(): readonly Job[] {
    return this.jobs;
  }

  get(id: string): Job | undefined {
    return this.jobs.find((j) => j.id === id);
  }

  /** Aborts the running job, drops the queued ones; resolves once the running job has ended. */
  async close(reason = 'the agent is stopping'): Promise<void> {
    this.closed = true;
    for (const { job } of this.waiting.splice(0)) this.finish(job, 'aborted', undefined, reason);
    const running = this.running;
    if (running) {
      running.controller.abort(new Error(reason));
      await running.done;
    }
  }

  private next(): void {
    if (this.running || this.closed) return;
    const entry = this.waiting.shift();
    if (!entry) return;
    const { job, work } = entry;
    const controller = new AbortController();
    job.state = 'running';
    job.startedAt = new Date().toISOString();
    this.log?.info({ job: job.id, kind: job.kind, trigger: job.trigger }, `${job.kind}: started`);
    const done = (async () => {
      try {
        const result = await work(controller.signal);
        this.finish(job, 'succeeded', result, undefined);
      } catch (error) {
        const failure = error instanceof JobFailure ? error : undefined;
        const hint = failure?.hint ?? (error as { hint?: unknown }).hint;
        this.finish(
          job,
          controller.signal.aborted ? 'aborted' : 'failed',
          failure?.result,
          describeError(error),
          typeof hint === 'string' ? hint : undefined,
        );
      }
    })();
    this.running = { job, controller, done };
    void done.then(() => {
      this.running = undefined;
      this.next();
    });
  }

  private finish(job: Job, state: JobState, result: unknown, error: string | undefined, hint?: string): void {
    job.state = state;
    job.finishedAt = new Date().toISOString();
    job.durationMs = job.startedAt ? Date.parse(job.finishedAt) - Date.parse(job.startedAt) : 0;
    if (result !== undefined) job.result = result;
    if (error !== undefined) job.error = error;
    if (hint !== undefined) job.hint = hint;
    const fields = { job: job.id, kind: job.kind, trigger: job.trigger, durationMs: job.durationMs };
    if (state === 'succeeded') this.log?.info({ ...fields, ...smallRecord(result) }, `${job.kind}: done`);
    else this.log?.error({ ...fields, state, error, hint }, `${job.kind}: ${state}`);
    for (const listener of this.listeners) listener(job);
    const finished = this.jobs.filter((j) => j.finishedAt !== null);
    if (finished.length > KEEP_FINISHED) {
      const drop = new Set(finished.slice(KEEP_FINISHED));
      for (let i = this.jobs.length - 1; i >= 0; i -= 1)
        if (drop.has(this.jobs[i] as Job)) this.jobs.splice(i, 1);
    }
  }
}

/** A small plain-object result, to log its fields beside the message; big ones stay in /api/jobs. */
function smallRecord(result: unknown): Record<string, unknown> {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return {};
  return JSON.stringify(result).length <= 1000 ? (result as Record<string, unknown>) : {};
}
