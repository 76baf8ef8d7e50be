/**
 * An etcd snapshot opened for reading: the bbolt database inside it, etcd's buckets, and the key
 * space at the latest revision (or an earlier one the snapshot still holds). Reads pages on
 * demand; nothing loads the whole file.
 */
import { BoltDatabase } from './bbolt-database.js';
import { type BoltEntry, type BucketRef } from './bbolt-walk.js';
import { type BoltMeta } from './bbolt-format.js';
import {
  decodeCluster,
  decodeMembers,
  decodeMeta,
  type BucketEntries,
  type EtcdClusterInfo,
  type EtcdMetaInfo,
  type SnapshotMember,
} from './etcd-buckets.js';
import {
  ProtobufError,
  decodeKeyValue,
  decodeLease,
  parseRevisionKey,
  revisionKeyBytes,
  type KeyValue,
  type DecodedLease,
  type RevisionKey,
} from './etcd-records.js';
import { SnapshotCorruptError, SnapshotRevisionError } from './errors.js';
import { LiveIndex } from './live-index.js';
import { PositionalFile, type OpenOptions } from './positional-file.js';
import { TRAILER_SIZE, checkTrailer, hasTrailer, type TrailerCheck } from './trailer.js';

/** One entry of the `key` bucket: a put, or a delete (`tombstone`, whose `kv` has only the key). */
export interface RevisionRecord {
  readonly revision: RevisionKey;
  readonly kv: KeyValue;
}

/** Which keys `keyValues` lists. */
export interface KeyValueOptions {
  /** Only keys starting with these bytes (a string is taken as UTF-8). */
  readonly prefix?: string | Buffer;
  /** The view at this revision instead of the latest; must not be below the compaction revision. */
  readonly revision?: number;
}

/** A bucket that must exist in an etcd database. */
export const KEY_BUCKET = 'key';

/**
 * Decodes a KeyValue or throws `SnapshotCorruptError` at `where` (the revision it belongs to);
 * `where` may be a function, so the hot path builds no message.
 */
export function decodeKeyValueAt(value: Buffer, where: string | (() => string)): KeyValue {
  try {
    return decodeKeyValue(value);
  } catch (error) {
    if (error instanceof ProtobufError)
      throw new SnapshotCorruptError(
        typeof where === 'string' ? where : where(),
        `KeyValue does not decode: ${error.message}`,
        { cause: error },
      );
    throw error;
  }
}

/** `where` of a `key` bucket entry, for messages. */
export function whereRevision(key: Buffer): () => string {
  return () => `bucket key, ${describeRevision(key)}`;
}

/** A human name for a revision key in messages: "revision 12_0" (tombstones "12_0t"). */
export function describeRevision(key: Buffer): string {
  const rev = parseRevisionKey(key);
  return rev ? `revision ${rev.main}_${rev.sub}${rev.tombstone ? 't' : ''}` : `key ${key.toString('hex')}`;
}

