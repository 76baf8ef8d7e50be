// etcd's trailer check over every way a stream may be cut into chunks.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { SnapshotChecker } from './stream-checks.js';

/** Streams `bytes` in chunks of the given sizes (cycled) through a checker. */
async function check(
  bytes: Buffer,
  sizes: readonly number[],
): Promise<ReturnType<SnapshotChecker['trailer']> & { bytes: number; digest: string }> {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i += 1) {
    const size = sizes[i % sizes.length] as number;
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  const checker = new SnapshotChecker();
  await pipeline(Readable.from(chunks), checker, new Writable({ write: (_c, _e, cb) => cb() }));
  return { ...checker.trailer(), bytes: checker.bytes, digest: checker.digest() };
}

describe('snapshot trailer check', () => {
  const body = randomBytes(4096 * 3);
  const digest = createHash('sha256').update(body).digest();
  const whole = Buffer.concat([body, digest]);
  const chunkings = [
    [1 << 20],
    [4096],
    [1],
    [31, 32, 33],
    [7, 100, 1, 5000],
    [whole.length - 1, 1],
    [whole.length - 31, 31],
  ];

  it('finds a good trailer however the stream is cut', async () => {
    for (const sizes of chunkings) {
      const result = await check(whole, sizes);
      assert.deepEqual(
        result,
        {
          state: 'ok',
          sha256: digest.toString('hex'),
          bytes: whole.length,
          digest: createHash('sha256').update(whole).digest('hex'),
        },
        String(sizes),
      );
    }
  });

  it('finds a wrong trailer however the stream is cut', async () => {
    const bad = Buffer.from(whole);
    bad[100] = (bad[100] as number) ^ 1;
    for (const sizes of chunkings) assert.equal((await check(bad, sizes)).state, 'bad', String(sizes));
  });

  it('says absent when the size is not a bolt file plus 32 bytes', async () => {
    for (const sizes of chunkings) assert.equal((await check(body, sizes)).state, 'absent', String(sizes));
  });

  it('gives the SHA-256 of every byte from the same hash, however cut and however short', async () => {
    for (const bytes of [whole, body, body.subarray(0, 20), Buffer.alloc(0)])
      for (const sizes of chunkings)
        assert.equal(
          (await check(bytes, sizes)).digest,
          createHash('sha256').update(bytes).digest('hex'),
          `${bytes.length} bytes in ${String(sizes)}`,
        );
  });
});
