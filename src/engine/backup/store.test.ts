// The one-pass store of `backup create`: a real member's snapshot streamed into storage with its
// checks before the object becomes visible. A good stream is stored (one hash serving etcd's
// trailer and the stored digest); every damage — a flipped byte in the middle, in a branch page,
// in a leaf, in the trailer; a truncated or trailerless stream — is refused with nothing stored
// (no object, no part file), on file:// read back in place, through the sealed spool (gzip), and
// on S3 (MinIO) where the check holds the multipart upload's completion.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient } from '../../etcd/member-client.js';
import { openSnapshot } from '../../snapshot/index.js';
import { FileStorage } from '../../storage/file.js';
import { S3Storage } from '../../storage/s3.js';
import type { BackupStorage } from '../../storage/storage.js';
import { Cleanup, tempDir, testLines, upDetached, writeSpec } from '../../testing/harness.js';
import { startS3Server } from '../../testing/s3-server.js';
import { SnapshotCheckError, checkRawSnapshot } from './create.js';
import type { SnapshotFacts } from './snapshot-facts.js';
import { storeSnapshot } from './store.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const line = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');
const connection = { dialTimeoutMs: 5000, commandTimeoutMs: 60_000 };
const CHUNK = 32 * 1024; // what etcd sends per message
const KEYS = 1500;

/** The bytes as a stream of etcd-sized chunks. */
const chunks = (bytes: Buffer) =>
  Readable.from(
    (function* () {
      for (let at = 0; at < bytes.length; at += CHUNK) yield bytes.subarray(at, at + CHUNK);
    })(),
  );

/** `body` with a fresh etcd trailer: damage that only the bolt check can see. */
const retrailed = (body: Buffer) => Buffer.concat([body, createHash('sha256').update(body).digest()]);

/** Every file under `dir` (recursively): what a refused store must leave behind — nothing. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

let snapshot: Buffer;
let pageSize: number;
let branch: number;
let leaf: number;
let work: string;

before(async () => {
  work = await tempDir(cleanup, 'store');
  const spec = await writeSpec(work, { members: 1, etcd: { version: line } });
  const up = await upDetached(cleanup, spec);
  const client = new MemberClient(parseEndpoint(up.endpoints[0] as string), connection);
  try {
    // Enough keys that the key bucket has branch pages.
    for (let i = 0; i < KEYS; i += 50)
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          client.put(`/store/${String(i + j).padStart(5, '0')}`, `value-${i + j}-`.padEnd(100, '.')),
        ),
      );
    const file = path.join(work, 'member.db');
    const stream = await client.snapshot();
    await pipeline(stream.bytes, createWriteStream(file));
    snapshot = await readFile(file);
    const s = await openSnapshot(file);
    try {
      branch = (await s.findBucket('key'))?.root ?? 0;
      pageSize = s.meta.pageSize;
    } finally {
      await s.close();
    }
  } finally {
    client.close();
  }
  const flagsOf = (id: number) => snapshot.readUInt16LE(id * pageSize + 8);
  assert.equal(flagsOf(branch), 0x01, 'the key bucket has a branch root');
  leaf = Number(snapshot.readBigUInt64LE(branch * pageSize + 16 + 8 + 16)); // its second child
  while (flagsOf(leaf) === 0x01) leaf = Number(snapshot.readBigUInt64LE(leaf * pageSize + 16 + 8));
  assert.equal(flagsOf(leaf), 0x02, 'a leaf of the key bucket');
});

/** Stores `bytes` as `backup create` does; the check's facts, or the error. */
async function store(
  storage: BackupStorage,
  bytes: Buffer,
  compression: 'none' | 'gzip' = 'none',
): Promise<{ facts: SnapshotFacts; sha256: string; size: number }> {
  let facts: SnapshotFacts | undefined;
  const stored = await storeSnapshot({
    source: chunks(bytes),
    storage,
    key: 'b/snap.db',
    compression,
    check: async (raw) => {
      facts = await checkRawSnapshot(raw, 'the test member');
    },
  });
  assert.ok(facts);
  return { facts, sha256: stored.sha256, size: stored.size };
}

const body = () => snapshot.subarray(0, snapshot.length - 32);
const flipped = (bytes: Buffer, at: number) => {
  const copy = Buffer.from(bytes);
  copy[at] = (copy[at] as number) ^ 0x40;
  return copy;
};

