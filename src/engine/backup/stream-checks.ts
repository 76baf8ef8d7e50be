/**
 * Pass-through streams that measure what flows through them: the raw snapshot (bytes, etcd's
 * SHA-256 trailer) and the stored object (bytes, SHA-256). Nothing is held beyond one chunk.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback, type Writable } from 'node:stream';

const TRAILER = 32;

/** etcd's integrity trailer: present when size % 512 == 32; `ok` when it equals SHA-256 of the rest. */
export type TrailerState = 'ok' | 'absent' | 'bad';

/**
 * Counts the snapshot's bytes, hashes all but the last 32, and at the end compares those 32 with
 * the hash. Optionally copies every byte into `spool` (with back-pressure). No chunk is copied:
 * the last 32 bytes seen are held as a view into their chunk until the next one arrives.
 */
export class SnapshotChecker extends Transform {
  bytes = 0;
  private readonly bodyHash: Hash = createHash('sha256');
  /** The last (up to) 32 bytes seen, not hashed yet: a view of the last chunk, or a small copy. */
  private tail: Buffer = Buffer.alloc(0);
  private readonly spool: Writable | undefined;
  private readonly onBytes: ((bytes: number) => void) | undefined;

  constructor(options: { spool?: Writable | undefined; onBytes?: (bytes: number) => void } = {}) {
    super({ highWaterMark: 1 << 20 });
    this.spool = options.spool;
    this.onBytes = options.onBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (chunk.length >= TRAILER) {
      // The held-back tail is body after all; so is all of this chunk but its last 32 bytes.
      if (this.tail.length > 0) this.bodyHash.update(this.tail);
      this.bodyHash.update(chunk.subarray(0, chunk.length - TRAILER));
      this.tail = chunk.subarray(chunk.length - TRAILER);
    } else {
      // A chunk shorter than the trailer (rare): only then join, and only 32 + a few bytes.
      const joined = Buffer.concat([this.tail, chunk]);
      const cut = Math.max(0, joined.length - TRAILER);
      this.bodyHash.update(joined.subarray(0, cut));
      this.tail = joined.subarray(cut);
    }
    this.onBytes?.(this.bytes);
    this.push(chunk);
    if (this.spool && !this.spool.write(chunk)) this.spool.once('drain', () => callback());
    else callback();
  }

  override _flush(callback: TransformCallback): void {
    if (!this.spool) return callback();
    this.spool.end(() => callback());
  }

  /** The trailer verdict and etcd's digest (hex), once the stream has ended. */
  trailer(): { state: TrailerState; sha256: string | null } {
    if (this.bytes % 512 !== TRAILER || this.tail.length !== TRAILER)
      return { state: 'absent', sha256: null };
    const digest = this.bodyHash.copy().digest();
    return { state: digest.equals(this.tail) ? 'ok' : 'bad', sha256: this.tail.toString('hex') };
  }

  /**
   * SHA-256 (hex) of every byte that passed, once the stream has ended: the body's hash state
   * carried on over the held-back tail, so a stored copy of the raw stream needs no second hash.
   */
  digest(): string {
    return this.bodyHash.copy().update(this.tail).digest('hex');
  }
}

/** Counts and hashes the bytes written to storage. */
export class StoredHasher extends Transform {
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    callback(null, chunk);
  }

  digest(): string {
    return this.hash.copy().digest('hex');
  }
}
