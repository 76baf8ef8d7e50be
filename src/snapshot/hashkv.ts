/**
 * etcd's `HashKV` computed offline from a snapshot, so a restored cluster can be compared with
 * the snapshot by asking each member for its own hash (Maintenance.HashKV) instead of reading
 * every key back.
 *
 * What etcd hashes (server/storage/mvcc, the same on 3.5, 3.6 and 3.7): a CRC-32C (Castagnoli)
 * over the `key` bucket's name and then, in bucket order, each entry's revision key and stored
 * KeyValue bytes, for every entry up to the revision asked. Entries at or below the compaction
 * revision count only when they are a key's latest revision at that revision and not a deletion
 * (what a compaction there would keep), unless no key is alive at all; a tombstone exactly at
 * the compaction revision never counts (newer patches keep it on disk, older ones drop it).
 *
 * Which entries at or below the compaction revision are kept is known only when the whole bucket
 * has been read; the hash is order-dependent, so each of those entries' CRC is kept (12 bytes per
 * entry) and folded in afterwards with CRC arithmetic. Entries above it go straight into a
 * running CRC: one pass over the bucket, no value read twice.
 */
import { decodeKeyValueAt, whereRevision, revisionOf, type Snapshot } from './snapshot.js';
import { LiveIndex } from './live-index.js';
import type { EtcdMetaInfo } from './etcd-buckets.js';
import type { RevisionKey } from './etcd-records.js';

/** A HashKV answer: the hash, the revision it covers and the compaction revision it assumed (-1: none). */
export interface HashKvValue {
  readonly hash: number;
  readonly revision: number;
  readonly compactRevision: number;
}

// CRC-32C, reflected, polynomial 0x1EDC6F41 (0x82F63B78 reflected), slicing by 8.
const POLY = 0x82f63b78;
const TABLE = new Uint32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  TABLE[n] = c >>> 0;
}
for (let n = 0; n < 256; n++) {
  let c = TABLE[n] as number;
  for (let t = 1; t < 8; t++) {
    c = (TABLE[c & 0xff] as number) ^ (c >>> 8);
    TABLE[t * 256 + n] = c >>> 0;
  }
}

/**
 * The CRC register after `bytes`, starting from `state`, with no pre- or post-inversion (so
 * `crc32cRaw(0, m)` is linear in `m`). The conditioned CRC-32C of `m` is `~crc32cRaw(~0, m)`.
 */
