/**
 * Replaying a change log into a member: one Txn per original revision, in order, so the member's
 * revisions line up with the original cluster's (mod and create revisions, versions).
 *
 * To be fast, up to `window` Txns are in flight at once. Order is kept by a guard on each Txn:
 * it applies only if the previous revision already did (its first key has that mod revision, or
 * — for a delete — no longer exists). A Txn that arrives too early fails its guard without
 * using a revision, and is sent again, with everything after it, once its predecessor is in.
 */
import type { MemberClient, TxnCompare, TxnOp } from '../../etcd/member-client.js';
import { StewardError } from '../../errors.js';
import type { LoggedRevision } from './segment.js';

export interface ReplayProgress {
  readonly applied: number;
  readonly revision: number;
  readonly ratePerSecond: number;
}

export interface ReplayResult {
  /** The last revision applied (the base revision when none was). */
  readonly lastRevision: number;
  /** Its commit time as logged (ms epoch), or null when nothing was replayed. */
  readonly lastTimeMs: number | null;
  readonly revisions: number;
  readonly events: number;
  readonly durationMs: number;
  /** Txns sent again because they arrived before their predecessor. */
  readonly resent: number;
}

/** The replayed member did not end up where the log says (an extra or a missing revision). */
export class ReplayMisalignedError extends StewardError {}

function guardFor(previous: LoggedRevision | undefined): TxnCompare[] {
  const first = previous?.e[0];
  if (!previous || !first) return [];
  const key = Buffer.from(first.k, 'base64');
  return 'd' in first ? [{ key, target: 'VERSION', value: 0 }] : [{ key, target: 'MOD', value: previous.r }];
}

function opsFor(revision: LoggedRevision): TxnOp[] {
  return revision.e.map((e) =>
    'd' in e
      ? { type: 'delete' as const, key: Buffer.from(e.k, 'base64') }
      : {
          type: 'put' as const,
          key: Buffer.from(e.k, 'base64'),
          value: Buffer.from(e.v, 'base64'),
          lease: e.l ?? '0',
        },
  );
}

/**
 * Applies `source` (revisions after `baseRevision`, in order) until `stop` says so or the
 * source ends. `ensureLease` is awaited before a revision that uses a lease not seen before.
 */
export async function replayRevisions(options: {
  client: MemberClient;
  baseRevision: number;
  source: AsyncIterable<LoggedRevision>;
  stop?: (revision: LoggedRevision) => boolean;
  ensureLease?: (id: string) => Promise<void>;
  window?: number;
  onProgress?: (progress: ReplayProgress) => void;
  signal?: AbortSignal;
}): Promise<ReplayResult> {
  const window = options.window ?? 1;
  const started = Date.now();
  const leases = new Set<string>(['0']);
  type Sent = {
    revision: LoggedRevision;
    guard: TxnCompare[];
    ops: TxnOp[];
    result: Promise<{ succeeded: boolean; revision: number }>;
  };
  const inflight: Sent[] = [];
  let applied = options.baseRevision;
  let appliedTime: number | null = null;
  let count = 0;
  let events = 0;
  let resent = 0;
  let lastRead: LoggedRevision | undefined;
  let lastReport = 0;

  const send = (s: Omit<Sent, 'result'>): Sent => {
    const result = options.client.txn(s.guard, s.ops);
    result.catch(() => undefined); // awaited in order later; never an unhandled rejection meanwhile
    return { ...s, result };
  };

  const accept = (head: Sent, result: { succeeded: boolean; revision: number }): void => {
    if (!result.succeeded || result.revision !== head.revision.r) {
      throw new ReplayMisalignedError(
        result.succeeded
          ? `replaying revision ${head.revision.r} produced revision ${result.revision}: the replay member's revisions no longer line up with the log`
          : `revision ${head.revision.r} does not apply although revision ${applied} did: the replay member does not hold what the log expects`,
        {
          hint: 'a lease may have expired in the replay member, or something else wrote to it; run the restore again',
        },
      );
    }
    applied = head.revision.r;
    appliedTime = head.revision.t;
    count += 1;
    events += head.revision.e.length;
    const now = Date.now();
    if (now - lastReport >= 250) {
      lastReport = now;
      options.onProgress?.({
        applied: count,
        revision: applied,
        ratePerSecond: count / Math.max(0.001, (now - started) / 1000),
      });
    }
  };

  /** Settles the oldest Txn in flight; on a failed guard, sends it and all after it again. */
  const settleOldest = async (): Promise<void> => {
    const head = inflight.shift() as Sent;
    const result = await head.result;
    if (result.succeeded) return accept(head, result);
    // Arrived before its predecessor: everything after it fails its guard too. Wait for them,
    // then send the first one alone and the rest again in order.
    const rest = inflight.splice(0);
    const settled = await Promise.all(rest.map((s) => s.result));
    if (settled.some((r) => r.succeeded)) {
      throw new ReplayMisalignedError(`replay lost its order after revision ${applied}`, {
        hint: 'run the restore again',
      });
    }
    resent += 1 + rest.length;
    accept(head, await options.client.txn(head.guard, head.ops));
    for (const s of rest) inflight.push(send(s));
  };

  for await (const revision of options.source) {
    options.signal?.throwIfAborted();
    if (revision.r <= (lastRead?.r ?? options.baseRevision)) continue; // overlap of two segments
    const expected = (lastRead?.r ?? options.baseRevision) + 1;
    if (revision.r !== expected) {
      throw new StewardError(
        `the change log has a hole: revision ${expected} is missing (next is ${revision.r})`,
        {
          hint: 'restore to a revision before the hole, or from a snapshot taken after it',
        },
      );
    }
    if (options.stop?.(revision)) break;
    for (const e of revision.e) {
      if ('l' in e && e.l && !leases.has(e.l)) {
        leases.add(e.l);
        await options.ensureLease?.(e.l);
      }
    }
    inflight.push(send({ revision, guard: guardFor(lastRead), ops: opsFor(revision) }));
    lastRead = revision;
    while (inflight.length >= window) await settleOldest();
  }
  while (inflight.length > 0) await settleOldest();
  return {
    lastRevision: applied,
    lastTimeMs: appliedTime,
    revisions: count,
    events,
    durationMs: Date.now() - started,
    resent,
  };
}
