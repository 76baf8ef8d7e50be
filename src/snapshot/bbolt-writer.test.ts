// The bbolt writer: random buckets (empty, inline-sized, huge values on overflow pages, trees of
// 3+ levels, binary keys, page sizes 4096/8192/16384) written and read back by our reader, every
// page reached exactly once; bbolt's own CLI (`bbolt check`, `keys`, `get`) judges the same files;
// input out of order is an InputError and leaves no file.
import assert from 'node:assert/strict';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { InputError } from '../errors.js';
import { bbolt, findBbolt } from '../testing/bbolt-cli.js';
import { Cleanup, tempDir } from '../testing/harness.js';
import { writeBboltFile, type BboltBucketInput } from './bbolt-writer.js';
import { Snapshot } from './snapshot.js';
import { seededRandom } from '../testing/seeded-random.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

type Pair = readonly [Buffer, Buffer];
interface Bucket {
  readonly name: Buffer;
  readonly entries: Pair[];
}

function bytes(rand: () => number, length: number): Buffer {
  const words = new Uint32Array(Math.ceil(length / 4));
  for (let i = 0; i < words.length; i++) words[i] = Math.floor(rand() * 4294967296);
  return Buffer.from(words.buffer, 0, length);
}

function sortedUnique(keys: Buffer[]): Buffer[] {
  keys.sort((a, b) => Buffer.compare(a, b));
  return keys.filter((key, i) => i === 0 || !key.equals(keys[i - 1] as Buffer));
}

/** Random buckets of every shape the writer must handle; printable names when `printable`. */
function randomBuckets(rand: () => number, pageSize: number, printable: boolean): Bucket[] {
  const int = (n: number) => Math.floor(rand() * n);
  const shapes = ['empty', 'tiny', 'small', 'huge-values', 'deep', 'many', 'tiny', 'small'];
  const names = sortedUnique(
    shapes.map((_, i) =>
      printable
        ? Buffer.from(`b${i}-${int(1000)}`)
        : Buffer.concat([bytes(rand, 1 + int(6)), Buffer.from([i])]),
    ),
  );
  return names.map((name, i) => {
    const shape = shapes[i % shapes.length] as string;
    const key = (length: number) => bytes(rand, Math.max(1, length));
    let keys: Buffer[] = [];
    let value: () => Buffer = () => bytes(rand, int(40));
    if (shape === 'tiny') keys = Array.from({ length: 1 + int(4) }, () => key(1 + int(12)));
    if (shape === 'small') keys = Array.from({ length: 5 + int(60) }, () => key(2 + int(30)));
    if (shape === 'huge-values') {
      keys = Array.from({ length: 6 + int(10) }, () => key(1 + int(20)));
      // Tiny, page-crossing and several-page values, an empty one, and one past the 4 MiB write buffer.
      const sizes = [0, 1, pageSize - 40, pageSize + 1, 3 * pageSize + int(pageSize), 5 << 20];
      let n = 0;
      value = () => bytes(rand, sizes[n++ % sizes.length] as number);
    }
    if (shape === 'deep') {
      // Long keys make branch pages hold few children, so three and more levels come quickly.
      keys = Array.from({ length: 600 + int(400) }, () => key(pageSize / 16 + int(pageSize / 8)));
      value = () => bytes(rand, int(100));
    }
    if (shape === 'many') keys = Array.from({ length: 3000 + int(3000) }, () => key(8 + int(8)));
    return { name, entries: sortedUnique(keys).map((k) => [k, value()] as const) };
  });
}

/** Feeds buckets to the writer, alternating plain iterables and async generators. */
function asInput(buckets: Bucket[]): AsyncIterable<BboltBucketInput> {
  return (async function* () {
    let i = 0;
    for (const bucket of buckets) {
      await Promise.resolve();
      const entries = bucket.entries;
      yield {
        name: bucket.name,
        entries:
          i++ % 2 === 0
            ? entries
            : (async function* () {
                for (const entry of entries) yield await Promise.resolve(entry);
              })(),
      };
    }
  })();
}

