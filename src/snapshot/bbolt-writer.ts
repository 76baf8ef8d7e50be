/**
 * A bbolt bulk writer: builds a fresh, compact bbolt file from buckets of sorted key/value pairs,
 * bottom-up, as the entries arrive. Each tree level keeps only the page it is filling; a full
 * page is written at once and its first key goes up one level. Memory stays at a few pages per
 * level plus the write buffers, whatever the input's size.
 *
 * File layout: pages 2.. hold the buckets' leaf/branch pages and the root bucket's pages in the
 * order they fill up, then one empty freelist page (every page is in use), then pages 0 and 1
 * (the two metas) are written last, and the file is fsynced. Small buckets without sub-buckets
 * are stored inline in their parent's leaf, as bbolt itself stores them. The format is read
 * from our reader (bbolt-format.ts) and bbolt's documentation of it; no bbolt code is used.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { InputError } from '../errors.js';
import {
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  ELEMENT_SIZE,
  FORMAT_VERSION,
  MAGIC,
  PAGE_HEADER_SIZE,
  PageType,
  fnv1a64,
} from './bbolt-format.js';

/** One top-level bucket to write: its name and its entries, strictly ascending by key bytes. */
export interface BboltBucketInput {
  readonly name: Uint8Array;
  readonly entries:
    Iterable<readonly [Uint8Array, Uint8Array]> | AsyncIterable<readonly [Uint8Array, Uint8Array]>;
}

/** How to write the file. */
export interface BboltWriteOptions {
  /** Bytes per page: a power of two from 1024 to 65536. Default 4096 (what etcd uses on Linux). */
  readonly pageSize?: number;
  /**
   * How full a page is filled before the next one starts, 0.1..1. Default 1: a written snapshot
   * is read far more than written, and etcd's biggest bucket (`key`) only grows at its end (keys
   * are ascending revisions), where a full page costs nothing later. Full pages give the
   * smallest file and the fewest pages to read; bbolt's 0.5 suits random inserts, not this.
   */
  readonly fillPercent?: number;
  /** The transaction id of the newer meta (the other meta gets txid - 1). Default 1. */
  readonly txid?: number;
  readonly signal?: AbortSignal;
}

/** bbolt refuses keys longer than this. */
export const MAX_KEY_SIZE = 32768;
/** bbolt refuses values longer than this. */
export const MAX_VALUE_SIZE = 2 ** 31 - 2;
/** A page holds at least this many elements (as bbolt splits), so branch levels always shrink. */
const MIN_KEYS_PER_PAGE = 2;
/** The page header's count field is a u16. */
const MAX_COUNT = 0xffff;
const META_SIZE = 64;
const META_CHECKSUM_OFFSET = 56;
const WRITE_BUFFER = 4 << 20;
const TWO_32 = 2 ** 32;
/** The typed array's own fill: cheaper per call than Buffer's for many small ranges. */
const zeroFill = Uint8Array.prototype.fill;

function writeU64(buffer: Buffer, value: number, offset: number): void {
  buffer.writeUInt32LE(value % TWO_32, offset);
  buffer.writeUInt32LE(Math.floor(value / TWO_32), offset + 4);
}

function hexPreview(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 48)).toString('hex');
  return bytes.length > 48 ? `${hex}… (${bytes.length} bytes)` : hex;
}

function describeName(name: Uint8Array): string {
  const text = Buffer.from(name.buffer, name.byteOffset, name.length).toString('utf8');
  return /^[\x20-\x7e]*$/.test(text) ? JSON.stringify(text) : `0x${hexPreview(name)}`;
}

/**
 * Writes pages in file order through two large buffers: one fills while the other is being
 * written. Page ids are handed out in the order pages are asked for.
 */
