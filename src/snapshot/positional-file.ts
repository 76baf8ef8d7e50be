/**
 * Positional reads from one file handle: the only way the snapshot reader touches the disk. Never
 * loads the whole file. Two block caches turn many small reads into few large ones: pages of a
 * tree walk come out of 4 MiB blocks (one read each, instead of one read per 4 KiB page: a read
 * costs far more than copying a page), values of a key-ordered listing out of 64 KiB blocks.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { SnapshotCorruptError } from './errors.js';

const BLOCK_SIZE = 64 * 1024;
const CACHE_BLOCKS = 64; // 4 MiB
/** Pages of a walk: a few large blocks, so the memory stays bounded whatever the file's size. */
const PAGE_BLOCK_SIZE = 4 << 20;
const PAGE_CACHE_BLOCKS = 8; // 32 MiB

/** Decrypts, in place, bytes read at `offset` of a sealed file (a backup's spool, see engine/backup/sealed-spool.ts). */
export type Unseal = (bytes: Buffer, offset: number) => void;

/** How to open a file: `unseal` when its bytes are stored encrypted. */
export interface OpenOptions {
  readonly unseal?: Unseal | undefined;
}

/** A read-only file read at offsets. `close()` it when done. */
export class PositionalFile {
  private readonly cache = new Map<number, Promise<Buffer>>();
  private readonly pageCache = new Map<number, Promise<Buffer>>();

  private constructor(
    private readonly handle: FileHandle,
    /** The file's path, as given. */
    readonly path: string,
    /** The file's size in bytes when it was opened. */
    readonly size: number,
    private readonly unseal: Unseal | undefined,
  ) {}

  /** Opens `path` for reading; throws Node's error (ENOENT, EACCES) when it cannot, `InputError` for a non-file. */
  static async open(path: string, options: OpenOptions = {}): Promise<PositionalFile> {
    const handle = await open(path, 'r');
    try {
      const stat = await handle.stat();
      if (!stat.isFile())
        throw new InputError(`${path} is not a regular file`, {
          hint: 'name a snapshot file (etcdctl snapshot save FILE)',
        });
      return new PositionalFile(handle, path, stat.size, options.unseal);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * Exactly `length` bytes at `offset`, in a new buffer. A read past the end of the file is a
   * `SnapshotCorruptError` at `where` (a truncated file), never a short buffer.
   */
  async read(offset: number, length: number, where: string): Promise<Buffer> {
    if (offset < 0 || length < 0 || offset + length > this.size)
      throw new SnapshotCorruptError(
        where,
        `needs bytes ${offset}..${offset + length} but the file ends at ${this.size} (truncated?)`,
      );
    const buffer = Buffer.allocUnsafe(length);
    await this.readInto(buffer, 0, length, offset, where);
    return buffer;
  }

  /** Reads `length` bytes at `position` into `buffer` at `start`; throws when the file is shorter. */
  async readInto(
    buffer: Buffer,
    start: number,
    length: number,
    position: number,
    where: string,
  ): Promise<void> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, start + done, length - done, position + done);
      if (bytesRead === 0)
        throw new SnapshotCorruptError(
          where,
          `the file ended at ${position + done} while reading (truncated?)`,
        );
      done += bytesRead;
    }
    this.unseal?.(buffer.subarray(start, start + length), position);
  }

  /**
   * Like `read`, through a cache of the last few 64 KiB blocks: for many small reads in roughly
   * increasing order (values of a key-ordered listing). Large reads bypass the cache. The result
   * may share memory with the cache: copy it before changing it.
   */
  async readCached(offset: number, length: number, where: string): Promise<Buffer> {
    if (length > BLOCK_SIZE / 2 || offset < 0 || offset + length > this.size)
      return this.read(offset, length, where);
    const first = Math.floor(offset / BLOCK_SIZE);
    const last = Math.floor((offset + length - 1) / BLOCK_SIZE);
    const a = await this.block(first, where);
    if (first === last || length === 0)
      return a.subarray(offset - first * BLOCK_SIZE, offset - first * BLOCK_SIZE + length);
    const b = await this.block(last, where);
    const head = a.subarray(offset - first * BLOCK_SIZE);
    return Buffer.concat([head, b.subarray(0, length - head.length)]);
  }

  /**
   * Like `read` (a new buffer of exactly `length` bytes, the same errors), for the pages of a
   * walk: served from large blocks read once each and kept while they are recent, since a walk
   * reaches pages that lie close together in the file.
   */
  async readPage(offset: number, length: number, where: string): Promise<Buffer> {
    if (length > PAGE_BLOCK_SIZE / 4 || offset < 0 || offset + length > this.size)
      return this.read(offset, length, where);
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const index = Math.floor((offset + done) / PAGE_BLOCK_SIZE);
      const block = await this.cachedBlock(this.pageCache, index, PAGE_BLOCK_SIZE, PAGE_CACHE_BLOCKS, where);
      const from = offset + done - index * PAGE_BLOCK_SIZE;
      done += block.copy(out, done, from, Math.min(block.length, from + length - done));
    }
    return out;
  }

  private block(index: number, where: string): Promise<Buffer> {
    return this.cachedBlock(this.cache, index, BLOCK_SIZE, CACHE_BLOCKS, where);
  }

  /** Block `index` of `size` bytes through `cache` (least recently used out beyond `limit`). */
  private cachedBlock(
    cache: Map<number, Promise<Buffer>>,
    index: number,
    size: number,
    limit: number,
    where: string,
  ): Promise<Buffer> {
    const cached = cache.get(index);
    if (cached) {
      cache.delete(index);
      cache.set(index, cached);
      return cached;
    }
    const start = index * size;
    const promise = this.read(start, Math.min(size, this.size - start), where);
    cache.set(index, promise);
    promise.catch(() => cache.delete(index));
    if (cache.size > limit) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
    return promise;
  }

  /** Closes the handle; reads after this fail. Closing twice is harmless. */
  async close(): Promise<void> {
    this.cache.clear();
    this.pageCache.clear();
    await this.handle.close().catch(() => undefined);
  }
}
