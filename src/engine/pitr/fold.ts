/**
 * Folding a change log into a snapshot, offline: the base snapshot's buckets with the log's
 * revisions up to a target applied, as the bucket contents of a new etcd database — what etcd
 * itself would hold had it been snapshotted at the target.
 *
 * - `key`: the base's entries as they are (bytes untouched), then every logged revision, each
 *   event at its sub-revision (its index in the revision), puts as mvccpb.KeyValue with the
 *   create revision and version the log recorded, deletes as tombstones (`…t`, the key only).
 *   The bucket is ordered by revision and every logged revision is above the base's, so it is
 *   streamed: memory holds the live keys' create revision and version (to check the log
 *   continues this base) and never the history.
 * - `lease`: the base's leases, plus every lease a logged put uses, with the granted TTL the log
 *   recorded (60 s when it had expired by then) — as the replay did.
 * - `meta`: the base's, with `consistent_index` raised by the revisions folded (a lower bound of
 *   the raft entries they took; `etcdutl snapshot restore` sets its own anyway); term,
 *   compaction revisions, confState and storageVersion as the base has them.
 * - Every other bucket (members, members_removed, cluster, auth*, alarm, …) as the base has it.
 *
 * A log that does not continue the base — a hole, a put whose create revision or version does
 * not follow the key's state, a delete of a key that does not exist — is refused, naming the
 * revision.
 */
import { StewardError } from '../../errors.js';
import { Snapshot, type BucketRef } from '../../snapshot/index.js';
import { decodeKeyValueAt, revisionOf, whereRevision } from '../../snapshot/snapshot.js';
import {
  encodeKeyValue,
  encodeLease,
  encodeTombstone,
  leaseKey,
  revisionKey,
  u64BE,
} from './fold-records.js';
import type { LoggedRevision } from './segment.js';

/** A lease first seen in the log whose TTL is unknown (it had expired by then) gets this. */
export const DEFAULT_LEASE_TTL_SECONDS = 60;

/** One bucket as the bulk writer takes it: entries strictly ascending by key. */
export interface FoldedBucket {
  readonly name: Uint8Array;
  readonly entries: AsyncIterable<readonly [Uint8Array, Uint8Array]>;
}

export interface FoldProgress {
  /** Revisions folded so far, and the last one. */
  readonly applied: number;
  readonly revision: number;
  readonly ratePerSecond: number;
}

export interface FoldResult {
  readonly baseRevision: number;
  /** The last revision folded (the base's when none was). */
  readonly lastRevision: number;
  /** Its commit time as logged (ms epoch), or null when nothing was folded. */
  readonly lastTimeMs: number | null;
  readonly revisions: number;
  readonly events: number;
  /** Entries of the new `key` bucket taken from the base. */
  readonly baseEntries: number;
  /** Keys alive at the last revision. */
  readonly liveKeys: number;
  /** Leases the log brought that the base did not have. */
  readonly leasesAdded: number;
  readonly durationMs: number;
}

