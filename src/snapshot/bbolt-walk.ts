/**
 * Walks of a bbolt page tree: reads pages with every check that keeps a damaged file from
 * crashing or looping (page in range, right type, header id, overflow in range, each page reached
 * once, keys in order) and yields buckets' entries in key order, reading a few pages ahead.
 */
import {
  BUCKET_HEADER_SIZE,
  PageType,
  branchElements,
  freelistIds,
  leafElements,
  pageTypeName,
  parseBucketHeader,
  readPageHeader,
  type LeafElement,
  type PageHeader,
} from './bbolt-format.js';
import { type BoltDatabase } from './bbolt-database.js';
import { SnapshotCorruptError } from './errors.js';

/** How many children of a branch page are read ahead while the first is being walked. */
const READ_AHEAD = 8;
const MAX_DEPTH = 64;

/** How a walk reacts to damage. */
export interface WalkOptions {
  /**
   * Called with each problem instead of throwing it; the damaged page (and what hangs below it)
   * is skipped and the walk goes on. Without it, the first problem is thrown.
   */
  readonly onProblem?: (problem: SnapshotCorruptError) => void;
}

/** A bucket to walk: its root page, or its inline page. */
export interface BucketRef {
  /** For messages: "root", "key", "key/nested". */
  readonly name: string;
  readonly root: number;
  readonly inline: Buffer | undefined;
  /** File offset of the inline page, so values inside it get a file offset too. */
  readonly inlineOffset: number;
}

/** One key of a bucket. `valueOffset` is the value's offset in the file, for reading it again. */
export type BoltEntry = LeafElement;

/** Counts of what a walk reached. */
export interface WalkStats {
  /** Pages reached, overflow pages included. */
  pages: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
  inlineBuckets: number;
  /** Levels of the deepest tree reached (1: a root that is a leaf). */
  depth: number;
}

interface Bounds {
  readonly lower: Buffer | undefined;
  readonly upper: Buffer | undefined;
}

interface LoadedPage {
  readonly id: number;
  readonly header: PageHeader;
  readonly bytes: Buffer;
}

/**
 * One pass over (part of) the tree. Every page it reads is marked; reaching a page twice is
 * reported as corruption, so a damaged tree can never make it loop.
 */
export class TreeWalk {
  /** What this walk reached so far. */
  readonly stats: WalkStats = {
    pages: 0,
    branchPages: 0,
    leafPages: 0,
    overflowPages: 0,
    inlineBuckets: 0,
    depth: 0,
  };
  private readonly visited: Uint8Array;
  private readonly pageSize: number;
  private readonly highWaterMark: number;

  constructor(
    private readonly db: BoltDatabase,
    private readonly options: WalkOptions,
  ) {
    this.pageSize = db.meta.pageSize;
    this.highWaterMark = db.meta.highWaterMark;
    this.visited = new Uint8Array(this.highWaterMark);
    this.visited[0] = 1;
    this.visited[1] = 1;
  }

  /** The root bucket (the one whose keys are the top-level bucket names). */
  rootBucket(): BucketRef {
    return { name: 'root', root: this.db.meta.root, inline: undefined, inlineOffset: 0 };
  }

  /** The nested bucket an entry with `isBucket` holds. */
  childBucket(parent: BucketRef, entry: BoltEntry): BucketRef {
    const keyName = entry.key.toString('latin1');
    const name = parent.name === 'root' ? keyName : `${parent.name}/${keyName}`;
    const header = parseBucketHeader(entry.value, `bucket ${name}`);
    if (header.inline) this.stats.inlineBuckets++;
    return {
      name,
      root: header.root,
      inline: header.inline,
      inlineOffset: entry.valueOffset + BUCKET_HEADER_SIZE,
    };
  }

  /** Whether this walk reached page `id` (overflow pages included; metas count as reached). */
  reached(id: number): boolean {
    return this.visited[id] === 1;
  }

  /**
   * The entries of `bucket` in key order, from the first key ≥ `from` when given. Pages are
   * read ahead a few at a time. Damage is thrown, or reported to `onProblem` and skipped.
   */
  async *entries(bucket: BucketRef, from?: Buffer): AsyncGenerator<BoltEntry> {
    for await (const batch of this.leaves(bucket, from)) yield* batch;
  }