export function crc32cRaw(state: number, bytes: Uint8Array): number {
  let c = state >>> 0;
  let i = 0;
  const end8 = bytes.length - (bytes.length % 8);
  const t = TABLE;
  while (i < end8) {
    const a =
      (c ^
        ((bytes[i] as number) |
          ((bytes[i + 1] as number) << 8) |
          ((bytes[i + 2] as number) << 16) |
          ((bytes[i + 3] as number) << 24))) >>>
      0;
    const b4 = bytes[i + 4] as number;
    const b5 = bytes[i + 5] as number;
    const b6 = bytes[i + 6] as number;
    const b7 = bytes[i + 7] as number;
    c =
      (t[1792 + (a & 0xff)] as number) ^
      (t[1536 + ((a >>> 8) & 0xff)] as number) ^
      (t[1280 + ((a >>> 16) & 0xff)] as number) ^
      (t[1024 + (a >>> 24)] as number) ^
      (t[768 + b4] as number) ^
      (t[512 + b5] as number) ^
      (t[256 + b6] as number) ^
      (t[b7] as number);
    i += 8;
  }
  for (; i < bytes.length; i++) c = (t[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return c >>> 0;
}

/** The CRC-32C of `bytes` (as Go's `crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))`). */
export function crc32c(bytes: Uint8Array): number {
  return ~crc32cRaw(0xffffffff, bytes) >>> 0;
}

/** a·b modulo the polynomial, both in the reflected representation (bit 31 is x^0). */
function multiplyModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  let x = b >>> 0;
  for (;;) {
    if (a & m) {
      p ^= x;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    if (m === 0) break;
    x = x & 1 ? (x >>> 1) ^ POLY : x >>> 1;
  }
  return p >>> 0;
}

// X2N[k] = x^(2^k) mod P.
const X2N = new Uint32Array(32);
{
  let p = 0x40000000; // x^1
  for (let k = 0; k < 32; k++) {
    X2N[k] = p;
    p = multiplyModP(p, p);
  }
}

/** The register after `length` zero bytes appended to a register `state` (raw): state·x^(8·length). */
function shiftBytes(state: number, length: number): number {
  let p = 0x80000000; // x^0
  let k = 3; // 8 bits per byte: x^(2^3)
  for (let n = length; n > 0; n = Math.floor(n / 2), k++)
    if (n % 2 === 1) p = multiplyModP(X2N[k & 31] as number, p);
  return multiplyModP(p, state);
}

/** `crc32cRaw(state, a ‖ b)` from `crc32cRaw(state, a)` and `crc32cRaw(0, b)` with `b` of `length` bytes. */
export function crc32cAppend(stateAfterA: number, rawB: number, length: number): number {
  return (shiftBytes(stateAfterA, length) ^ rawB) >>> 0;
}

const KEY_BUCKET_NAME = Buffer.from('key');
const TOMBSTONE = 1;
const AT_COMPACTION = 2;

/**
 * Feeds on the `key` bucket's entries in bucket order and gives etcd's HashKV at `revision`
 * (undefined: the last revision). Which entries at or below the compaction revision count is
 * decided in `finish`, from where each live key's latest KeyValue lies in the file.
 */
export class HashKvBuilder {
  // Entries at or below the compaction revision: their CRC (raw, from 0), length, file offset, flags.
  private headCrc = new Uint32Array(1024);
  private headLength = new Uint32Array(1024);
  private headOffset = new Float64Array(1024);
  private headFlags = new Uint8Array(1024);
  private heads = 0;
  private tail = 0;
  private tailLength = 0;
  private highest = 0;

  constructor(
    /** The compaction revision etcd runs with: the finished one, -1 when never compacted. */
    readonly compactRevision: number,
    readonly revision?: number,
  ) {}

  /** One entry: its revision key as stored, the parsed revision, the stored KeyValue and its offset in the file. */
  add(revisionKey: Buffer, revision: RevisionKey, value: Buffer, valueOffset: number): void {
    if (this.revision !== undefined && revision.main > this.revision) return;
    this.highest = revision.main;
    if (revision.main > this.compactRevision) {
      this.tail = crc32cRaw(crc32cRaw(this.tail, revisionKey), value);
      this.tailLength += revisionKey.length + value.length;
      return;
    }
    if (this.heads === this.headCrc.length) this.grow();
    const n = this.heads++;
    this.headCrc[n] = crc32cRaw(crc32cRaw(0, revisionKey), value);
    this.headLength[n] = revisionKey.length + value.length;
    this.headOffset[n] = valueOffset;
    this.headFlags[n] =
      (revision.tombstone ? TOMBSTONE : 0) | (revision.main === this.compactRevision ? AT_COMPACTION : 0);
  }

  /**
   * The hash, given the file offsets of the live keys' latest KeyValues at the revision (from a
   * `LiveIndex` built over the same entries): those are the entries a compaction would keep.
   */
  finish(liveOffsets: Float64Array): HashKvValue {
    const live = Float64Array.from(liveOffsets).sort();
    let state = crc32cRaw(0xffffffff, KEY_BUCKET_NAME);
    for (let n = 0; n < this.heads; n++) {
      const flags = this.headFlags[n] as number;
      if (flags & TOMBSTONE && flags & AT_COMPACTION) continue;
      if (live.length > 0 && (flags & TOMBSTONE || !contains(live, this.headOffset[n] as number))) continue;
      state = crc32cAppend(state, this.headCrc[n] as number, this.headLength[n] as number);
    }
    state = crc32cAppend(state, this.tail, this.tailLength);
    return {
      hash: ~state >>> 0,
      revision: this.revision ?? Math.max(this.highest, this.compactRevision, 1),
      compactRevision: this.compactRevision,
    };
  }

  private grow(): void {
    const n = this.headCrc.length * 2;
    this.headCrc = grown(this.headCrc, new Uint32Array(n));
    this.headLength = grown(this.headLength, new Uint32Array(n));
    this.headOffset = grown(this.headOffset, new Float64Array(n));
    this.headFlags = grown(this.headFlags, new Uint8Array(n));
  }
}

function grown<T extends Uint8Array | Uint32Array | Float64Array>(old: T, next: T): T {
  next.set(old);
  return next;
}

function contains(sorted: Float64Array, value: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid] as number;
    if (v === value) return true;
    if (v < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/**
 * The compaction revision a member restored from this snapshot runs with (what HashKV assumes),
 * or undefined when the snapshot holds a compaction that was started and not finished: etcd
 * finishes it at start-up and answers HashKV at that revision from the compaction's own hash,
 * which is not computed here.
 */
export function hashKvCompactRevision(meta: EtcdMetaInfo): number | undefined {
  const finished = meta.finishedCompactRevision ?? -1;
  if (meta.scheduledCompactRevision !== undefined && meta.scheduledCompactRevision > finished)
    return undefined;
  return finished;
}

/** HashKV cannot be computed offline for this snapshot (see `hashKvCompactRevision`). */
export class HashKvUnavailableError extends Error {}

/**
 * etcd's HashKV of an open snapshot at `revision` (default: the last), as a member restored from
 * it answers — assuming the compaction revision `compactRevision` (default: the snapshot's own).
 * One walk over the `key` bucket; memory: the live-key index plus 17 bytes per entry at or below
 * the compaction revision.
 */
export async function snapshotHashKv(
  snapshot: Snapshot,
  options: { revision?: number; compactRevision?: number } = {},
): Promise<HashKvValue> {
  const compactRevision = options.compactRevision ?? hashKvCompactRevision(await snapshot.etcdMeta());
  if (compactRevision === undefined)
    throw new HashKvUnavailableError(
      'the snapshot holds a compaction that was started but not finished; etcd finishes it when it starts, so its HashKV is not computed offline',
    );
  const builder = new HashKvBuilder(compactRevision, options.revision);
  const index = new LiveIndex();
  const bucket = await snapshot.findBucket('key');
  if (bucket) {
    const walk = snapshot.db.walk();
    scan: for await (const leaf of walk.leaves(bucket)) {
      for (const entry of leaf) {
        const revision = revisionOf(entry);
        if (options.revision !== undefined && revision.main > options.revision) break scan;
        const kv = decodeKeyValueAt(entry.value, whereRevision(entry.key));
        builder.add(entry.key, revision, entry.value, entry.valueOffset);
        if (revision.tombstone) index.delete(kv.key);
        else index.put(kv.key, entry.valueOffset, entry.value.length, kv.key.length + kv.value.length);
      }
    }
  }
  return builder.finish(index.offsets());
}