class PageSink {
  nextPgid = 2;
  private buffers: [Buffer, Buffer] = [Buffer.alloc(WRITE_BUFFER), Buffer.alloc(WRITE_BUFFER)];
  private current = 0;
  private used = 0;
  /** The file offset of the current buffer's first byte. */
  private bufferStart: number;
  private pending: Promise<unknown> = Promise.resolve();
  /** A large page handed out by the last `allocate`, written once the caller has filled it. */
  private large: { buffer: Buffer; at: number } | undefined;
  pagesWritten = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly pageSize: number,
  ) {
    this.bufferStart = 2 * pageSize;
  }

  /**
   * Room for a page of `size` bytes (rounded up to whole pages, zero-filled past `size`), its id
   * and its page count. The caller fills `buffer[offset .. offset + size)` before the next call.
   */
  async allocate(size: number): Promise<{ pgid: number; pages: number; buffer: Buffer; offset: number }> {
    await this.writeLarge();
    const pages = Math.ceil(size / this.pageSize);
    const bytes = pages * this.pageSize;
    const pgid = this.nextPgid;
    this.nextPgid += pages;
    this.pagesWritten += pages;
    if (bytes > WRITE_BUFFER) {
      // A page with a large overflow: its own buffer, written after what is buffered before it.
      await this.flush();
      const buffer = Buffer.alloc(bytes);
      this.large = { buffer, at: this.bufferStart };
      this.bufferStart += bytes;
      return { pgid, pages, buffer, offset: 0 };
    }
    if (this.used + bytes > WRITE_BUFFER) await this.flush();
    const buffer = this.buffers[this.current] as Buffer;
    const offset = this.used;
    zeroFill.call(buffer, 0, offset + size, offset + bytes);
    this.used += bytes;
    return { pgid, pages, buffer, offset };
  }

  /** Starts writing the filled buffer; waits for the write before it, so at most one is queued. */
  async flush(): Promise<void> {
    await this.pending;
    if (this.used === 0) return;
    const buffer = this.buffers[this.current] as Buffer;
    const length = this.used;
    const at = this.bufferStart;
    this.pending = this.handle.write(buffer, 0, length, at);
    this.bufferStart += length;
    this.current = 1 - this.current;
    this.used = 0;
  }

  private async writeLarge(): Promise<void> {
    const large = this.large;
    if (!large) return;
    this.large = undefined;
    await this.pending;
    this.pending = this.handle.write(large.buffer, 0, large.buffer.length, large.at);
  }

  /** Writes everything buffered and waits for it. */
  async drain(): Promise<void> {
    await this.writeLarge();
    await this.flush();
    await this.pending;
  }
}

/**
 * The page a tree level is filling: element metadata in small arrays, keys and values copied
 * into one staging buffer as they arrive (so callers may reuse their arrays).
 */
class PageBuilder {
  count = 0;
  /** Header + elements + data, the size the page would have now. */
  size = PAGE_HEADER_SIZE;
  /** Pages this level has written. */
  written = 0;
  private data: Buffer = Buffer.allocUnsafe(8192);
  private dataLength = 0;
  private keySizes: number[] = [];
  /** Leaf: value sizes; branch: child page ids. */
  private seconds: number[] = [];
  private flags: number[] = [];

  constructor(readonly leaf: boolean) {}