/** Everything our reader finds in a bbolt file, checking that every page is reached once. */
async function readBack(file: string): Promise<{ buckets: Bucket[]; depth: number }> {
  const snapshot = await Snapshot.open(file);
  try {
    assert.deepEqual(snapshot.db.problems, []);
    const walk = snapshot.db.walk();
    const root = walk.rootBucket();
    const tops = [];
    for await (const entry of walk.entries(root)) {
      assert.ok(entry.isBucket, `root entry ${entry.key.toString('hex')} is a bucket`);
      tops.push(entry);
    }
    const buckets: Bucket[] = [];
    for (const top of tops) {
      const ref = walk.childBucket(root, top);
      const entries: Pair[] = [];
      for await (const entry of walk.entries(ref)) {
        assert.ok(!entry.isBucket);
        entries.push([Buffer.from(entry.key), Buffer.from(entry.value)]);
      }
      buckets.push({ name: Buffer.from(top.key), entries });
    }
    assert.deepEqual(await walk.freelist(), [], 'an empty freelist: every page is in use');
    const { highWaterMark } = snapshot.meta;
    for (let id = 0; id < highWaterMark; id++) assert.ok(walk.reached(id), `page ${id} is reached`);
    return { buckets, depth: walk.stats.depth };
  } finally {
    await snapshot.close();
  }
}

function assertSame(actual: Bucket[], expected: Bucket[]): void {
  assert.equal(actual.length, expected.length, 'bucket count');
  for (let b = 0; b < expected.length; b++) {
    const [got, want] = [actual[b] as Bucket, expected[b] as Bucket];
    assert.ok(got.name.equals(want.name), `bucket ${b} name`);
    assert.equal(got.entries.length, want.entries.length, `bucket ${want.name.toString('hex')}: entry count`);
    for (let i = 0; i < want.entries.length; i++) {
      const [[k, v], [wk, wv]] = [got.entries[i] as Pair, want.entries[i] as Pair];
      if (!k.equals(wk) || !v.equals(wv))
        assert.fail(
          `bucket ${want.name.toString('hex')} entry ${i}: key ${k.toString('hex')} (${v.length} bytes) != ${wk.toString('hex')} (${wv.length} bytes)`,
        );
    }
  }
}

const SEED = Number(process.env['WRITER_SEED'] ?? Date.now() % 100000);

