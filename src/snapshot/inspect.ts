/**
 * The summary and the verification of a snapshot: one walk over every reachable page (all
 * buckets, nested ones too), with the trailer hashed alongside in one sequential pass.
 */
import { type BoltEntry, type BucketRef, type TreeWalk } from './bbolt-walk.js';
import {
  decodeAuthEnabled,
  decodeCluster,
  decodeMembers,
  decodeMeta,
  type SnapshotMember,
} from './etcd-buckets.js';
import { ProtobufError, decodeLease } from './etcd-records.js';
import { SnapshotCorruptError } from './errors.js';
import { LiveIndex } from './live-index.js';
import { KEY_BUCKET, Snapshot, decodeKeyValueAt, revisionOf, whereRevision } from './snapshot.js';
import type { OpenOptions } from './positional-file.js';
import { HashKvBuilder, hashKvCompactRevision, type HashKvValue } from './hashkv.js';
import { type TrailerStatus } from './trailer.js';

/** What a snapshot holds, from one pass over it. */
export interface SnapshotSummary {
  readonly path: string;
  readonly fileSize: number;
  readonly pageSize: number;
  /** The bbolt transaction the snapshot was taken at. */
  readonly txid: number;
  /** Pages the database spans (the meta's high-water mark). */
  readonly pageCount: number;
  /** Pages reached from the metas (metas, freelist and every bucket's pages); the rest are free. */
  readonly reachablePages: number;
  /** `reachablePages × pageSize`: what etcd reports as "db size in use". */
  readonly inUseBytes: number;
  readonly trailer: TrailerStatus;
  /** Top-level bucket names in byte order. */
  readonly buckets: string[];
  /**
   * The store's revision as etcd restores it: the highest main revision in `key`, or the
   * finished compaction revision when that is higher (a compaction may drop the newest tombstones).
   */
  readonly revision: number;
  /** The last finished compaction (0: never compacted). */
  readonly compactRevision: number;
  /** A compaction that was started but not finished, if any (etcd finishes it on restore). */
  readonly scheduledCompactRevision: number | undefined;
  readonly consistentIndex: number | undefined;
  readonly term: number | undefined;
  /** Entries of the `key` bucket: every revision it holds, tombstones included. */
  readonly revisions: number;
  /** Keys alive at `revision` (latest version of each, tombstones applied). */
  readonly liveKeys: number;
  /** Sum of key + value lengths of the live keys. */
  readonly liveBytes: number;
  readonly leases: number;
  readonly members: SnapshotMember[];
  /** Ids (hex) of members recorded as removed. */
  readonly removedMembers: string[];
  readonly clusterVersion: string | undefined;
  /** etcd 3.6+: the storage schema version. */
  readonly storageVersion: string | undefined;
  readonly authEnabled: boolean;
}

/** The verdict of `verifySnapshot`. */
export interface VerifyReport {
  /** No problems: valid metas, a matching trailer (or none), a complete and acyclic page tree. */
  readonly ok: boolean;
  /** One sentence per problem, each naming where ("page 1234: …", "trailer: …"). */
  readonly problems: string[];
  /** What could be read; undefined when the file could not even be opened as bbolt. */
  readonly summary: SnapshotSummary | undefined;
  /** etcd's HashKV at the snapshot's revision, computed in the same pass (`hashKv` asked, file whole, no unfinished compaction). */
  readonly hashKv?: HashKvValue | undefined;
  /** The live keys in byte order (`liveKeys` asked, file whole): from the pass's index, no second read. */
  readonly liveKeys?: (() => Iterable<Buffer>) | undefined;
}

/** What `verifySnapshot` computes besides the verdict, in the same pass. */
export interface VerifyOptions extends OpenOptions {
  /** etcd's HashKV at the snapshot's revision (see hashkv.ts). */
  readonly hashKv?: boolean;
  /** Keep the live-key index for `liveKeys`. */
  readonly liveKeys?: boolean;
  /** The trailer's verdict as the caller already proved it (hashing the stream that wrote the file): no second pass. */
  readonly trailer?: TrailerStatus | undefined;
}

const MAX_PROBLEMS = 200;
const SMALL_BUCKETS = new Set(['meta', 'members', 'members_removed', 'cluster', 'auth']);

class Pass {
  readonly problems: string[] = [];
  private dropped = 0;
  readonly small = new Map<string, Map<string, Buffer>>();
  readonly buckets: string[] = [];
  readonly index = new LiveIndex();
  revisions = 0;
  highest = 0;
  leases = 0;
  hashKv: HashKvBuilder | undefined;
  readonly walk: TreeWalk;

  constructor(
    readonly snapshot: Snapshot,
    readonly strict: boolean,
  ) {
    this.walk = snapshot.db.walk(strict ? {} : { onProblem: (p) => this.report(p) });
  }