  private reserve(extra: number): void {
    if (this.dataLength + extra <= this.data.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.data.length * 2, this.dataLength + extra));
    this.data.copy(grown, 0, 0, this.dataLength);
    this.data = grown;
  }

  /** The size the page would have with one more element of these sizes. */
  sizeWith(keySize: number, valueSize: number): number {
    return this.size + ELEMENT_SIZE + keySize + valueSize;
  }

  addLeaf(key: Uint8Array, value: Uint8Array, flags: number): void {
    this.reserve(key.length + value.length);
    this.data.set(key, this.dataLength);
    this.data.set(value, this.dataLength + key.length);
    this.dataLength += key.length + value.length;
    this.keySizes[this.count] = key.length;
    this.seconds[this.count] = value.length;
    this.flags[this.count] = flags;
    this.count++;
    this.size += ELEMENT_SIZE + key.length + value.length;
  }

  addBranch(key: Uint8Array, child: number): void {
    this.reserve(key.length);
    this.data.set(key, this.dataLength);
    this.dataLength += key.length;
    this.keySizes[this.count] = key.length;
    this.seconds[this.count] = child;
    this.count++;
    this.size += ELEMENT_SIZE + key.length;
  }

  /** A copy of the first key (what the parent level's element holds). */
  firstKey(): Buffer {
    const key = Buffer.allocUnsafe(this.keySizes[0] ?? 0);
    this.data.copy(key, 0, 0, key.length);
    return key;
  }

  /** The last key added, a view valid until the next add or reset. */
  lastKey(): Buffer | undefined {
    if (this.count === 0) return undefined;
    const keySize = this.keySizes[this.count - 1] as number;
    const valueSize = this.leaf ? (this.seconds[this.count - 1] as number) : 0;
    const end = this.dataLength - valueSize;
    return this.data.subarray(end - keySize, end);
  }

  /** Buffer.compare(last key added, `key`); only called when the page holds a key. */
  compareLastWith(key: Uint8Array): number {
    const keySize = this.keySizes[this.count - 1] as number;
    const end = this.dataLength - (this.seconds[this.count - 1] as number);
    return this.data.compare(key, 0, key.length, end - keySize, end);
  }

  /** A branch element's child page. */
  childAt(index: number): number {
    return this.seconds[index] as number;
  }

  /** Writes the page (header id `pgid`, `overflow`) into `out` at `at`: exactly `this.size` bytes. */
  render(out: Buffer, at: number, pgid: number, overflow: number): void {
    writeU64(out, pgid, at);
    out.writeUInt16LE(this.leaf ? PageType.leaf : PageType.branch, at + 8);
    out.writeUInt16LE(this.count, at + 10);
    out.writeUInt32LE(overflow, at + 12);
    let dataAt = PAGE_HEADER_SIZE + this.count * ELEMENT_SIZE;
    for (let i = 0; i < this.count; i++) {
      const element = at + PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
      const keySize = this.keySizes[i] as number;
      const pos = dataAt - (PAGE_HEADER_SIZE + i * ELEMENT_SIZE);
      if (this.leaf) {
        const valueSize = this.seconds[i] as number;
        out.writeUInt32LE(this.flags[i] as number, element);
        out.writeUInt32LE(pos, element + 4);
        out.writeUInt32LE(keySize, element + 8);
        out.writeUInt32LE(valueSize, element + 12);
        dataAt += keySize + valueSize;
      } else {
        out.writeUInt32LE(pos, element);
        out.writeUInt32LE(keySize, element + 4);
        writeU64(out, this.seconds[i] as number, element + 8);
        dataAt += keySize;
      }
    }
    this.data.copy(out, at + PAGE_HEADER_SIZE + this.count * ELEMENT_SIZE, 0, this.dataLength);
  }

  reset(): void {
    this.count = 0;
    this.size = PAGE_HEADER_SIZE;
    this.dataLength = 0; // the element arrays keep their room; only the first `count` count
    if (this.data.length > 1 << 20) this.data = Buffer.allocUnsafe(8192); // let a huge value go
  }
}

/** Where a finished bucket's tree lives: a root page, or an inline page (its bytes). */
type BuiltTree = { readonly root: number } | { readonly inline: Buffer };

/**
 * One bucket's B+tree, built bottom-up. `add` takes entries in order; `finish` closes every
 * level and returns the root (or the inline page when `inlineMax` allows and it fits).
 */
class TreeBuilder {
  private readonly levels: PageBuilder[] = [new PageBuilder(true)];

  constructor(
    private readonly sink: PageSink,
    private readonly threshold: number,
    /** The largest inline page this bucket may have; 0 for the root bucket (never inline). */
    private readonly inlineMax: number,
  ) {}

  get leaf(): PageBuilder {
    return this.levels[0] as PageBuilder;
  }

