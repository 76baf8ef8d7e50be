/**
 * A bbolt database opened read-only over positional reads: reads both meta pages, keeps the
 * valid one with the higher txid, and checks the file holds every page the meta claims.
 */
import { PAGE_HEADER_SIZE, parseMeta, type BoltMeta } from './bbolt-format.js';
import { TreeWalk, type WalkOptions } from './bbolt-walk.js';
import { SnapshotCorruptError } from './errors.js';
import { type PositionalFile } from './positional-file.js';

const META_READ = 128;
/** Page sizes tried for meta page 1 when meta page 0 cannot tell (as bbolt falls back to the OS's). */
const CANDIDATE_PAGE_SIZES = [4096, 512, 1024, 2048, 8192, 16384, 32768, 65536];

/** An opened bbolt database: the meta in use, and where its pages may be. */
export class BoltDatabase {
  private constructor(
    readonly file: PositionalFile,
    /** The valid meta with the higher txid. */
    readonly meta: BoltMeta,
    /**
     * What is off about the file that did not stop it from opening: a meta page that is not
     * valid (the other one is used), bytes after the last whole page. A sound snapshot has none.
     */
    readonly problems: readonly string[],
    /** Bytes of the file that belong to the database (the file minus a snapshot trailer). */
    readonly dataSize: number,
  ) {}

  /**
   * Reads both meta pages of the database in the first `dataSize` bytes of `file` and keeps the
   * valid one with the higher txid. Throws `SnapshotCorruptError` when neither is valid (also for
   * an empty or non-bbolt file) or when the file is shorter than the meta's high-water mark.
   */
  static async open(file: PositionalFile, dataSize: number): Promise<BoltDatabase> {
    if (dataSize === 0) throw new SnapshotCorruptError('file', 'empty file: not a bbolt database');
    const head = await file.read(0, Math.min(dataSize, META_READ), 'meta page 0');
    const meta0 = parseMeta(head, 0);
    const sizes = new Set<number>();
    if (typeof meta0 !== 'string') sizes.add(meta0.pageSize);
    else if (head.length >= PAGE_HEADER_SIZE + 12) {
      const claimed = head.readUInt32LE(PAGE_HEADER_SIZE + 8);
      if (claimed >= 512 && claimed <= 65536 && (claimed & (claimed - 1)) === 0) sizes.add(claimed);
    }
    for (const size of CANDIDATE_PAGE_SIZES) sizes.add(size);
    // Meta page 1 sits one page in: try meta 0's page size first, then the common ones.
    let meta1: BoltMeta | string | undefined;
    let firstFailure: string | undefined;
    for (const size of sizes) {
      if (size + PAGE_HEADER_SIZE >= dataSize) continue;
      const candidate = parseMeta(
        await file.read(size, Math.min(META_READ, dataSize - size), 'meta page 1'),
        1,
      );
      if (typeof candidate !== 'string' && candidate.pageSize === size) {
        meta1 = candidate;
        break;
      }
      firstFailure ??=
        typeof candidate === 'string'
          ? candidate
          : `its page size ${candidate.pageSize} is not its offset ${size}`;
    }
    meta1 ??= firstFailure ?? 'the file is too short to hold meta page 1';
    const problems: string[] = [];
    let meta: BoltMeta;
    if (typeof meta0 === 'string' && typeof meta1 === 'string') {
      const notBolt = meta0.startsWith('bad magic') || meta0.startsWith('only');
      throw new SnapshotCorruptError(
        'meta',
        notBolt && (meta1.startsWith('bad magic') || meta1.startsWith('the file'))
          ? `not a bbolt database: meta page 0: ${meta0}`
          : `both meta pages are invalid: page 0: ${meta0}; page 1: ${meta1}`,
      );
    } else if (typeof meta0 === 'string') {
      problems.push(`meta: meta page 0: ${meta0} (meta page 1 is used)`);
      meta = meta1 as BoltMeta;
    } else if (typeof meta1 === 'string') {
      problems.push(`meta: meta page 1: ${meta1} (meta page 0 is used)`);
      meta = meta0;
    } else {
      if (meta0.pageSize !== meta1.pageSize)
        problems.push(`meta: meta pages disagree on the page size (${meta0.pageSize} and ${meta1.pageSize})`);
      meta = meta1.txid > meta0.txid ? meta1 : meta0;
    }
    const needed = meta.highWaterMark * meta.pageSize;
    const extra = dataSize % meta.pageSize;
    if (extra !== 0)
      problems.push(`file: ${extra} bytes after the last whole page (a cut trailer, or bytes appended)`);
    if (dataSize < needed)
      throw new SnapshotCorruptError(
        'file',
        `truncated: meta page ${meta.page} (txid ${meta.txid}) says the database has ${meta.highWaterMark} pages of ${meta.pageSize} bytes (${needed} bytes) but the file holds only ${dataSize}`,
      );
    return new BoltDatabase(file, meta, problems, dataSize);
  }

  get pageSize(): number {
    return this.meta.pageSize;
  }

  /** Starts a walk: its own record of visited pages, so each walk detects cycles on its own. */
  walk(options: WalkOptions = {}): TreeWalk {
    return new TreeWalk(this, options);
  }
}