  report(problem: SnapshotCorruptError): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(problem.message);
    else this.dropped++;
  }

  /** Throws in strict mode, records otherwise. */
  fail(error: unknown): void {
    if (!this.strict && error instanceof SnapshotCorruptError) this.report(error);
    else throw error;
  }

  allProblems(): string[] {
    return this.dropped > 0 ? [...this.problems, `… and ${this.dropped} more problems`] : this.problems;
  }

  async run(): Promise<void> {
    const root = this.walk.rootBucket();
    for await (const entry of this.walk.entries(root)) {
      const name = entry.key.toString('latin1');
      if (!entry.isBucket) {
        this.fail(new SnapshotCorruptError('root bucket', `entry ${JSON.stringify(name)} is not a bucket`));
        continue;
      }
      this.buckets.push(name);
      let bucket: BucketRef;
      try {
        bucket = this.walk.childBucket(root, entry);
      } catch (error) {
        this.fail(error);
        continue;
      }
      if (name === KEY_BUCKET) await this.keyBucket(bucket);
      else await this.otherBucket(bucket, name);
    }
    if (!this.buckets.includes(KEY_BUCKET))
      this.fail(
        new SnapshotCorruptError('bucket key', 'missing: this bbolt database is not an etcd data store'),
      );
  }

  private async keyBucket(bucket: BucketRef): Promise<void> {
    for await (const leaf of this.walk.leaves(bucket))
      for (const entry of leaf) {
        try {
          const revision = revisionOf(entry);
          const kv = decodeKeyValueAt(entry.value, whereRevision(entry.key));
          if (!revision.tombstone && kv.modRevision !== revision.main)
            throw new SnapshotCorruptError(
              whereRevision(entry.key)(),
              `holds a KeyValue with mod_revision ${kv.modRevision}`,
            );
          this.revisions++;
          this.highest = revision.main;
          this.hashKv?.add(entry.key, revision, entry.value, entry.valueOffset);
          if (revision.tombstone) this.index.delete(kv.key);
          else this.index.put(kv.key, entry.valueOffset, entry.value.length, kv.key.length + kv.value.length);
        } catch (error) {
          this.fail(error);
        }
      }
  }

  private async otherBucket(bucket: BucketRef, name: string): Promise<void> {
    const keep = SMALL_BUCKETS.has(name) ? new Map<string, Buffer>() : undefined;
    if (keep) this.small.set(name, keep);
    for await (const leaf of this.walk.leaves(bucket))
      for (const entry of leaf) {
        if (entry.isBucket) await this.nested(bucket, entry);
        else if (keep) keep.set(entry.key.toString('latin1'), entry.value);
        else if (name === 'lease') this.lease(entry);
      }
  }

  private lease(entry: BoltEntry): void {
    try {
      decodeLease(entry.value);
      this.leases++;
    } catch (error) {
      this.fail(
        error instanceof ProtobufError
          ? new SnapshotCorruptError(
              `bucket lease, lease ${entry.key.toString('hex')}`,
              `does not decode: ${error.message}`,
            )
          : error,
      );
    }
  }

  /** etcd has no nested buckets, but a bbolt file may: walk them so verify reaches every page. */
  private async nested(parent: BucketRef, entry: BoltEntry): Promise<void> {
    let bucket: BucketRef;
    try {
      bucket = this.walk.childBucket(parent, entry);
    } catch (error) {
      this.fail(error);
      return;
    }
    for await (const child of this.walk.entries(bucket)) if (child.isBucket) await this.nested(bucket, child);
  }

  /** Every page below the high-water mark must be reached or free, never both (needs a stored freelist). */
  async accountPages(): Promise<number> {
    const db = this.snapshot.db;
    const free = await this.walk.freelist();
    let reached = 0;
    for (let id = 0; id < db.meta.highWaterMark; id++) if (this.walk.reached(id)) reached++;
    if (!free) return reached;
    const isFree = new Uint8Array(db.meta.highWaterMark);
    for (const id of free) {
      if (!Number.isSafeInteger(id) || id < 2 || id >= db.meta.highWaterMark)
        this.fail(
          new SnapshotCorruptError(
            `page ${db.meta.freelist}`,
            `freelist lists page ${id}, outside 2..${db.meta.highWaterMark - 1}`,
          ),
        );
      else if (isFree[id] === 1)
        this.fail(new SnapshotCorruptError(`page ${id}`, 'listed twice in the freelist'));
      else if (this.walk.reached(id))
        this.fail(new SnapshotCorruptError(`page ${id}`, 'in use by the tree but listed as free'));
      else isFree[id] = 1;
    }
    const lost: number[] = [];
    for (let id = 2; id < db.meta.highWaterMark; id++)
      if (!this.walk.reached(id) && isFree[id] !== 1) lost.push(id);
    if (lost.length > 0)
      this.fail(
        new SnapshotCorruptError(
          `${lost.length === 1 ? 'page' : 'pages'} ${lost.slice(0, 10).join(', ')}${lost.length > 10 ? ', …' : ''}`,
          `${lost.length === 1 ? 'is' : `${lost.length} pages are`} neither reachable nor free (a lost subtree, or a damaged freelist)`,
        ),
      );
    return reached;
  }

  summary(trailer: TrailerStatus, reachablePages: number): SnapshotSummary {
    const meta = decodeMeta(this.small.get('meta') ?? new Map());
    const cluster = decodeCluster(this.small.get('cluster') ?? new Map());
    const db = this.snapshot.db;
    const compactRevision = meta.finishedCompactRevision ?? 0;
    return {
      path: this.snapshot.path,
      fileSize: this.snapshot.fileSize,
      pageSize: db.pageSize,
      txid: db.meta.txid,
      pageCount: db.meta.highWaterMark,
      reachablePages,
      inUseBytes: reachablePages * db.pageSize,
      trailer,
      buckets: this.buckets,
      revision: Math.max(this.highest, compactRevision),
      compactRevision,
      scheduledCompactRevision:
        meta.scheduledCompactRevision !== undefined && meta.scheduledCompactRevision > compactRevision
          ? meta.scheduledCompactRevision
          : undefined,
      consistentIndex: meta.consistentIndex,
      term: meta.term,
      revisions: this.revisions,
      liveKeys: this.index.count,
      liveBytes: this.index.liveBytes,
      leases: this.leases,
      members: decodeMembers(this.small.get('members') ?? new Map()),
      removedMembers: [...(this.small.get('members_removed')?.keys() ?? [])],
      clusterVersion: cluster.clusterVersion,
      storageVersion: meta.storageVersion,
      authEnabled: decodeAuthEnabled(this.small.get('auth')),
    };
  }
}