  private full(level: PageBuilder, sizeWith: number, isFirstLeaf: boolean): boolean {
    if (level.count >= MAX_COUNT) return true;
    if (level.count < MIN_KEYS_PER_PAGE) return false;
    // The first leaf of a bucket that may still be inlined waits until it cannot be.
    let limit = isFirstLeaf ? Math.max(this.threshold, this.inlineMax) : this.threshold;
    // A page that already runs onto overflow pages takes more elements while its last page has room.
    const pageSize = this.sink.pageSize;
    if (level.size > pageSize) limit = Math.max(limit, Math.ceil(level.size / pageSize) * pageSize);
    return sizeWith > limit;
  }

  /** Whether the leaf must be written (`flushLeaf`) before this entry is `push`ed. */
  leafFull(key: Uint8Array, value: Uint8Array): boolean {
    const leaf = this.leaf;
    return this.full(leaf, leaf.sizeWith(key.length, value.length), leaf.written === 0);
  }

  async flushLeaf(): Promise<void> {
    await this.flushLevel(0);
  }

  /** Adds an entry to the leaf (after `flushLeaf` when `leafFull` said so). */
  push(key: Uint8Array, value: Uint8Array, flags: number): void {
    this.leaf.addLeaf(key, value, flags);
  }

  async add(key: Uint8Array, value: Uint8Array, flags: number): Promise<void> {
    if (this.leafFull(key, value)) await this.flushLeaf();
    this.push(key, value, flags);
  }

  /** Writes level `index`'s page and hands (first key, page id) to the level above. */
  private async flushLevel(index: number): Promise<number> {
    const level = this.levels[index] as PageBuilder;
    const { pgid, pages, buffer, offset } = await this.sink.allocate(level.size);
    level.render(buffer, offset, pgid, pages - 1);
    level.written++;
    const firstKey = level.count > 0 ? level.firstKey() : undefined;
    level.reset();
    if (firstKey) {
      let parent = this.levels[index + 1];
      if (!parent) {
        parent = new PageBuilder(false);
        this.levels.push(parent);
      }
      if (this.full(parent, parent.sizeWith(firstKey.length, 0), false)) await this.flushLevel(index + 1);
      parent.addBranch(firstKey, pgid);
    }
    return pgid;
  }

  async finish(): Promise<BuiltTree> {
    const leaf = this.leaf;
    if (leaf.written === 0 && this.inlineMax > 0 && leaf.size <= this.inlineMax) {
      const inline = Buffer.alloc(leaf.size);
      leaf.render(inline, 0, 0, 0);
      return { inline };
    }
    for (let index = 0; ; index++) {
      const level = this.levels[index] as PageBuilder;
      const top = index === this.levels.length - 1;
      if (top && level.written === 0) {
        // The last level: one page is the root, or its only child already is.
        if (index > 0 && level.count === 1) return { root: level.childAt(0) };
        const root = await this.writeRoot(level);
        return { root };
      }
      if (level.count > 0) await this.flushLevel(index);
    }
  }

  private async writeRoot(level: PageBuilder): Promise<number> {
    const { pgid, pages, buffer, offset } = await this.sink.allocate(level.size);
    level.render(buffer, offset, pgid, pages - 1);
    level.written++;
    level.reset();
    return pgid;
  }
}

function bucketValue(tree: BuiltTree): Buffer {
  if ('inline' in tree) {
    const value = Buffer.alloc(BUCKET_HEADER_SIZE + tree.inline.length);
    tree.inline.copy(value, BUCKET_HEADER_SIZE);
    return value; // root 0 and sequence 0, then the page
  }
  const value = Buffer.alloc(BUCKET_HEADER_SIZE);
  writeU64(value, tree.root, 0);
  return value;
}