describe('bbolt writer', () => {
  it(`writes random buckets our reader reads back exactly (seed ${SEED})`, async () => {
    const dir = await tempDir(cleanup, 'bbolt-writer');
    const rand = seededRandom(SEED);
    let deepest = 0;
    for (const [round, pageSize] of [4096, 8192, 16384, 4096].entries()) {
      const buckets = randomBuckets(rand, pageSize, round % 2 === 0);
      const file = path.join(dir, `random-${round}.db`);
      const fill = round === 3 ? 0.5 : undefined;
      const result = await writeBboltFile(file, asInput(buckets), {
        pageSize,
        fillPercent: fill,
        txid: 7 + round,
      });
      assert.equal((await stat(file)).size, result.bytes);
      assert.equal(result.bytes, result.pages * pageSize);
      const back = await readBack(file);
      assertSame(back.buckets, buckets);
      deepest = Math.max(deepest, back.depth);
    }
    assert.ok(deepest >= 3, `a tree of 3+ levels was written (deepest ${deepest})`);
  });

  it('writes an empty database and empty buckets', async () => {
    const dir = await tempDir(cleanup, 'bbolt-writer-empty');
    const none = path.join(dir, 'none.db');
    assert.deepEqual(await writeBboltFile(none, []), { bytes: 4 * 4096, pages: 4 });
    assert.deepEqual((await readBack(none)).buckets, []);
    const empty = path.join(dir, 'empty.db');
    const buckets = [
      { name: Buffer.from('a'), entries: [] },
      { name: Buffer.from('b'), entries: [] },
    ];
    await writeBboltFile(empty, buckets);
    assertSame((await readBack(empty)).buckets, buckets);
  });

  it('refuses input out of order, duplicates and empty keys with InputError and leaves no file', async () => {
    const dir = await tempDir(cleanup, 'bbolt-writer-order');
    const k = (s: string) => Buffer.from(s);
    const cases: [string, BboltBucketInput[], RegExp][] = [
      [
        'keys descending',
        [
          {
            name: k('b'),
            entries: [
              [k('y'), k('1')],
              [k('x'), k('2')],
            ],
          },
        ],
        /out of order/,
      ],
      [
        'duplicate key',
        [
          {
            name: k('b'),
            entries: [
              [k('x'), k('1')],
              [k('x'), k('2')],
            ],
          },
        ],
        /duplicate/,
      ],
      [
        'buckets descending',
        [
          { name: k('b'), entries: [] },
          { name: k('a'), entries: [] },
        ],
        /buckets: out of order/,
      ],
      [
        'duplicate bucket',
        [
          { name: k('a'), entries: [] },
          { name: k('a'), entries: [] },
        ],
        /duplicate/,
      ],
      ['empty key', [{ name: k('a'), entries: [[k(''), k('1')]] }], /empty key/],
    ];
    for (const [what, buckets, message] of cases) {
      const file = path.join(dir, `${what}.db`);
      await assert.rejects(writeBboltFile(file, buckets), (error: unknown) => {
        assert.ok(error instanceof InputError, `${what}: ${String(error)}`);
        assert.match(error.message, message, what);
        return true;
      });
      await assert.rejects(access(file), `${what}: the half-written file is removed`);
    }
    // Order is checked across page boundaries too: a key below the previous page's last key.
    const many = Array.from(
      { length: 2000 },
      (_, i) => [k(`key-${String(i).padStart(6, '0')}`), k('v')] as const,
    );
    many.push([k('key-000100'), k('v')]);
    await assert.rejects(
      writeBboltFile(path.join(dir, 'late.db'), [{ name: k('a'), entries: many }]),
      /out of order/,
    );
  });

  it('stops on abort and leaves no file', async () => {
    const dir = await tempDir(cleanup, 'bbolt-writer-abort');
    const file = path.join(dir, 'aborted.db');
    const controller = new AbortController();
    async function* endless() {
      for (let i = 0; ; i++) {
        if (i === 50_000) controller.abort(new Error('stop here'));
        const key = Buffer.alloc(8);
        key.writeUInt32BE(i, 4);
        yield await Promise.resolve([key, key] as const);
      }
    }
    await assert.rejects(
      writeBboltFile(file, [{ name: Buffer.from('a'), entries: endless() }], { signal: controller.signal }),
      /stop here/,
    );
    await assert.rejects(access(file), 'the half-written file is removed');
  });

  it('is judged sound by bbolt itself: check OK, same buckets, keys and values', async (t) => {
    const found = await findBbolt();
    if ('missing' in found) {
      console.error(`SKIPPED: ${found.missing}`);
      t.skip(found.missing);
      return;
    }
    const dir = await tempDir(cleanup, 'bbolt-writer-cli');
    const rand = seededRandom(SEED + 1);
    for (const pageSize of [4096, 16384]) {
      const buckets = randomBuckets(rand, pageSize, true);
      const file = path.join(dir, `cli-${pageSize}.db`);
      await writeBboltFile(file, asInput(buckets), { pageSize });
      assert.match(await bbolt(found.path, ['check', file]), /^OK$/m);
      const names: string[] = (await bbolt(found.path, ['buckets', file])).split('\n').filter(Boolean);
      assert.deepEqual(
        names,
        buckets.map((b) => b.name.toString()),
      );
      for (const bucket of buckets) {
        const name = bucket.name.toString();
        const keys: string[] = (await bbolt(found.path, ['keys', '--format', 'hex', file, name]))
          .split('\n')
          .filter(Boolean);
        assert.deepEqual(
          keys,
          bucket.entries.map(([key]) => key.toString('hex')),
          `bucket ${name}: keys`,
        );
        // Values of a sample: the first and last, and every one larger than a page.
        const sample = bucket.entries.filter(
          (e, i, all) => i === 0 || i === all.length - 1 || e[1].length > pageSize,
        );
        for (const [key, value] of sample) {
          const args = ['get', '--format', 'hex', '--parse-format', 'hex', file, name, key.toString('hex')];
          assert.equal(
            (await bbolt(found.path, args)).trim(),
            value.toString('hex'),
            `bucket ${name} key ${key.toString('hex')}`,
          );
        }
      }
    }
  });
});