  /**
   * Like `entries`, one leaf page at a time: the way to scan a large bucket, since it costs one
   * asynchronous step per page instead of one per key.
   */
  async *leaves(bucket: BucketRef, from?: Buffer): AsyncGenerator<BoltEntry[]> {
    const state = { last: undefined as Buffer | undefined };
    const none = { lower: undefined, upper: undefined };
    if (bucket.inline) {
      const where = `bucket ${bucket.name} (inline page)`;
      try {
        const header = readPageHeader(bucket.inline, where);
        if (header.flags !== PageType.leaf)
          throw new SnapshotCorruptError(
            where,
            `inline page of type ${pageTypeName(header.flags)}, not leaf`,
          );
        const elements = leafElements(bucket.inline, header.count, where, bucket.inlineOffset);
        yield this.checkLeaf(elements, where, none, state, from);
      } catch (error) {
        this.problem(error);
      }
      return;
    }
    const root = this.schedule(bucket.root, `bucket ${bucket.name}`, 'its root');
    if (!root) return;
    yield* this.walkPage(root, bucket.name, none, state, from, 0);
  }

  /**
   * Reads the freelist page named by the meta and returns the ids it lists, marking the page as
   * reached; undefined when the database stores no freelist. Throws (or reports) damage.
   */
  async freelist(): Promise<number[] | undefined> {
    const id = this.db.meta.freelist;
    if (id === undefined) return undefined;
    try {
      const loaded = this.schedule(id, 'freelist', 'the meta');
      if (!loaded) return undefined;
      const page = await loaded;
      if (page.header.flags !== PageType.freelist)
        throw new SnapshotCorruptError(
          `page ${id}`,
          `is a ${pageTypeName(page.header.flags)} page, expected the freelist`,
          { page: id },
        );
      return freelistIds(page.bytes, page.header.count, `page ${id}`);
    } catch (error) {
      this.problem(error);
      return undefined;
    }
  }

  private problem(error: unknown): void {
    if (error instanceof SnapshotCorruptError && this.options.onProblem) this.options.onProblem(error);
    else throw error;
  }

  /**
   * Checks that `id` may be read from `parent` and starts reading it. Returns undefined when it
   * must not be read (reported) — a page out of range or one already reached.
   */
  private schedule(id: number, parent: string, via: string): Promise<LoadedPage> | undefined {
    const where = `page ${id}`;
    try {
      if (id < 2 || id >= this.highWaterMark || !Number.isSafeInteger(id))
        throw new SnapshotCorruptError(
          parent,
          `${via} points to page ${id}, outside the database's pages 2..${this.highWaterMark - 1}`,
          { page: id },
        );
      if (this.visited[id] === 1)
        throw new SnapshotCorruptError(
          parent,
          `${via} points to page ${id}, which was already reached (a cycle, or two parents share it)`,
          { page: id },
        );
    } catch (error) {
      this.problem(error);
      return undefined;
    }
    this.visited[id] = 1;
    const promise = this.load(id, where);
    promise.catch(() => undefined); // awaited by the caller; this only keeps a skipped read quiet
    return promise;
  }

  private async load(id: number, where: string): Promise<LoadedPage> {
    const offset = id * this.pageSize;
    const first = await this.db.file.readPage(offset, this.pageSize, where);
    const header = readPageHeader(first, where);
    if (header.id !== id)
      throw new SnapshotCorruptError(
        where,
        `its header says it is page ${header.id}: not the page the tree points to`,
        {
          page: id,
        },
      );
    if (header.overflow === 0) return { id, header, bytes: first };
    const last = id + header.overflow;
    if (last >= this.highWaterMark)
      throw new SnapshotCorruptError(
        where,
        `overflow of ${header.overflow} pages runs to page ${last}, past the high-water mark ${this.highWaterMark}`,
        { page: id },
      );
    for (let p = id + 1; p <= last; p++) {
      if (this.visited[p] === 1)
        throw new SnapshotCorruptError(
          where,
          `its overflow pages overlap page ${p}, which was already reached`,
          {
            page: id,
          },
        );
      this.visited[p] = 1;
    }
    const bytes = await this.db.file.readPage(offset, (header.overflow + 1) * this.pageSize, where);
    return { id, header, bytes };
  }