function copyKv(kv: KeyValue): KeyValue {
  return {
    key: Buffer.from(kv.key),
    value: Buffer.from(kv.value),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}

/** An open snapshot. Every method may be called any number of times, also concurrently. */
export class Snapshot {
  private trailerCheck: Promise<TrailerCheck> | undefined;

  private constructor(
    /** The positional reader over the file (for the summary and verify passes). */
    readonly file: PositionalFile,
    /** The bbolt database inside the file. */
    readonly db: BoltDatabase,
  ) {}

  /**
   * Opens `path` (a snapshot with its SHA-256 trailer, or a bare bbolt file such as a member's
   * `db`), reads and validates both metas. Throws `SnapshotCorruptError` for an empty, non-bbolt
   * or truncated file or when both metas are invalid; Node's error when the file cannot be opened.
   */
  static async open(path: string, options: OpenOptions = {}): Promise<Snapshot> {
    const file = await PositionalFile.open(path, options);
    try {
      const dataSize = hasTrailer(file.size) ? file.size - TRAILER_SIZE : file.size;
      return new Snapshot(file, await BoltDatabase.open(file, dataSize));
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  /** The file's path as given. */
  get path(): string {
    return this.file.path;
  }

  /** The file's size in bytes. */
  get fileSize(): number {
    return this.file.size;
  }

  /** The meta in use (the valid one with the higher txid). */
  get meta(): BoltMeta {
    return this.db.meta;
  }

  /** Whether the file's size says it carries a trailer (see `hasTrailer`); `trailer()` checks it. */
  get hasTrailer(): boolean {
    return this.db.dataSize !== this.file.size;
  }

  /** The trailer's verdict; the first call streams the whole file once, later calls reuse it. */
  trailer(): Promise<TrailerCheck> {
    this.trailerCheck ??= checkTrailer(this.file);
    return this.trailerCheck;
  }

  /** The names of the top-level buckets, in byte order. */
  async buckets(): Promise<string[]> {
    const walk = this.db.walk();
    const names: string[] = [];
    for await (const entry of walk.entries(walk.rootBucket()))
      if (entry.isBucket) names.push(entry.key.toString('latin1'));
    return names;
  }

  /** The `meta` bucket: consistent index, term, compaction revisions, storage version. */
  async etcdMeta(): Promise<EtcdMetaInfo> {
    return decodeMeta((await this.smallBucket('meta')) ?? new Map());
  }

  /** The members recorded in the snapshot, and the ids of removed ones (hex). */
  async members(): Promise<{ members: SnapshotMember[]; removed: string[] }> {
    const members = decodeMembers((await this.smallBucket('members')) ?? new Map());
    const removed = [...((await this.smallBucket('members_removed')) ?? new Map<string, Buffer>()).keys()];
    return { members, removed };
  }

  /** The `cluster` bucket: cluster version and downgrade state. */
  async cluster(): Promise<EtcdClusterInfo> {
    return decodeCluster((await this.smallBucket('cluster')) ?? new Map());
  }

  /** The leases the snapshot holds (id in decimal, granted TTL). */
  async leases(): Promise<DecodedLease[]> {
    const walk = this.db.walk();
    const bucket = await this.findBucket('lease');
    const leases: DecodedLease[] = [];
    if (!bucket) return leases;
    for await (const entry of walk.entries(bucket)) {
      try {
        leases.push(decodeLease(entry.value));
      } catch (error) {
        throw new SnapshotCorruptError(
          `bucket lease, lease ${entry.key.toString('hex')}`,
          `does not decode: ${String(error)}`,
          {
            cause: error,
          },
        );
      }
    }
    return leases;
  }

  /**
   * Every entry of the `key` bucket in revision order — puts and tombstones — from revision
   * `after + 1` (default: the first) through `upTo` (default: the last). For diffs between
   * revisions; the key and value are copies the caller may keep.
   */
  async *revisions(options: { after?: number; upTo?: number } = {}): AsyncGenerator<RevisionRecord> {
    const walk = this.db.walk();
    const bucket = await this.requireKeyBucket();
    const from =
      options.after === undefined ? undefined : revisionKeyBytes({ main: options.after + 1, sub: 0 });
    for await (const leaf of walk.leaves(bucket, from)) {
      const records: RevisionRecord[] = [];
      let done = false;
      for (const entry of leaf) {
        const revision = revisionOf(entry);
        if (options.upTo !== undefined && revision.main > options.upTo) {
          done = true;
          break;
        }
        records.push({ revision, kv: copyKv(decodeKeyValueAt(entry.value, whereRevision(entry.key))) });
      }
      yield* records;
      if (done) return;
    }
  }

  /**
   * The live keys — the latest version of each, tombstones applied — in key byte order, as
   * `etcdctl get "" --prefix` would list them; at `revision` when given. One pass over the `key`
   * bucket builds an index of the live keys (memory grows with their number, not with the file),
   * then each value is read back in key order. Throws `SnapshotRevisionError` for a revision the
   * snapshot does not hold, `SnapshotCorruptError` for damage.
   */
  async *keyValues(options: KeyValueOptions = {}): AsyncGenerator<KeyValue> {
    const prefix = typeof options.prefix === 'string' ? Buffer.from(options.prefix) : options.prefix;
    const at = options.revision;
    if (at !== undefined) {
      const meta = await this.etcdMeta();
      const compacted = Math.max(meta.finishedCompactRevision ?? 0, meta.scheduledCompactRevision ?? 0);
      if (!Number.isSafeInteger(at) || at < 1 || at < compacted)
        throw new SnapshotRevisionError(
          `revision ${at} is not in the snapshot: it was compacted at revision ${compacted}`,
          `ask for a revision from ${Math.max(compacted, 1)} on`,
        );
    }
    const walk = this.db.walk();
    const bucket = await this.requireKeyBucket();
    const index = new LiveIndex();
    let highest = 0;
    scan: for await (const leaf of walk.leaves(bucket)) {
      for (const entry of leaf) {
        const revision = revisionOf(entry);
        highest = revision.main;
        if (at !== undefined && revision.main > at) break scan;
        const kv = decodeKeyValueAt(entry.value, whereRevision(entry.key));
        if (prefix && !startsWith(kv.key, prefix)) continue;
        if (revision.tombstone) index.delete(kv.key);
        else index.put(kv.key, entry.valueOffset, entry.value.length, kv.key.length + kv.value.length);
      }
    }
    if (at !== undefined && at > highest) {
      const meta = await this.etcdMeta();
      const current = Math.max(highest, meta.finishedCompactRevision ?? 0);
      if (at > current)
        throw new SnapshotRevisionError(
          `revision ${at} is in the future: the snapshot ends at revision ${current}`,
          `ask for a revision up to ${current}`,
        );
    }
    for (const [key, slot] of index.sorted()) {
      const where = `bucket key, value of ${key.toString('latin1')} at offset ${slot.offset}`;
      const kv = decodeKeyValueAt(await this.file.readCached(slot.offset, slot.length, where), where);
      yield copyKv(kv);
    }
  }

  /** Closes the file. Iterators still running fail afterwards. */
  async close(): Promise<void> {
    await this.file.close();
  }

  /**
   * Where the top-level bucket `name` is (its root page, or its inline page), or undefined when
   * the snapshot has no such bucket. Walk its entries with any `db.walk()`.
   */
  async findBucket(name: string): Promise<BucketRef | undefined> {
    const walk = this.db.walk();
    const root = walk.rootBucket();
    const wanted = Buffer.from(name, 'latin1');
    for await (const entry of walk.entries(root, wanted)) {
      if (!entry.key.equals(wanted) || !entry.isBucket) return undefined;
      return walk.childBucket(root, entry);
    }
    return undefined;
  }

  private async requireKeyBucket(): Promise<BucketRef> {
    const bucket = await this.findBucket(KEY_BUCKET);
    if (!bucket)
      throw new SnapshotCorruptError('bucket key', 'missing: this bbolt database is not an etcd data store');
    return bucket;
  }

  private async smallBucket(name: string): Promise<BucketEntries | undefined> {
    const walk = this.db.walk();
    const bucket = await this.findBucket(name);
    if (!bucket) return undefined;
    const entries = new Map<string, Buffer>();
    for await (const entry of walk.entries(bucket))
      if (!entry.isBucket) entries.set(entry.key.toString('latin1'), entry.value);
    return entries;
  }
}

/** The revision of a `key` bucket entry, or `SnapshotCorruptError` when it is not one. */
export function revisionOf(entry: BoltEntry): RevisionKey {
  const revision = entry.isBucket ? undefined : parseRevisionKey(entry.key);
  if (!revision)
    throw new SnapshotCorruptError(
      'bucket key',
      `entry ${entry.key.toString('hex')} is not a revision (8-byte main, '_', 8-byte sub, optional 't')`,
    );
  return revision;
}

function startsWith(key: Buffer, prefix: Buffer): boolean {
  return key.length >= prefix.length && key.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/** Opens a snapshot (see `Snapshot.open`). */
export function openSnapshot(path: string): Promise<Snapshot> {
  return Snapshot.open(path);
}
