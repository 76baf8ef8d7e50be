/**
 * The bbolt on-disk format as pure functions over buffers: the page header, the two meta pages,
 * branch and leaf elements, bucket headers and the freelist. Every parser checks its bounds and
 * throws `SnapshotCorruptError` naming the page instead of reading outside the buffer.
 * Layout (little-endian) as in go.etcd.io/bbolt internal/common: page.go, meta.go, bucket.go.
 */
import { SnapshotCorruptError } from './errors.js';

/** Every page starts with id u64, flags u16, count u16, overflow u32. */
export const PAGE_HEADER_SIZE = 16;
/** Branch element: pos u32, ksize u32, pgid u64. Leaf element: flags, pos, ksize, vsize (u32 each). */
export const ELEMENT_SIZE = 16;
/** A bucket's value starts with root pgid u64 and sequence u64; an inline bucket's page follows. */
export const BUCKET_HEADER_SIZE = 16;
/** The meta's magic number: a bbolt file starts with it (after the first page header). */
export const MAGIC = 0xed0cdaed;
/** The only bbolt format version there is. */
export const FORMAT_VERSION = 2;
/** The page types, as the flags field of the page header. */
export const PageType = { branch: 0x01, leaf: 0x02, meta: 0x04, freelist: 0x10 } as const;
/** The leaf element flag that marks a nested bucket. */
export const BUCKET_LEAF_FLAG = 0x01;

const META_SIZE = 64;
const META_CHECKSUM_OFFSET = 56;
const TWO_32 = 2 ** 32;

/** A u64 as a number: exact up to 2^53, larger values come out larger than any real page id. */
export function readU64(buffer: Buffer, offset: number): number {
  return buffer.readUInt32LE(offset) + buffer.readUInt32LE(offset + 4) * TWO_32;
}

/** The name of a page type for messages: "branch", "leaf", "meta", "freelist" or "unknown (0x..)". */
export function pageTypeName(flags: number): string {
  for (const [name, value] of Object.entries(PageType)) if (value === flags) return name;
  return `unknown (flags 0x${flags.toString(16)})`;
}

/** A page header. */
export interface PageHeader {
  readonly id: number;
  readonly flags: number;
  readonly count: number;
  readonly overflow: number;
}

/** Reads the header at the start of `page` (at least 16 bytes). */
export function readPageHeader(page: Buffer, where: string): PageHeader {
  if (page.length < PAGE_HEADER_SIZE)
    throw new SnapshotCorruptError(where, `only ${page.length} bytes, shorter than a page header`);
  return {
    id: readU64(page, 0),
    flags: page.readUInt16LE(8),
    count: page.readUInt16LE(10),
    overflow: page.readUInt32LE(12),
  };
}

/** A validated meta page. Page ids are numbers; `freelist` is undefined when none is stored. */
export interface BoltMeta {
  /** Which meta page this is: 0 or 1. */
  readonly page: 0 | 1;
  readonly pageSize: number;
  readonly flags: number;
  /** The root bucket's page. */
  readonly root: number;
  /** The freelist page, or undefined when the database does not store one (NoFreelistSync, as etcd). */
  readonly freelist: number | undefined;
  /** The high-water mark: the number of pages in use, so valid page ids are below it. */
  readonly highWaterMark: number;
  readonly txid: number;
}

/** FNV-1a 64 of `bytes`, as bbolt checksums a meta. */
export function fnv1a64(bytes: Buffer): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return hash;
}

/**
 * Parses and validates the meta in `page` (the page's bytes from its start; 80 bytes suffice).
 * Returns the meta, or a sentence saying why it is not valid (bad magic, version, checksum,
 * impossible values) — the caller decides whether the other meta can stand in.
 */
export function parseMeta(page: Buffer, which: 0 | 1): BoltMeta | string {
  if (page.length < PAGE_HEADER_SIZE + META_SIZE)
    return `only ${page.length} bytes, too short for a meta page`;
  const m = page.subarray(PAGE_HEADER_SIZE, PAGE_HEADER_SIZE + META_SIZE);
  const magic = m.readUInt32LE(0);
  if (magic !== MAGIC)
    return `bad magic 0x${magic.toString(16).padStart(8, '0')} (a bbolt file has 0x${MAGIC.toString(16)}): not a bbolt database`;
  const version = m.readUInt32LE(4);
  if (version !== FORMAT_VERSION)
    return `unsupported bbolt format version ${version} (expected ${FORMAT_VERSION})`;
  const checksum = m.readBigUInt64LE(META_CHECKSUM_OFFSET);
  const computed = fnv1a64(m.subarray(0, META_CHECKSUM_OFFSET));
  if (checksum !== computed)
    return `checksum mismatch (stored ${checksum.toString(16)}, computed ${computed.toString(16)})`;
  const flags = page.readUInt16LE(8);
  if (flags !== PageType.meta) return `page type is ${pageTypeName(flags)}, not meta`;
  const pageSize = m.readUInt32LE(8);
  if (pageSize < 512 || pageSize > 1 << 20 || (pageSize & (pageSize - 1)) !== 0)
    return `impossible page size ${pageSize}`;
  const root = readU64(m, 16);
  const freelistRaw = m.readBigUInt64LE(32);
  const highWaterMark = readU64(m, 40);
  const txid = readU64(m, 48);
  if (highWaterMark < 3 || highWaterMark > Number.MAX_SAFE_INTEGER)
    return `impossible high-water mark ${highWaterMark}`;
  if (root < 2 || root >= highWaterMark) return `root page ${root} is outside 2..${highWaterMark - 1}`;
  const noFreelist = freelistRaw === 0xffffffffffffffffn;
  const freelist = noFreelist ? undefined : Number(freelistRaw);
  if (freelist !== undefined && (freelist < 2 || freelist >= highWaterMark))
    return `freelist page ${freelist} is outside 2..${highWaterMark - 1}`;
  return { page: which, pageSize, flags: m.readUInt32LE(12), root, freelist, highWaterMark, txid };
}