export interface FoldOptions {
  /** The base snapshot, opened (the caller closes it after the buckets are consumed). */
  readonly base: Snapshot;
  /** The base's revision (as its manifest records it). */
  readonly baseRevision: number;
  /** Revisions after the base, in order (overlaps with the base are skipped). */
  readonly source: AsyncIterable<LoggedRevision>;
  /** Stop before this revision (it is not folded); absent: fold the whole source. */
  readonly stop?: ((revision: LoggedRevision) => boolean) | undefined;
  /** Granted TTLs of leases the log uses (filled while the source is read). */
  readonly leaseTtls: ReadonlyMap<string, number>;
  /** Called with each revision folded (after its checks), e.g. to build the log's digest. */
  readonly onRevision?: ((revision: LoggedRevision) => void) | undefined;
  readonly onProgress?: ((progress: FoldProgress) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** The log does not continue the base snapshot (a hole, or a different history). */
export class FoldMismatchError extends StewardError {}

const latin1 = (name: string) => Buffer.from(name, 'latin1');

/**
 * The buckets of the folded database (ascending by name) and a promise of the fold's figures,
 * settled once the writer has read every bucket. The `key` bucket must be read before `lease`
 * and `meta` (a writer takes buckets in order); reading them early is an error, not a wait.
 */
export async function foldBuckets(
  options: FoldOptions,
): Promise<{ buckets: FoldedBucket[]; result: Promise<FoldResult> }> {
  const base = options.base;
  const walk = base.db.walk();
  const root = walk.rootBucket();
  const refs = new Map<string, BucketRef>();
  for await (const entry of walk.entries(root)) {
    if (!entry.isBucket) continue;
    refs.set(entry.key.toString('latin1'), walk.childBucket(root, entry));
  }
  if (!refs.has('key'))
    throw new StewardError('the base snapshot has no `key` bucket: it is not an etcd data store', {
      hint: 'restore from another backup',
    });
  const small = async (name: string): Promise<[Buffer, Buffer][]> => {
    const ref = refs.get(name);
    if (!ref) return [];
    const out: [Buffer, Buffer][] = [];
    for await (const e of base.db.walk().entries(ref)) {
      if (e.isBucket)
        throw new StewardError(
          `the base snapshot's bucket ${name} holds a nested bucket, which etcd never writes`,
          {
            hint: 'restore from another backup, or with --replay-through-etcd',
          },
        );
      out.push([Buffer.from(e.key), Buffer.from(e.value)]);
    }
    return out;
  };

  const state = new FoldState(options);
  let settle!: (r: FoldResult) => void;
  let fail!: (e: unknown) => void;
  const result = new Promise<FoldResult>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  result.catch(() => undefined);
  let keyDone = false;
  const requireKeyDone = (name: string) => {
    if (!keyDone)
      throw new Error(`the writer read bucket ${name} before bucket key: the fold needs buckets in order`);
  };

  const buckets: FoldedBucket[] = [];
  const names = new Set([...refs.keys(), 'lease', 'meta']);
  for (const name of [...names].sort((a, b) => Buffer.compare(latin1(a), latin1(b)))) {
    let entries: AsyncIterable<readonly [Uint8Array, Uint8Array]>;
    if (name === 'key') {
      entries = (async function* () {
        try {
          yield* state.keyEntries(refs.get('key') as BucketRef);
          keyDone = true;
        } catch (error) {
          fail(error);
          throw error;
        }
      })();
    } else if (name === 'lease') {
      entries = (async function* () {
        requireKeyDone(name);
        yield* state.leaseEntries(await small('lease'));
      })();
    } else if (name === 'meta') {
      entries = (async function* () {
        requireKeyDone(name);
        const meta = state.metaEntries(await small('meta'));
        settle(state.result());
        yield* meta;
      })();
    } else {
      entries = (async function* () {
        yield* await small(name);
      })();
    }
    buckets.push({ name: latin1(name), entries });
  }
  return { buckets, result };
}

/** What a fold tracks: the live keys' create revision and version, counts, leases used. */
class FoldState {
  private readonly live = new Map<string, { c: number; n: number }>();
  private readonly leasesUsed = new Set<string>();
  private readonly started = Date.now();
  private lastRevision: number;
  private lastTimeMs: number | null = null;
  private revisions = 0;
  private events = 0;
  private baseEntries = 0;
  private leasesAdded = 0;
  private lastReport = 0;

  constructor(private readonly o: FoldOptions) {
    this.lastRevision = o.baseRevision;
  }

  async *keyEntries(ref: BucketRef): AsyncGenerator<readonly [Buffer, Buffer]> {
    let highest = 0;
    for await (const leaf of this.o.base.db.walk().leaves(ref)) {
      const out: [Buffer, Buffer][] = [];
      for (const entry of leaf) {
        const revision = revisionOf(entry);
        const kv = decodeKeyValueAt(entry.value, whereRevision(entry.key));
        const name = kv.key.toString('latin1');
        if (revision.tombstone) this.live.delete(name);
        else this.live.set(name, { c: kv.createRevision, n: kv.version });
        highest = revision.main;
        out.push([Buffer.from(entry.key), Buffer.from(entry.value)]);
      }
      this.baseEntries += out.length;
      yield* out;
    }
    if (highest > this.o.baseRevision) {
      throw new FoldMismatchError(
        `the base snapshot holds revision ${highest}, above the revision its manifest records (${this.o.baseRevision})`,
        { hint: 'the backup catalog does not describe this snapshot; restore from another backup' },
      );
    }
    for await (const r of this.o.source) {
      this.o.signal?.throwIfAborted();
      if (r.r <= this.lastRevision) continue; // overlap of two segments, or with the base
      const expected = this.lastRevision + 1;
      if (r.r !== expected) {
        throw new FoldMismatchError(
          `the change log has a hole: revision ${expected} is missing (the next one logged is ${r.r})`,
          { hint: 'restore to a revision before the hole, or from a snapshot taken after it' },
        );
      }
      if (this.o.stop?.(r)) break;
      yield* this.revisionEntries(r);
      this.o.onRevision?.(r);
      this.lastRevision = r.r;
      this.lastTimeMs = r.t;
      this.revisions += 1;
      this.events += r.e.length;
      const now = Date.now();
      if (now - this.lastReport >= 250) {
        this.lastReport = now;
        this.o.onProgress?.({
          applied: this.revisions,
          revision: r.r,
          ratePerSecond: this.revisions / Math.max(0.001, (now - this.started) / 1000),
        });
      }
    }
  }

  private revisionEntries(r: LoggedRevision): [Buffer, Buffer][] {
    const out: [Buffer, Buffer][] = [];
    const mismatch = (what: string) =>
      new FoldMismatchError(
        `revision ${r.r} of the change log does not continue the base snapshot: ${what}`,
        {
          hint: 'the log belongs to another history (another cluster, or a restore after the base); restore from a snapshot of this chain',
        },
      );
    r.e.forEach((e, sub) => {
      const key = Buffer.from(e.k, 'base64');
      const name = key.toString('latin1');
      const before = this.live.get(name);
      if ('d' in e) {
        if (!before) throw mismatch(`it deletes key ${JSON.stringify(name)}, which does not exist there`);
        this.live.delete(name);
        out.push([revisionKey(r.r, sub, true), encodeTombstone(key)]);
        return;
      }
      const c = before ? before.c : r.r;
      const n = before ? before.n + 1 : 1;
      if (e.c !== c || e.n !== n)
        throw mismatch(
          `key ${JSON.stringify(name)} is logged with create revision ${e.c} and version ${e.n}, the base's history gives ${c} and ${n}`,
        );
      this.live.set(name, { c, n });
      const lease = e.l ?? '0';
      if (lease !== '0') this.leasesUsed.add(lease);
      out.push([
        revisionKey(r.r, sub, false),
        encodeKeyValue({
          key,
          value: { base64: e.v },
          createRevision: c,
          modRevision: r.r,
          version: n,
          lease,
        }),
      ]);
    });
    return out;
  }

  leaseEntries(baseLeases: [Buffer, Buffer][]): [Buffer, Buffer][] {
    const have = new Set(baseLeases.map(([k]) => k.toString('hex')));
    const all = [...baseLeases];
    for (const id of this.leasesUsed) {
      const key = leaseKey(id);
      if (have.has(key.toString('hex'))) continue;
      const ttl = this.o.leaseTtls.get(id) || DEFAULT_LEASE_TTL_SECONDS;
      all.push([key, encodeLease(id, ttl)]);
      this.leasesAdded += 1;
    }
    return all.sort((a, b) => Buffer.compare(a[0], b[0]));
  }

  metaEntries(baseMeta: [Buffer, Buffer][]): [Buffer, Buffer][] {
    const out = baseMeta.map(([k, v]): [Buffer, Buffer] => {
      if (k.toString('latin1') === 'consistent_index' && v.length === 8)
        return [k, u64BE(v.readBigUInt64BE(0) + BigInt(this.revisions))];
      return [k, v];
    });
    return out;
  }

  result(): FoldResult {
    return {
      baseRevision: this.o.baseRevision,
      lastRevision: this.lastRevision,
      lastTimeMs: this.lastTimeMs,
      revisions: this.revisions,
      events: this.events,
      baseEntries: this.baseEntries,
      liveKeys: this.live.size,
      leasesAdded: this.leasesAdded,
      durationMs: Date.now() - this.started,
    };
  }
}