function metaPage(
  pageSize: number,
  txid: number,
  root: number,
  freelist: number,
  highWaterMark: number,
): Buffer {
  const page = Buffer.alloc(pageSize);
  writeU64(page, txid % 2, 0);
  page.writeUInt16LE(PageType.meta, 8);
  const m = PAGE_HEADER_SIZE;
  page.writeUInt32LE(MAGIC, m);
  page.writeUInt32LE(FORMAT_VERSION, m + 4);
  page.writeUInt32LE(pageSize, m + 8);
  page.writeUInt32LE(0, m + 12); // flags
  writeU64(page, root, m + 16); // root bucket: root page, sequence 0
  writeU64(page, freelist, m + 32);
  writeU64(page, highWaterMark, m + 40);
  writeU64(page, txid, m + 48);
  const checksum = fnv1a64(page.subarray(m, m + META_CHECKSUM_OFFSET));
  page.writeBigUInt64LE(checksum, m + META_CHECKSUM_OFFSET);
  if (META_CHECKSUM_OFFSET + 8 !== META_SIZE) throw new Error('meta layout');
  return page;
}

function checkOptions(options: BboltWriteOptions): { pageSize: number; fill: number; txid: number } {
  const pageSize = options.pageSize ?? 4096;
  if (!Number.isInteger(pageSize) || pageSize < 1024 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0)
    throw new InputError(`bbolt page size ${pageSize} is not a power of two from 1024 to 65536`, {
      hint: 'use 4096 (etcd on Linux/amd64), 8192 or 16384',
    });
  const fill = options.fillPercent ?? 1;
  if (!(fill >= 0.1 && fill <= 1))
    throw new InputError(`fill percent ${fill} is outside 0.1..1`, {
      hint: 'leave it unset (1: full pages)',
    });
  const txid = options.txid ?? 1;
  if (!Number.isSafeInteger(txid) || txid < 1)
    throw new InputError(`txid ${txid} is not a positive integer`, { hint: 'leave it unset (1)' });
  return { pageSize, fill, txid };
}

function isSync<T>(items: Iterable<T> | AsyncIterable<T>): items is Iterable<T> {
  return typeof (items as Partial<Iterable<T>>)[Symbol.iterator] === 'function';
}

function orderError(what: string, previous: Uint8Array, next: Uint8Array): InputError {
  const same = Buffer.compare(previous, next) === 0;
  return new InputError(
    `${what}: ${same ? 'duplicate' : 'out of order'}: 0x${hexPreview(next)} ${same ? 'repeats' : 'comes after'} 0x${hexPreview(previous)}`,
    { hint: 'the bbolt writer takes buckets ascending by name and entries strictly ascending by key bytes' },
  );
}

function checkEntry(bucket: string, key: Uint8Array, value: Uint8Array): void {
  if (key.length === 0)
    throw new InputError(`bucket ${bucket}: an empty key`, { hint: 'bbolt keys must be 1 to 32768 bytes' });
  if (key.length > MAX_KEY_SIZE)
    throw new InputError(
      `bucket ${bucket}: key 0x${hexPreview(key)} is longer than bbolt's ${MAX_KEY_SIZE} bytes`,
      {
        hint: 'bbolt keys must be 1 to 32768 bytes',
      },
    );
  if (value.length > MAX_VALUE_SIZE)
    throw new InputError(
      `bucket ${bucket}: the value of key 0x${hexPreview(key)} is longer than bbolt's limit`,
      {
        hint: `bbolt values must be at most ${MAX_VALUE_SIZE} bytes`,
      },
    );
}

/** Feeds one bucket's entries into `tree`, checking order and limits. */
async function writeEntries(
  tree: TreeBuilder,
  bucket: BboltBucketInput,
  label: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  let seen = 0;
  const leaf = tree.leaf;
  // Checks one entry; true when the leaf must be written before it goes in. After the first
  // entry the leaf always holds the previous key (a full leaf is written just before an add).
  const check = (key: Uint8Array, value: Uint8Array): boolean => {
    checkEntry(label, key, value);
    if (leaf.count > 0 && leaf.compareLastWith(key) >= 0)
      throw orderError(`bucket ${label}`, Buffer.from(leaf.lastKey() as Buffer), key);
    if ((++seen & 0xfff) === 0) signal?.throwIfAborted();
    return tree.leafFull(key, value);
  };
  if (isSync(bucket.entries))
    for (const [key, value] of bucket.entries) {
      if (check(key, value)) await tree.flushLeaf();
      tree.push(key, value, 0);
    }
  else
    for await (const [key, value] of bucket.entries) {
      if (check(key, value)) await tree.flushLeaf();
      tree.push(key, value, 0);
    }
}