/** A branch element: the first key of a child page, and that page. */
export interface BranchElement {
  readonly key: Buffer;
  readonly child: number;
}

/** A leaf element: a key and its value (a nested bucket's header when `isBucket`). */
export interface LeafElement {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly isBucket: boolean;
  /** Where the value starts in the file: `base` (the page's file offset) + its place in the page. */
  readonly valueOffset: number;
}

function checkElementTable(page: Buffer, count: number, where: string): number {
  const dataStart = PAGE_HEADER_SIZE + count * ELEMENT_SIZE;
  if (dataStart > page.length)
    throw new SnapshotCorruptError(
      where,
      `${count} elements do not fit in ${page.length} bytes (count field damaged?)`,
    );
  return dataStart;
}

/** The elements of a branch page, each checked to lie inside the page. */
export function branchElements(page: Buffer, count: number, where: string): BranchElement[] {
  if (count === 0) throw new SnapshotCorruptError(where, 'branch page with no elements');
  const dataStart = checkElementTable(page, count, where);
  const elements: BranchElement[] = [];
  for (let i = 0; i < count; i++) {
    const at = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
    const pos = page.readUInt32LE(at);
    const ksize = page.readUInt32LE(at + 4);
    const keyStart = at + pos;
    if (keyStart < dataStart || keyStart + ksize > page.length)
      throw new SnapshotCorruptError(
        where,
        `branch element ${i}: key at ${keyStart}..${keyStart + ksize} lies outside the page's data (${dataStart}..${page.length})`,
      );
    elements.push({ key: page.subarray(keyStart, keyStart + ksize), child: readU64(page, at + 8) });
  }
  return elements;
}

/**
 * The elements of a leaf page (or an inline bucket's page), each checked to lie inside it.
 * `base` is the page's offset in the file, so each value's file offset can be given.
 */
export function leafElements(page: Buffer, count: number, where: string, base: number): LeafElement[] {
  const dataStart = checkElementTable(page, count, where);
  const elements: LeafElement[] = [];
  for (let i = 0; i < count; i++) {
    const at = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
    const flags = page.readUInt32LE(at);
    const pos = page.readUInt32LE(at + 4);
    const ksize = page.readUInt32LE(at + 8);
    const vsize = page.readUInt32LE(at + 12);
    const keyStart = at + pos;
    const valueStart = keyStart + ksize;
    if ((flags & ~BUCKET_LEAF_FLAG) !== 0)
      throw new SnapshotCorruptError(where, `leaf element ${i}: unknown flags 0x${flags.toString(16)}`);
    if (keyStart < dataStart || valueStart + vsize > page.length)
      throw new SnapshotCorruptError(
        where,
        `leaf element ${i}: key and value at ${keyStart}..${valueStart + vsize} lie outside the page's data (${dataStart}..${page.length})`,
      );
    elements.push({
      key: page.subarray(keyStart, valueStart),
      value: page.subarray(valueStart, valueStart + vsize),
      isBucket: (flags & BUCKET_LEAF_FLAG) !== 0,
      valueOffset: base + valueStart,
    });
  }
  return elements;
}

/** A nested bucket as its parent's leaf value says: a root page, or an inline page (root 0). */
export interface BucketHeader {
  readonly root: number;
  /** The inline bucket's page bytes when `root` is 0. */
  readonly inline: Buffer | undefined;
}

/** Parses a bucket value (16-byte header, then the inline page when root is 0). */
export function parseBucketHeader(value: Buffer, where: string): BucketHeader {
  if (value.length < BUCKET_HEADER_SIZE)
    throw new SnapshotCorruptError(
      where,
      `bucket value of ${value.length} bytes, shorter than a bucket header`,
    );
  const root = readU64(value, 0);
  if (root !== 0) return { root, inline: undefined };
  const inline = value.subarray(BUCKET_HEADER_SIZE);
  if (inline.length < PAGE_HEADER_SIZE) throw new SnapshotCorruptError(where, 'inline bucket without a page');
  return { root, inline };
}

/** The page ids a freelist page lists (the first u64 holds the count when count is 0xFFFF). */
export function freelistIds(page: Buffer, count: number, where: string): number[] {
  let start = PAGE_HEADER_SIZE;
  let n = count;
  if (count === 0xffff) {
    if (page.length < PAGE_HEADER_SIZE + 8) throw new SnapshotCorruptError(where, 'freelist count missing');
    n = readU64(page, PAGE_HEADER_SIZE);
    start += 8;
  }
  if (start + n * 8 > page.length)
    throw new SnapshotCorruptError(where, `freelist of ${n} ids does not fit in ${page.length} bytes`);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(readU64(page, start + i * 8));
  return ids;
}
