/**
 * The SHA-256 trailer etcd appends to a snapshot: 32 bytes holding the hash of everything before
 * them. Whether a file has one is decided by its size, as etcd itself does on restore.
 */
import { createHash } from 'node:crypto';
import { type PositionalFile } from './positional-file.js';

/** `ok`: the trailer matches; `absent`: the file has none (a bare bbolt file); `bad`: it does not match. */
export type TrailerStatus = 'ok' | 'absent' | 'bad';

/** The trailer's length. */
export const TRAILER_SIZE = 32;
const CHUNK = 1 << 20;

/**
 * Whether a file of `size` bytes carries a trailer. bbolt files are whole pages, and pages are
 * multiples of 512 bytes, so a bare database has `size % 512 == 0`; etcd's snapshot writer adds
 * exactly 32 bytes, and etcd restores by the same rule (`size % 512 == sha256.Size`). A file of
 * any other size has no trailer; if it is also not whole pages it is damaged, which the meta's
 * page count check reports.
 */
export function hasTrailer(size: number): boolean {
  return size % 512 === TRAILER_SIZE;
}

/** The trailer's verdict and, when present, both hashes (hex) for messages. */
export interface TrailerCheck {
  readonly status: TrailerStatus;
  readonly stored: string | undefined;
  readonly computed: string | undefined;
}

/**
 * Streams the file once (1 MiB reads into two buffers used in turn: the next read in flight while
 * the current one is hashed, and no new buffer per read) and compares the SHA-256 of everything
 * before the trailer with the trailer.
 */
export async function checkTrailer(file: PositionalFile): Promise<TrailerCheck> {
  if (!hasTrailer(file.size)) return { status: 'absent', stored: undefined, computed: undefined };
  const end = file.size - TRAILER_SIZE;
  const hash = createHash('sha256');
  const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)] as const;
  const next = (offset: number, turn: number) => {
    if (offset >= end) return undefined;
    const length = Math.min(CHUNK, end - offset);
    const buffer = buffers[turn % 2] as Buffer;
    return file.readInto(buffer, 0, length, offset, 'trailer check').then(() => buffer.subarray(0, length));
  };
  let turn = 0;
  let pending = next(0, turn);
  for (let offset = 0; pending;) {
    const chunk = await pending;
    offset += chunk.length;
    turn += 1;
    pending = next(offset, turn);
    hash.update(chunk);
  }
  const computed = hash.digest('hex');
  const stored = (await file.read(end, TRAILER_SIZE, 'trailer')).toString('hex');
  return { status: computed === stored ? 'ok' : 'bad', stored, computed };
}