/**
 * Writes a new bbolt file at `path` (replacing one that is there) holding `buckets` as top-level
 * buckets, and fsyncs it. Buckets must come ascending by name and each bucket's entries strictly
 * ascending by key bytes; anything else, an empty key or one over 32768 bytes is an `InputError`,
 * and the half-written file is removed. Returns the file's size and page count.
 */
export function writeBboltFile(
  path: string,
  buckets: Iterable<BboltBucketInput> | AsyncIterable<BboltBucketInput>,
  options: BboltWriteOptions = {},
): Promise<{ readonly bytes: number; readonly pages: number }> {
  return writeBboltFileThen(path, buckets, options, () => Promise.resolve());
}

/**
 * `writeBboltFile`, with `then` called on the open file (readable and writable) once the whole
 * database is written and before the one fsync: how a trailer is appended without a second sync.
 * When `then` throws, the file is removed too.
 */
export async function writeBboltFileThen(
  path: string,
  buckets: Iterable<BboltBucketInput> | AsyncIterable<BboltBucketInput>,
  options: BboltWriteOptions,
  then: (handle: FileHandle, bytes: number) => Promise<void>,
): Promise<{ readonly bytes: number; readonly pages: number }> {
  const { pageSize, fill, txid } = checkOptions(options);
  const signal = options.signal;
  signal?.throwIfAborted();
  const threshold = Math.floor(pageSize * fill);
  const handle = await open(path, 'w+');
  let done = false;
  try {
    const sink = new PageSink(handle, pageSize);
    const rootTree = new TreeBuilder(sink, threshold, 0);
    let previousName: Buffer | undefined;
    const oneBucket = async (bucket: BboltBucketInput) => {
      signal?.throwIfAborted();
      const name = bucket.name;
      const label = describeName(name);
      checkEntry('root (bucket names)', name, new Uint8Array(0));
      if (previousName && Buffer.compare(previousName, name) >= 0)
        throw orderError('buckets', previousName, name);
      previousName = Buffer.from(name);
      const tree = new TreeBuilder(sink, threshold, Math.floor(pageSize / 4));
      await writeEntries(tree, bucket, label, signal);
      await rootTree.add(name, bucketValue(await tree.finish()), BUCKET_LEAF_FLAG);
    };
    if (isSync(buckets)) for (const bucket of buckets) await oneBucket(bucket);
    else for await (const bucket of buckets) await oneBucket(bucket);
    const built = await rootTree.finish();
    if (!('root' in built)) throw new Error('the root bucket cannot be inline');
    // An empty freelist page: every page below the high-water mark is in use.
    const freelist = await sink.allocate(PAGE_HEADER_SIZE);
    writeU64(freelist.buffer, freelist.pgid, freelist.offset);
    freelist.buffer.writeUInt16LE(PageType.freelist, freelist.offset + 8);
    freelist.buffer.writeUInt16LE(0, freelist.offset + 10);
    freelist.buffer.writeUInt32LE(0, freelist.offset + 12);
    await sink.drain();
    signal?.throwIfAborted();
    const highWaterMark = sink.nextPgid;
    const metas = Buffer.concat(
      [txid - 1, txid]
        .sort((a, b) => (a % 2) - (b % 2))
        .map((id) => metaPage(pageSize, id, built.root, freelist.pgid, highWaterMark)),
    );
    await handle.write(metas, 0, metas.length, 0);
    await then(handle, highWaterMark * pageSize);
    await handle.sync();
    done = true;
    return { bytes: highWaterMark * pageSize, pages: highWaterMark };
  } finally {
    await handle.close();
    if (!done) await rm(path, { force: true });
  }
}
