/**
 * `snapshot inspect`: what a snapshot file holds, read offline — the reader's one-pass summary
 * (revision, compaction, live keys, sizes, members, trailer, versions, leases), what GreptimeDB
 * keeps in it, and on request the live keys (with their values).
 */
import { open } from 'node:fs/promises';
import { InputError, StewardError } from '../../errors.js';
import {
  SnapshotCorruptError,
  openSnapshot,
  summarizeSnapshot,
  type Snapshot,
  type SnapshotMember,
  type SnapshotSummary,
  type TrailerStatus,
} from '../../snapshot/index.js';
import { LiveIndex } from '../../snapshot/live-index.js';
import { KEY_BUCKET, decodeKeyValueAt, revisionOf, whereRevision } from '../../snapshot/snapshot.js';
import { encodeBytes, type BytesEncoding } from './bytes.js';
import { greptimeSummary, type GreptimeSummary } from '../../greptime/key-layout.js';

/** A snapshot opened and summarised (the summary pass also proves the file whole). */
export interface CheckedSnapshot {
  readonly snapshot: Snapshot;
  readonly summary: SnapshotSummary;
}

/**
 * Opens `file` and summarises it. Damage becomes an error (exit 1) that names the snapshot, then
 * the reader's finding ("page 7: …", "file: truncated …"); a gzip file is named as such (exit 2).
 * Close the snapshot when done.
 */
export async function openChecked(file: string, label: string): Promise<CheckedSnapshot> {
  let snapshot: Snapshot | undefined;
  try {
    snapshot = await openSnapshot(file);
    return { snapshot, summary: await summarizeSnapshot(snapshot) };
  } catch (error) {
    await snapshot?.close();
    if (!(error instanceof SnapshotCorruptError)) throw error;
    if (await isGzip(file)) {
      throw new InputError(`${label} is gzip-compressed, not a snapshot file`, {
        hint: 'give the backup name instead (it is decompressed on the way), or gunzip the file first',
      });
    }
    throw new StewardError(`${label} is damaged: ${error.message}`, {
      hint: error.hint,
      cause: error,
    });
  }
}

async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return false;
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/** A live key and the size of its value. */
export interface LiveKey {
  readonly key: Buffer;
  readonly valueSize: number;
}

/**
 * The live keys (latest version of each, tombstones applied), optionally only those starting with
 * `prefix`, without reading their values: one pass over the `key` bucket into an index; iterate
 * `sorted()` (key byte order) as often as needed. Memory grows with the number of live keys.
 */
export async function liveKeyIndex(snapshot: Snapshot, prefix?: Buffer): Promise<LiveKeyIndex> {
  const bucket = await snapshot.findBucket(KEY_BUCKET);
  const index = new LiveIndex();
  if (bucket) {
    for await (const leaf of snapshot.db.walk().leaves(bucket))
      for (const entry of leaf) {
        const revision = revisionOf(entry);
        const kv = decodeKeyValueAt(entry.value, whereRevision(entry.key));
        if (prefix && !startsWith(kv.key, prefix)) continue;
        if (revision.tombstone) index.delete(kv.key);
        else index.put(kv.key, entry.valueOffset, entry.value.length, kv.key.length + kv.value.length);
      }
  }
  return new LiveKeyIndex(index);
}

/** The live keys found by `liveKeyIndex`. */
export class LiveKeyIndex {
  constructor(private readonly index: LiveIndex) {}

  get count(): number {
    return this.index.count;
  }

  /** The keys in byte order; with `prefix`, only those starting with it. */
  *sorted(prefix?: Buffer): Generator<LiveKey> {
    for (const [key, slot] of this.index.sorted())
      if (!prefix || startsWith(key, prefix)) yield { key, valueSize: slot.bytes - key.length };
  }
}

