/**
 * Streams one snapshot into storage in one pass: raw bytes are counted and checked against etcd's
 * trailer, optionally gzipped, then optionally encrypted (age), hashed as stored, and written
 * through the storage's all-or-nothing `write`; `check` runs on the whole raw snapshot before the
 * object becomes visible. The raw snapshot is read back from the stored file itself when the
 * storage is local and the object is the raw snapshot (file://, uncompressed, not encrypted);
 * otherwise it is copied alongside to a sealed local spool. Memory stays at a few chunks.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { cacheDir } from '../../runtime/etcd-binaries.js';
import { StewardError } from '../../errors.js';
import type { BackupStorage } from '../../storage/storage.js';
import { encryptingStream, recordFor, type EncryptionRecord, type EncryptionSettings } from './encryption.js';
import type { Unseal } from '../../snapshot/index.js';
import { SpoolSeal } from './sealed-spool.js';
import { SnapshotChecker, StoredHasher, type TrailerState } from './stream-checks.js';

export interface StoredSnapshot {
  /** Bytes of the snapshot before compression. */
  readonly size: number;
  readonly storedSize: number;
  /** SHA-256 (hex) of the stored object. */
  readonly sha256: string;
  readonly trailer: TrailerState;
  readonly etcdSha256: string | null;
  /** How the stored object is encrypted; null when it is not. */
  readonly encryption: EncryptionRecord | null;
}

/** The raw snapshot as `check` sees it: its stream's facts and a local file to read it from. */
export interface RawSnapshot {
  readonly size: number;
  readonly trailer: TrailerState;
  readonly etcdSha256: string | null;
  /** The stored object itself, or a sealed spool (read it with `unseal`); gone after `check`. */
  readonly file: string;
  readonly unseal: Unseal | undefined;
}

/** Where raw snapshots are spooled for checking: on disk, not in a RAM-backed /tmp. */
export function spoolDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['ETCD_STEWARD_SPOOL_DIR'] || path.join(cacheDir(env), 'spool');
}

export async function storeSnapshot(options: {
  source: Readable;
  storage: BackupStorage;
  key: string;
  compression: 'gzip' | 'none';
  /** Encrypt the stored object (after compression) to these recipients. */
  encryption?: EncryptionSettings | undefined;
  /** Checks the whole raw snapshot before it becomes visible; a rejection stores nothing. */
  check?: ((raw: RawSnapshot) => Promise<void>) | undefined;
  onBytes?: (rawBytes: number) => void;
  signal?: AbortSignal;
}): Promise<StoredSnapshot> {
  // The stored object is the raw snapshot when neither compressed nor encrypted: one hash then
  // serves etcd's trailer and the stored digest, and a local backend's file is the raw snapshot.
  const raw = options.compression === 'none' && !options.encryption;
  const spooling = options.check !== undefined && !(raw && options.storage.local);
  let spoolFile: string | undefined;
  // The spool is sealed with a key held only in memory: no plain snapshot ever lands on disk.
  const seal = spooling ? new SpoolSeal() : undefined;
  if (seal) {
    const dir = spoolDir();
    await mkdir(dir, { recursive: true });
    spoolFile = path.join(dir, `snapshot-${process.pid}-${randomBytes(4).toString('hex')}.db`);
  }
  const checker = new SnapshotChecker({
    spool: seal && spoolFile ? seal.writer(spoolFile) : undefined,
    onBytes: options.onBytes,
  });
  const hasher = raw ? undefined : new StoredHasher();
  const plain = options.encryption ? new StoredHasher() : undefined;
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  // Either side failing stops the other: a dead member aborts the upload, a full disk the stream.
  const stop = new AbortController();
  const onAbort = () => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const check = options.check;
  const beforeCommit = check
    ? async (file: string | undefined) => {
        const trailer = checker.trailer();
        const local = spoolFile ?? file;
        if (local === undefined) throw new Error('unreachable: no local copy of the snapshot to check');
        await check({
          size: checker.bytes,
          trailer: trailer.state,
          etcdSha256: trailer.sha256,
          file: local,
          unseal: seal?.unseal,
        });
      }
    : undefined;
  try {
    const stages = [
      options.source,
      ...(plain ? [plain] : []),
      checker,
      ...(options.compression === 'gzip' ? [createGzip({ level: 6 })] : []),
      ...(options.encryption ? [await encryptingStream(options.encryption)] : []),
      ...(hasher ? [hasher] : []),
      body,
    ];
    const piping = pipeline(stages, { signal: stop.signal }).catch((error: unknown) => {
      stop.abort(error);
      throw error;
    });
    const writing = options.storage
      .write(options.key, body, { signal: stop.signal, beforeCommit })
      .catch((error: unknown) => {
        stop.abort(error);
        throw error;
      });
    const [piped, written] = await Promise.allSettled([piping, writing]);
    const failures = [piped, written].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    // One side failing makes the other fail too, with an echo: the raw errno of the same write,
    // or an AbortError. The explained error (a StewardError: the member's or the storage's) is
    // the cause; then any error that is not an abort; an abort only if that is all there is.
    const reason: unknown = stop.signal.reason;
    const cause =
      failures.find((e) => e instanceof StewardError) ??
      failures.find((e) => !isAbortEcho(e)) ??
      (reason instanceof StewardError ? reason : failures[0]);
    if (cause !== undefined || written.status === 'rejected') throw cause;
    if (written.status !== 'fulfilled') throw new Error('unreachable');
    const trailer = checker.trailer();
    return {
      size: checker.bytes,
      storedSize: written.value.size,
      sha256: hasher ? hasher.digest() : checker.digest(),
      trailer: trailer.state,
      etcdSha256: trailer.sha256,
      encryption: options.encryption && plain ? recordFor(options.encryption, plain.digest()) : null,
    };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (spoolFile) await rm(spoolFile, { force: true });
  }
}

function isAbortEcho(reason: unknown): boolean {
  return (
    reason instanceof Error &&
    (reason.name === 'AbortError' || (reason as NodeJS.ErrnoException).code === 'ABORT_ERR')
  );
}