  private async *walkPage(
    pending: Promise<LoadedPage>,
    bucket: string,
    bounds: Bounds,
    state: { last: Buffer | undefined },
    from: Buffer | undefined,
    depth: number,
  ): AsyncGenerator<BoltEntry[]> {
    let page: LoadedPage;
    try {
      page = await pending;
    } catch (error) {
      this.problem(error);
      return;
    }
    const where = `page ${page.id}`;
    const { flags, count, overflow } = page.header;
    this.stats.pages += 1 + overflow;
    this.stats.overflowPages += overflow;
    this.stats.depth = Math.max(this.stats.depth, depth + 1);
    if (flags === PageType.leaf) {
      this.stats.leafPages++;
      const leafWhere = `${where} (bucket ${bucket})`;
      let entries;
      try {
        entries = this.checkLeaf(
          leafElements(page.bytes, count, leafWhere, page.id * this.pageSize),
          leafWhere,
          bounds,
          state,
          from,
        );
      } catch (error) {
        this.problem(error);
        return;
      }
      if (entries.length > 0) yield entries;
      return;
    }
    this.stats.branchPages++;
    let elements;
    try {
      if (flags !== PageType.branch)
        throw new SnapshotCorruptError(
          where,
          `is a ${pageTypeName(flags)} page inside bucket ${bucket}, expected branch or leaf`,
          {
            page: page.id,
          },
        );
      if (depth >= MAX_DEPTH)
        throw new SnapshotCorruptError(
          where,
          `the tree of bucket ${bucket} is deeper than ${MAX_DEPTH} levels`,
          {
            page: page.id,
          },
        );
      elements = branchElements(page.bytes, count, `${where} (bucket ${bucket})`);
      for (let i = 0; i < elements.length; i++) {
        const key = (elements[i] as { key: Buffer }).key;
        const previous = i > 0 ? elements[i - 1]?.key : bounds.lower;
        if (previous && (i > 0 ? Buffer.compare(previous, key) >= 0 : Buffer.compare(previous, key) > 0))
          throw new SnapshotCorruptError(where, `branch element ${i}: keys out of order (bucket ${bucket})`, {
            page: page.id,
          });
        if (bounds.upper && Buffer.compare(key, bounds.upper) >= 0)
          throw new SnapshotCorruptError(
            where,
            `branch element ${i}: key not below its parent's next key (bucket ${bucket})`,
            {
              page: page.id,
            },
          );
      }
    } catch (error) {
      this.problem(error);
      return;
    }
    // Skip the children wholly before `from`: the child that may hold it is the last one whose key is ≤ from.
    let start = 0;
    if (from)
      while (
        start + 1 < elements.length &&
        Buffer.compare((elements[start + 1] as { key: Buffer }).key, from) <= 0
      )
        start++;
    const inFlight = new Map<number, Promise<LoadedPage> | undefined>();
    const scheduleChild = (i: number) => {
      const element = elements[i];
      if (element && !inFlight.has(i))
        inFlight.set(i, this.schedule(element.child, where, `branch element ${i}`));
    };
    for (let i = start; i < elements.length; i++) {
      for (let j = i; j < Math.min(elements.length, i + READ_AHEAD); j++) scheduleChild(j);
      const child = inFlight.get(i);
      inFlight.delete(i);
      if (!child) continue;
      const childBounds = { lower: elements[i]?.key, upper: elements[i + 1]?.key ?? bounds.upper };
      yield* this.walkPage(child, bucket, childBounds, state, i === start ? from : undefined, depth + 1);
    }
  }

  /**
   * Checks the keys of one leaf against the previous key and the parent's bounds; returns the
   * entries from `from` on. Throws at the first bad key (the caller reports it).
   */
  private checkLeaf(
    elements: LeafElement[],
    where: string,
    bounds: Bounds,
    state: { last: Buffer | undefined },
    from: Buffer | undefined,
  ): BoltEntry[] {
    let first = 0;
    for (let i = 0; i < elements.length; i++) {
      const key = (elements[i] as LeafElement).key;
      if (state.last && Buffer.compare(state.last, key) >= 0)
        throw new SnapshotCorruptError(
          where,
          `leaf element ${i}: key not after the previous key (keys out of order)`,
        );
      if (bounds.lower && Buffer.compare(key, bounds.lower) < 0)
        throw new SnapshotCorruptError(where, `leaf element ${i}: key below its parent's key for this page`);
      if (bounds.upper && Buffer.compare(key, bounds.upper) >= 0)
        throw new SnapshotCorruptError(where, `leaf element ${i}: key not below its parent's next key`);
      state.last = key;
      if (from && Buffer.compare(key, from) < 0) first = i + 1;
    }
    return first === 0 ? elements : elements.slice(first);
  }
}