function startsWith(key: Buffer, prefix: Buffer): boolean {
  return key.length >= prefix.length && key.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/**
 * One key of `--keys` in JSON. Keys and values are strings in the encoding named beside them
 * (`utf8` when the bytes are valid UTF-8, else `base64`; see bytes.ts).
 */
export interface KeyListing {
  readonly key: string;
  readonly keyEncoding: BytesEncoding;
  /** Bytes of the value. */
  readonly valueSize: number;
}

/** One key of `--values` in JSON: the key, its value, and etcd's revision fields. */
export interface KeyValueListing extends KeyListing {
  readonly value: string;
  readonly valueEncoding: BytesEncoding;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** The lease id in decimal; "0" when none. */
  readonly lease: string;
}

/**
 * The `snapshot inspect -o json` document (every field always present; null when not known or
 * not asked for). Sizes are bytes; member ids hex, as etcdctl prints them.
 */
export interface SnapshotInspection {
  /** What was inspected: a file as given, or a backup (its name; `file` is then null). */
  readonly source: {
    readonly kind: 'file' | 'backup';
    readonly reference: string;
    readonly file: string | null;
    readonly backup: string | null;
    readonly storage: string | null;
  };
  /** The store's revision (as etcd restores it). */
  readonly revision: number;
  /** The last finished compaction; 0 when never compacted. */
  readonly compactRevision: number;
  /** A compaction started but not finished (etcd finishes it on restore); null when none. */
  readonly scheduledCompactRevision: number | null;
  /** Live keys at `revision` (latest version of each, deletions applied). */
  readonly keyCount: number;
  /** Sum of key + value bytes of the live keys. */
  readonly liveBytes: number;
  /** Entries of the `key` bucket: every revision the snapshot holds, deletions included. */
  readonly revisions: number;
  /** The file's size, etcd's 32-byte trailer included. */
  readonly fileSize: number;
  /** Pages in use × page size: what etcd calls "db size in use"; the rest is free pages. */
  readonly inUseBytes: number;
  readonly pageSize: number;
  /** etcd's SHA-256 trailer: `ok`, `absent` (a bare bbolt file such as a member's db) or `bad`. */
  readonly trailer: TrailerStatus;
  /** etcd 3.6+: the storage schema version; null before. */
  readonly storageVersion: string | null;
  readonly clusterVersion: string | null;
  readonly consistentIndex: number | null;
  readonly term: number | null;
  readonly leaseCount: number;
  readonly authEnabled: boolean;
  readonly members: readonly SnapshotMember[];
  /** Ids (hex) of members recorded as removed. */
  readonly removedMembers: readonly string[];
  /** GreptimeDB's metadata in the live keys; null when there is none. */
  readonly greptime: GreptimeSummary | null;
  /** `--prefix` as given, and how many live keys start with it; both null without --prefix. */
  readonly prefix: string | null;
  readonly prefixKeyCount: number | null;
  /** With --keys (KeyListing) or --values (KeyValueListing), in key byte order; else null. */
  readonly keys: readonly (KeyListing | KeyValueListing)[] | null;
}

/** The facts of a checked snapshot, the GreptimeDB summary, and the count under `prefix`. */
export async function inspectFacts(
  checked: CheckedSnapshot,
  options: { prefix?: string } = {},
): Promise<{
  facts: Omit<SnapshotInspection, 'source' | 'keys'>;
  index: LiveKeyIndex;
}> {
  const { snapshot, summary } = checked;
  const index = await liveKeyIndex(snapshot);
  const greptime = await greptimeSummary(index.sorted());
  let prefixKeyCount: number | null = null;
  if (options.prefix !== undefined) {
    prefixKeyCount = 0;
    for (const _ of index.sorted(Buffer.from(options.prefix))) prefixKeyCount++;
  }
  return {
    index,
    facts: {
      revision: summary.revision,
      compactRevision: summary.compactRevision,
      scheduledCompactRevision: summary.scheduledCompactRevision ?? null,
      keyCount: summary.liveKeys,
      liveBytes: summary.liveBytes,
      revisions: summary.revisions,
      fileSize: summary.fileSize,
      inUseBytes: summary.inUseBytes,
      pageSize: summary.pageSize,
      trailer: summary.trailer,
      storageVersion: summary.storageVersion ?? null,
      clusterVersion: summary.clusterVersion ?? null,
      consistentIndex: summary.consistentIndex ?? null,
      term: summary.term ?? null,
      leaseCount: summary.leases,
      authEnabled: summary.authEnabled,
      members: summary.members,
      removedMembers: summary.removedMembers,
      greptime: greptime ?? null,
      prefix: options.prefix ?? null,
      prefixKeyCount,
    },
  };
}

/** A live key as the listing needs it: raw bytes, for JSON or for a terminal. */
export interface RawListing {
  readonly key: Buffer;
  readonly valueSize: number;
  /** With values only. */
  readonly kv?: {
    readonly value: Buffer;
    readonly createRevision: number;
    readonly modRevision: number;
    readonly version: number;
    readonly lease: string;
  };
}

/**
 * The live keys for --keys (from `index`, no values read) or --values (each value read back), in
 * key byte order, starting with `prefix` when given.
 */
export async function* listLiveKeys(
  checked: CheckedSnapshot,
  index: LiveKeyIndex,
  options: { prefix?: string; values?: boolean },
): AsyncGenerator<RawListing> {
  const prefix = options.prefix === undefined ? undefined : Buffer.from(options.prefix);
  if (!options.values) {
    yield* index.sorted(prefix);
    return;
  }
  for await (const kv of checked.snapshot.keyValues(prefix ? { prefix } : {}))
    yield { key: kv.key, valueSize: kv.value.length, kv };
}

/** A listing entry as JSON (see `KeyListing`, `KeyValueListing`). */
export function listingJson(entry: RawListing): KeyListing | KeyValueListing {
  const key = encodeBytes(entry.key);
  const base = { key: key.text, keyEncoding: key.encoding, valueSize: entry.valueSize };
  if (!entry.kv) return base;
  const value = encodeBytes(entry.kv.value);
  return {
    ...base,
    value: value.text,
    valueEncoding: value.encoding,
    createRevision: entry.kv.createRevision,
    modRevision: entry.kv.modRevision,
    version: entry.kv.version,
    lease: entry.kv.lease,
  };
}
