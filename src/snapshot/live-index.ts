/**
 * The live key set built from the `key` bucket in revision order: for each user key, where its
 * latest KeyValue is in the file, with tombstones applied. It lives outside the JavaScript heap:
 * the key bytes in one arena buffer, an open-addressing hash table and per-key numbers in typed
 * arrays: 40 to 80 bytes per live key plus its bytes (up to twice, as the arena grows by
 * doubling). A Map of strings costs about twice that and keeps the garbage collector busy. Deleted
 * keys leave; their slots and, when the arena grows, their bytes are reused.
 */

/** Where a live key's latest KeyValue lies in the file, and how much it counts toward live bytes. */
export interface LiveSlot {
  readonly offset: number;
  readonly length: number;
  readonly bytes: number;
}

const EMPTY = 0;
const DELETED = -1;
const MAX_LOAD = 0.6;

/** FNV-1a 32 of `key`, for the hash table. */
function hash(key: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ (key[i] as number), 0x01000193);
  return h >>> 0;
}

/** The latest version of each user key, applied one revision at a time. */
export class LiveIndex {
  // Per slot: the key in the arena, where its KeyValue is, and its key + value bytes.
  private keyStart = new Float64Array(1024);
  private keyLength = new Uint32Array(1024);
  private kvOffset = new Float64Array(1024);
  private kvLength = new Uint32Array(1024);
  private size = new Float64Array(1024);
  private nextSlot = 0;
  private freeSlots: number[] = [];
  // Key bytes, appended; deleted keys become garbage until the arena is compacted.
  private arena = Buffer.allocUnsafe(64 * 1024);
  private arenaUsed = 0;
  private arenaGarbage = 0;
  // Open addressing, linear probing: slot + 1, EMPTY or DELETED.
  private table = new Int32Array(2048);
  private tableFilled = 0;
  private live = 0;
  private bytes = 0;

  /** Number of live keys. */
  get count(): number {
    return this.live;
  }

  /** Sum over live keys of key length + value length. */
  get liveBytes(): number {
    return this.bytes;
  }

  /**
   * A put of `key` whose KeyValue is `length` bytes at `offset` (`size`: key + value bytes):
   * replaces what the key held. `key` is copied.
   */
  put(key: Buffer, offset: number, length: number, size: number): void {
    let position = this.find(key);
    let slot: number;
    if (position >= 0) {
      slot = (this.table[position] as number) - 1;
      this.bytes -= this.size[slot] as number;
    } else {
      if ((this.tableFilled + 1) / this.table.length > MAX_LOAD) {
        this.rehash();
        position = this.find(key);
      }
      position = -position - 1;
      slot = this.newSlot(key);
      if (this.table[position] === EMPTY) this.tableFilled++;
      this.table[position] = slot + 1;
      this.live++;
    }
    this.kvOffset[slot] = offset;
    this.kvLength[slot] = length;
    this.size[slot] = size;
    this.bytes += size;
  }

  /** A tombstone of `key`: the key is no longer live. */
  delete(key: Buffer): void {
    const position = this.find(key);
    if (position < 0) return;
    const slot = (this.table[position] as number) - 1;
    this.table[position] = DELETED;
    this.bytes -= this.size[slot] as number;
    this.arenaGarbage += this.keyLength[slot] as number;
    this.freeSlots.push(slot);
    this.live--;
  }

  /** The live keys in byte order, each with where its KeyValue is. */
  *sorted(): Generator<[key: Buffer, slot: LiveSlot]> {
    const slots = this.liveSlots();
    const { arena, keyStart, keyLength } = this;
    slots.sort((a, b) => {
      const sa = keyStart[a] as number;
      const sb = keyStart[b] as number;
      return arena.compare(arena, sb, sb + (keyLength[b] as number), sa, sa + (keyLength[a] as number));
    });
    for (const slot of slots) {
      const start = keyStart[slot] as number;
      yield [
        Buffer.from(arena.subarray(start, start + (keyLength[slot] as number))),
        {
          offset: this.kvOffset[slot] as number,
          length: this.kvLength[slot] as number,
          bytes: this.size[slot] as number,
        },
      ];
    }
  }

