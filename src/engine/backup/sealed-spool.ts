/**
 * A spool file that never holds plain text: what is written is encrypted with AES-256-CTR under a
 * key that lives only in this process's memory, and read back at any offset (CTR seeks). The
 * offline snapshot check needs random access to the raw snapshot; this gives it one without the
 * cluster's keys and values ever sitting on disk in the clear. Lost with the process, by design.
 */
import { createCipheriv, randomBytes, type Cipher } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { Writable } from 'node:stream';

const BLOCK = 16;

/** The in-memory key of one spool file; `unseal` decrypts bytes read at a file offset. */
export class SpoolSeal {
  private readonly key = randomBytes(32);
  /** The high 8 bytes of the counter are random; the low 8 count blocks from 0. */
  private readonly nonce = randomBytes(8);

  private counterAt(block: number): Buffer {
    const iv = Buffer.alloc(BLOCK);
    this.nonce.copy(iv, 0);
    iv.writeBigUInt64BE(BigInt(block), 8);
    return iv;
  }

  private cipherAt(offset: number): Cipher {
    const cipher = createCipheriv('aes-256-ctr', this.key, this.counterAt(Math.floor(offset / BLOCK)));
    const skip = offset % BLOCK;
    if (skip > 0) cipher.update(Buffer.alloc(skip));
    return cipher;
  }

  /** A writable that stores everything written, sealed, in `file` (mode 0600); `end(cb)` waits for the file. */
  writer(file: string): Writable {
    const out: WriteStream = createWriteStream(file, { mode: 0o600 });
    const cipher = this.cipherAt(0);
    return new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _encoding, callback) {
        if (out.write(cipher.update(chunk))) callback();
        else out.once('drain', () => callback());
      },
      final(callback) {
        out.end(() => callback());
      },
      destroy(error, callback) {
        out.destroy();
        callback(error);
      },
    });
  }

  /**
   * One AES-256-ECB cipher, kept, that turns counter blocks into CTR's key stream: a read back
   * costs no cipher object of its own. (One per read — a page at a time, a quarter of a million
   * for 1 GiB — left native memory V8 does not see piling up between GCs: RSS spikes.)
   */
  private readonly keyStream = createCipheriv('aes-256-ecb', this.key, null).setAutoPadding(false);

  /** Decrypts, in place, `bytes` that were read from the spool file at `offset`. */
  readonly unseal = (bytes: Buffer, offset: number): void => {
    const first = Math.floor(offset / BLOCK);
    const skip = offset % BLOCK;
    const blocks = Math.ceil((skip + bytes.length) / BLOCK);
    const counters = Buffer.allocUnsafe(blocks * BLOCK);
    for (let i = 0; i < blocks; i++) {
      const at = i * BLOCK;
      this.nonce.copy(counters, at);
      const block = first + i; // < 2^53: the high 32 bits, then the low 32
      counters.writeUInt32BE(Math.floor(block / 2 ** 32), at + 8);
      counters.writeUInt32BE(block >>> 0, at + 12);
    }
    const stream = this.keyStream.update(counters);
    for (let j = 0; j < bytes.length; j++) bytes[j] = (bytes[j] as number) ^ (stream[skip + j] as number);
  };
}
