/**
 * Streams one snapshot into storage: raw bytes are counted, checked against etcd's trailer and
 * copied to a sealed local spool file (for the offline check), optionally gzipped, then
 * optionally encrypted (age), hashed as stored,
 * and written through the storage's all-or-nothing `write`. Memory stays at a few chunks.
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
  /** A local copy of the raw snapshot for the offline check, sealed with `seal`; the caller removes it. */
  readonly spoolFile: string;
  readonly seal: SpoolSeal;
  /** How the stored object is encrypted; null when it is not. */
  readonly encryption: EncryptionRecord | null;
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
  onBytes?: (rawBytes: number) => void;
  signal?: AbortSignal;
}): Promise<StoredSnapshot> {
  const dir = spoolDir();
  await mkdir(dir, { recursive: true });
  const spoolFile = path.join(dir, `snapshot-${process.pid}-${randomBytes(4).toString('hex')}.db`);
  // The spool is sealed with a key held only in memory: no plain snapshot ever lands on disk.
  const seal = new SpoolSeal();
  const checker = new SnapshotChecker({ spool: seal.writer(spoolFile), onBytes: options.onBytes });
  const hasher = new StoredHasher();
  const plain = options.encryption ? new StoredHasher() : undefined;
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  // Either side failing stops the other: a dead member aborts the upload, a full disk the stream.
  const stop = new AbortController();
  const onAbort = () => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const stages = [
      options.source,
      ...(plain ? [plain] : []),
      checker,
      ...(options.compression === 'gzip' ? [createGzip({ level: 6 })] : []),
      ...(options.encryption ? [await encryptingStream(options.encryption)] : []),
      hasher,
      body,
    ];
    const piping = pipeline(stages, { signal: stop.signal }).catch((error: unknown) => {
      stop.abort(error);
      throw error;
    });
    const writing = options.storage
      .write(options.key, body, { signal: stop.signal })
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
      sha256: hasher.digest(),
      trailer: trailer.state,
      etcdSha256: trailer.sha256,
      spoolFile,
      seal,
      encryption: options.encryption && plain ? recordFor(options.encryption, plain.digest()) : null,
    };
  } catch (error) {
    await rm(spoolFile, { force: true });
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

function isAbortEcho(reason: unknown): boolean {
  return (
    reason instanceof Error &&
    (reason.name === 'AbortError' || (reason as NodeJS.ErrnoException).code === 'ABORT_ERR')
  );
}