  /** The table position holding `key`, or -(the position to insert it at) - 1. */
  private find(key: Buffer): number {
    const mask = this.table.length - 1;
    let position = hash(key) & mask;
    let insertAt = -1;
    for (;;) {
      const entry = this.table[position] as number;
      if (entry === EMPTY) return -(insertAt >= 0 ? insertAt : position) - 1;
      if (entry === DELETED) {
        if (insertAt < 0) insertAt = position;
      } else {
        const slot = entry - 1;
        const length = this.keyLength[slot] as number;
        const start = this.keyStart[slot] as number;
        if (length === key.length && key.compare(this.arena, start, start + length) === 0) return position;
      }
      position = (position + 1) & mask;
    }
  }

  private newSlot(key: Buffer): number {
    const slot = this.freeSlots.pop() ?? this.nextSlot++;
    if (slot >= this.keyStart.length) this.growSlots();
    if (this.arenaUsed + key.length > this.arena.length) this.growArena(key.length);
    key.copy(this.arena, this.arenaUsed);
    this.keyStart[slot] = this.arenaUsed;
    this.keyLength[slot] = key.length;
    this.arenaUsed += key.length;
    return slot;
  }

  /** Where each live key's KeyValue lies in the file (offsets), in no particular order. */
  offsets(): Float64Array {
    const slots = this.liveSlots();
    const offsets = new Float64Array(slots.length);
    for (let i = 0; i < slots.length; i++) offsets[i] = this.kvOffset[slots[i] as number] as number;
    return offsets;
  }

  private liveSlots(): Uint32Array {
    const slots = new Uint32Array(this.live);
    let n = 0;
    for (const entry of this.table) if (entry > 0) slots[n++] = entry - 1;
    return slots;
  }

  private rehash(): void {
    const slots = this.liveSlots();
    let capacity = this.table.length;
    while ((slots.length + 1) / capacity > MAX_LOAD / 2) capacity *= 2;
    this.table = new Int32Array(capacity);
    this.tableFilled = 0;
    const mask = capacity - 1;
    for (const slot of slots) {
      const start = this.keyStart[slot] as number;
      let position = hash(this.arena.subarray(start, start + (this.keyLength[slot] as number))) & mask;
      while (this.table[position] !== EMPTY) position = (position + 1) & mask;
      this.table[position] = slot + 1;
      this.tableFilled++;
    }
  }

  /** Makes room for `needed` more bytes: drops deleted keys' bytes, and doubles when still short. */
  private growArena(needed: number): void {
    const liveBytes = this.arenaUsed - this.arenaGarbage;
    let capacity = this.arena.length;
    while (liveBytes + needed > capacity / 2) capacity *= 2;
    const arena = Buffer.allocUnsafe(capacity);
    let used = 0;
    for (const slot of this.liveSlots()) {
      const start = this.keyStart[slot] as number;
      const length = this.keyLength[slot] as number;
      this.arena.copy(arena, used, start, start + length);
      this.keyStart[slot] = used;
      used += length;
    }
    this.arena = arena;
    this.arenaUsed = used;
    this.arenaGarbage = 0;
  }

  private growSlots(): void {
    const n = this.keyStart.length * 2;
    const grow = <T extends Float64Array | Uint32Array>(old: T, make: (n: number) => T): T => {
      const next = make(n);
      next.set(old);
      return next;
    };
    this.keyStart = grow(this.keyStart, (k) => new Float64Array(k));
    this.keyLength = grow(this.keyLength, (k) => new Uint32Array(k));
    this.kvOffset = grow(this.kvOffset, (k) => new Float64Array(k));
    this.kvLength = grow(this.kvLength, (k) => new Uint32Array(k));
    this.size = grow(this.size, (k) => new Float64Array(k));
  }
}