/**
 * Summarises an open snapshot in one pass (the trailer is hashed alongside). Throws
 * `SnapshotCorruptError` at the first damage in the page tree or the records; a trailer that
 * does not match is not thrown but reported as `trailer: 'bad'`.
 */
export async function summarizeSnapshot(snapshot: Snapshot): Promise<SnapshotSummary> {
  const pass = new Pass(snapshot, true);
  const [trailer] = await Promise.all([snapshot.trailer(), pass.run()]);
  return pass.summary(trailer.status, await pass.accountPages());
}

/**
 * Verifies the snapshot at `path` and never throws for damage: walks every reachable page of
 * every bucket (and the freelist when stored: then every page must be reachable or free), checks
 * both metas and the trailer, decodes every revision, and lists each problem found. Throws only
 * when the file cannot be read at all (ENOENT, EACCES).
 */
export async function verifySnapshot(path: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  let snapshot: Snapshot;
  try {
    snapshot = await Snapshot.open(path, options);
  } catch (error) {
    if (error instanceof SnapshotCorruptError)
      return { ok: false, problems: [error.message], summary: undefined };
    throw error;
  }
  try {
    const pass = new Pass(snapshot, false);
    pass.problems.push(...snapshot.db.problems);
    const known = options.trailer;
    if (options.hashKv) {
      const compactRevision = await snapshot.etcdMeta().then(hashKvCompactRevision, () => undefined);
      if (compactRevision !== undefined) pass.hashKv = new HashKvBuilder(compactRevision);
    }
    const [trailer] = await Promise.all([
      (known
        ? Promise.resolve({ status: known, stored: undefined, computed: undefined })
        : snapshot.trailer()
      ).catch((error: unknown) => {
        pass.fail(error);
        return { status: 'bad' as const, stored: undefined, computed: undefined };
      }),
      pass.run().catch((error: unknown) => pass.fail(error)),
    ]);
    if (trailer.status === 'bad' && trailer.stored !== undefined)
      pass.report(
        new SnapshotCorruptError(
          'trailer',
          `SHA-256 of the content is ${trailer.computed} but the trailer says ${trailer.stored}: the file was changed or damaged`,
        ),
      );
    const reachable = await pass.accountPages();
    const problems = pass.allProblems();
    const ok = problems.length === 0;
    return {
      ok,
      problems,
      summary: pass.summary(trailer.status, reachable),
      hashKv: ok ? pass.hashKv?.finish(pass.index.offsets()) : undefined,
      liveKeys: ok && options.liveKeys ? () => liveKeysOf(pass.index) : undefined,
    };
  } finally {
    await snapshot.close();
  }
}

function* liveKeysOf(index: LiveIndex): Generator<Buffer> {
  for (const [key] of index.sorted()) yield key;
}
