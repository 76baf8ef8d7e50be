/**
 * The agent's job queue: one job at a time per cluster, scheduled and API jobs in one line.
 * A job that throws is `failed` (counted; its schedule simply tries again at the next tick); one
 * ended by `close()` is `aborted`. Finished jobs are kept (newest 200) for `/api/jobs`.
 */
import { randomBytes } from 'node:crypto';
import { describeError } from '../errors.js';
import type { JobKind, JobReply, JobResultReply, Sendable } from './api-schemas.js';
import type { Logger } from './logger.js';

export type { JobKind };
export type JobTrigger = JobReply['trigger'];
export type JobState = JobReply['state'];
/** What a job of kind K returns (its schema is api-schemas' jobResults[K]). */
export type JobResult<K extends JobKind = JobKind> = Sendable<JobResultReply<K>>;

/** A job of kind K as `/api/jobs` shows it. */
export interface JobOf<K extends JobKind> {
  readonly id: string;
  readonly kind: K;
  readonly trigger: JobTrigger;
  state: JobState;
  readonly createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  result?: JobResult<K>;
  error?: string;
  /** What to do about the error, when the failure names a fix. */
  hint?: string;
}

/** A job of any kind (narrowed by `kind`). */
export type Job = { [K in JobKind]: JobOf<K> }[JobKind];

/** A job as the queue holds it: kind and result are paired at `submit`. */
type QueuedJob = JobOf<JobKind>;

/** What a job's work may throw to fail with a result attached (e.g. a defrag report). */
export class JobFailure extends Error {
  readonly result: JobResult;
  readonly hint: string | undefined;
  constructor(message: string, result: JobResult, hint?: string) {
    super(message);
    this.result = result;
    this.hint = hint;
  }
}

export type JobWork<K extends JobKind = JobKind> = (signal: AbortSignal) => Promise<JobResult<K>>;

const KEEP_FINISHED = 200;

export class JobQueue {
  private readonly jobs: QueuedJob[] = [];
  private readonly waiting: { job: QueuedJob; work: JobWork }[] = [];
  private running: { job: QueuedJob; controller: AbortController; done: Promise<void> } | undefined;
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
  submit<K extends JobKind>(kind: K, trigger: JobTrigger, work: JobWork<K>): JobOf<K> {
    const job: JobOf<K> = {
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
    return this.jobs as readonly Job[];
  }

  get(id: string): Job | undefined {
    return this.jobs.find((j) => j.id === id) as Job | undefined;
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

  private finish(
    job: QueuedJob,
    state: JobState,
    result: JobResult | undefined,
    error: string | undefined,
    hint?: string,
  ): void {
    job.state = state;
    job.finishedAt = new Date().toISOString();
    job.durationMs = job.startedAt ? Date.parse(job.finishedAt) - Date.parse(job.startedAt) : 0;
    if (result !== undefined) job.result = result;
    if (error !== undefined) job.error = error;
    if (hint !== undefined) job.hint = hint;
    const fields = { job: job.id, kind: job.kind, trigger: job.trigger, durationMs: job.durationMs };
    if (state === 'succeeded') this.log?.info({ ...fields, ...smallRecord(result) }, `${job.kind}: done`);
    else this.log?.error({ ...fields, state, error, hint }, `${job.kind}: ${state}`);
    for (const listener of this.listeners) listener(job as Job);
    const finished = this.jobs.filter((j) => j.finishedAt !== null);
    if (finished.length > KEEP_FINISHED) {
      const drop = new Set(finished.slice(KEEP_FINISHED));
      for (let i = this.jobs.length - 1; i >= 0; i -= 1)
        if (drop.has(this.jobs[i] as QueuedJob)) this.jobs.splice(i, 1);
    }
  }
}

/** A small plain-object result, to log its fields beside the message; big ones stay in /api/jobs. */
function smallRecord(result: unknown): Record<string, unknown> {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return {};
  return JSON.stringify(result).length <= 1000 ? (result as Record<string, unknown>) : {};
}
