/**
 * Writes an etcd snapshot file: a bbolt database (see bbolt-writer.ts) followed by the SHA-256
 * trailer `etcdctl snapshot save` appends, so `etcdutl snapshot status` reads it and
 * `etcdutl snapshot restore` accepts it without --skip-hash-check.
 */
import { createHash } from 'node:crypto';
import { type FileHandle } from 'node:fs/promises';
import { writeBboltFileThen, type BboltBucketInput, type BboltWriteOptions } from './bbolt-writer.js';
import { type BoltEntry } from './bbolt-walk.js';
import { SnapshotCorruptError } from './errors.js';
import { type Snapshot } from './snapshot.js';
import { TRAILER_SIZE } from './trailer.js';

const CHUNK = 4 << 20;

/**
 * Hashes the first `length` bytes of the open file (4 MiB reads, the next in flight while one
 * is hashed) and appends the 32-byte digest after them.
 */
async function appendTrailer(
  handle: FileHandle,
  length: number,
  signal: AbortSignal | undefined,
): Promise<Buffer> {
  const hash = createHash('sha256');
  const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  const read = (offset: number, which: number) =>
    handle.read(buffers[which] as Buffer, 0, Math.min(CHUNK, length - offset), offset);
  let which = 0;
  let pending = length > 0 ? read(0, 0) : undefined;
  for (let offset = 0; pending;) {
    const { bytesRead, buffer } = await pending;
    if (bytesRead === 0) throw new Error(`the file ended at ${offset} bytes while hashing ${length}`);
    offset += bytesRead;
    which = 1 - which;
    pending = offset < length ? read(offset, which) : undefined;
    hash.update(buffer.subarray(0, bytesRead));
    signal?.throwIfAborted();
  }
  const digest = hash.digest();
  await handle.write(digest, 0, TRAILER_SIZE, length);
  return digest;
}

/**
 * Writes `buckets` (ascending by name, entries strictly ascending by key) as a new etcd snapshot
 * file at `path`: the bbolt database, then the SHA-256 of it as etcd's trailer; fsynced once.
 * Errors as `writeBboltFile` (the file is removed). Returns the file's size and the hash (hex).
 */
export async function writeEtcdSnapshotFile(
  path: string,
  buckets: Iterable<BboltBucketInput> | AsyncIterable<BboltBucketInput>,
  options: BboltWriteOptions = {},
): Promise<{ readonly bytes: number; readonly sha256: string }> {
  let digest: Buffer | undefined;
  const { bytes } = await writeBboltFileThen(path, buckets, options, async (handle, length) => {
    digest = await appendTrailer(handle, length, options.signal);
  });
  return { bytes: bytes + TRAILER_SIZE, sha256: (digest as Buffer).toString('hex') };
}

/**
 * Every top-level bucket of an open snapshot with its entries, read as the writer consumes them
 * (one leaf page at a time): the input that rewrites a snapshot as it is. Throws
 * `SnapshotCorruptError` for damage, and for a nested bucket (etcd's databases have none).
 */
export async function* snapshotBuckets(snapshot: Snapshot): AsyncGenerator<BboltBucketInput> {
  const walk = snapshot.db.walk();
  const root = walk.rootBucket();
  const tops: BoltEntry[] = [];
  for await (const entry of walk.entries(root)) tops.push(entry);
  for (const top of tops) {
    if (!top.isBucket)
      throw new SnapshotCorruptError('bucket root', `key ${top.key.toString('hex')} is not a bucket`);
    const ref = walk.childBucket(root, top);
    yield {
      name: top.key,
      entries: (async function* () {
        for await (const leaf of walk.leaves(ref))
          for (const entry of leaf) {
            if (entry.isBucket)
              throw new SnapshotCorruptError(
                `bucket ${ref.name}`,
                `nested bucket ${entry.key.toString('hex')}: etcd's buckets hold none`,
              );
            yield [entry.key, entry.value] as const;
          }
      })(),
    };
  }
}