/** Damages, each with what the refusal must say. */
const damages = (): { name: string; bytes: () => Buffer; message: () => RegExp }[] => [
  {
    name: 'a flipped byte in the middle of the stream',
    bytes: () => flipped(snapshot, Math.floor(snapshot.length / 2)),
    message: () => /has a wrong SHA-256 trailer/,
  },
  {
    name: 'a branch page whose child points outside the file (trailer recomputed)',
    bytes: () => {
      const b = Buffer.from(body());
      b.writeBigUInt64LE(0xffffffn, branch * pageSize + 16 + 8);
      return retrailed(b);
    },
    message: () => new RegExp(`page ${branch}.*outside the database's pages`),
  },
  {
    name: 'a leaf page whose first key lies outside it (trailer recomputed)',
    bytes: () => {
      const b = Buffer.from(body());
      b.writeUInt32LE(0xffff, leaf * pageSize + 16 + 4);
      return retrailed(b);
    },
    message: () => new RegExp(`page ${leaf}.*outside the page's data`),
  },
  {
    name: 'a flipped byte in the trailer',
    bytes: () => flipped(snapshot, snapshot.length - 5),
    message: () => /has a wrong SHA-256 trailer/,
  },
  {
    name: 'a stream cut short',
    bytes: () => snapshot.subarray(0, snapshot.length - 1000),
    message: () => /ended without SHA-256 trailer/,
  },
  {
    name: 'a stream cut short by whole pages, with a trailer that matches what came',
    bytes: () => retrailed(body().subarray(0, body().length - 4 * pageSize)),
    message: () => /truncated: meta page/,
  },
  {
    name: 'a stream without the trailer',
    bytes: body,
    message: () => /ended without SHA-256 trailer/,
  },
];

describe('one-pass store with checks before commit', { concurrency: true }, () => {
  it('stores a good stream: one hash gives the stored digest, the facts are right', async () => {
    const dir = await tempDir(cleanup, 'good');
    const result = await store(new FileStorage(dir), snapshot);
    assert.equal(result.size, snapshot.length);
    assert.equal(result.sha256, createHash('sha256').update(snapshot).digest('hex'));
    assert.equal(result.facts.keyCount, KEYS);
    const stored = await readFile(path.join(dir, 'b', 'snap.db'));
    assert.ok(stored.equals(snapshot), 'the stored object is the stream');
    assert.deepEqual(await files(dir), ['snap.db']);
  });

  for (const damage of damages())
    it(`file://, read back in place: ${damage.name} is refused, nothing stored`, async () => {
      const dir = await tempDir(cleanup, 'bad');
      await assert.rejects(store(new FileStorage(dir), damage.bytes()), (e: unknown) => {
        assert.ok(e instanceof SnapshotCheckError, String(e));
        assert.match(e.message, damage.message());
        return true;
      });
      assert.deepEqual(await files(dir), [], 'no object, no part file');
    });

  it('file:// with gzip (the sealed spool): damage is refused, nothing stored, no spool left', async () => {
    const dir = await tempDir(cleanup, 'gz');
    const spool = path.join(work, 'spool');
    process.env['ETCD_STEWARD_SPOOL_DIR'] = spool;
    const good = await store(new FileStorage(dir), snapshot, 'gzip');
    assert.equal(good.facts.keyCount, KEYS);
    for (const damage of damages().slice(1, 3)) {
      const bad = path.join(dir, 'bad');
      await assert.rejects(store(new FileStorage(bad), damage.bytes(), 'gzip'), damage.message());
      assert.deepEqual(await files(bad), [], damage.name);
    }
    assert.deepEqual(await files(spool), [], 'the spool files are removed');
  });

  it('S3: damage found after the last byte keeps the multipart upload from completing', async () => {
    const s3 = await startS3Server(cleanup);
    const storage = new S3Storage(`s3://${s3.bucket}/p?endpoint=${s3.endpoint}&forcePathStyle=true`, {
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    });
    const good = await store(storage, snapshot);
    assert.equal(good.facts.keyCount, KEYS);
    await storage.delete('b/snap.db');
    for (const damage of damages().slice(1, 3)) {
      await assert.rejects(store(storage, damage.bytes()), damage.message());
      assert.deepEqual(await storage.list(''), [], damage.name);
    }
  });
});
