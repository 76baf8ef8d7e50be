// The snapshot reader against real etcd snapshots of every supported line: the live view equals
// `etcdctl get` at the snapshot's revision (puts, overwrites, deletes, leases, a compaction), the
// summary matches what etcd reports, a >100 MiB snapshot (overflow pages, a deep tree) reads
// right, and damaged copies of a real snapshot give named errors or a 'bad' verdict, never a hang.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type EtcdLine } from '../config/etcd-lines.js';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient } from '../etcd/member-client.js';
import { type EtcdBinaries } from '../runtime/etcd-binaries.js';
import {
  Cleanup,
  binariesFor,
  etcdctl,
  runCli,
  tempDir,
  testLines,
  upDetached,
  writeSpec,
} from '../testing/harness.js';
import {
  Snapshot,
  SnapshotCorruptError,
  SnapshotRevisionError,
  openSnapshot,
  summarizeSnapshot,
  verifySnapshot,
  type KeyValue,
} from './index.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

const MAIN_LINE: EtcdLine = '3.6';
const LINES = testLines();

// ---------------------------------------------------------------------------------------------
// A one-member cluster and what etcdctl says about it.

interface Cluster {
  dir: string;
  spec: string;
  binaries: EtcdBinaries;
  endpoints: string[];
  ctl: (args: string[]) => Promise<string>;
  client: MemberClient;
}

async function startCluster(line: EtcdLine, label: string): Promise<Cluster> {
  const dir = await tempDir(cleanup, `${label}-${line}`);
  const spec = await writeSpec(dir, { members: 1, etcd: { version: line } }, 'cluster.yaml');
  const binaries = await binariesFor(line);
  const up = await upDetached(cleanup, spec);
  const endpoints = up.endpoints;
  const client = new MemberClient(parseEndpoint(endpoints[0] as string), {
    dialTimeoutMs: 5000,
    commandTimeoutMs: 30_000,
  });
  cleanup.add(() => Promise.resolve(client.close()));
  return { dir, spec, binaries, endpoints, client, ctl: (args) => etcdctl(binaries, endpoints, args) };
}

/** The fields of `etcdctl get -w json` we compare, with 64-bit numbers kept exact. */
interface EtcdGet {
  revision: number;
  memberId: string;
  kvs: {
    key: string;
    value: string;
    createRevision: number;
    modRevision: number;
    version: number;
    lease: string;
  }[];
}

function parseGet(stdout: string): EtcdGet {
  // Lease ids and member ids exceed 2^53: quote every long number before JSON.parse rounds it.
  const raw = JSON.parse(stdout.replace(/:\s*(\d{16,})/g, ':"$1"')) as {
    header: { revision: number; member_id: string };
    kvs?: {
      key: string;
      value?: string;
      create_revision: number;
      mod_revision: number;
      version: number;
      lease?: string | number;
    }[];
  };
  return {
    revision: Number(raw.header.revision),
    memberId: BigInt(raw.header.member_id).toString(16),
    kvs: (raw.kvs ?? []).map((kv) => ({
      key: kv.key,
      value: kv.value ?? '',
      createRevision: kv.create_revision,
      modRevision: kv.mod_revision,
      version: kv.version,
      lease: String(kv.lease ?? '0'),
    })),
  };
}

async function etcdGet(cluster: Cluster, args: string[] = []): Promise<EtcdGet> {
  return parseGet(await cluster.ctl(['get', '', '--prefix', '-w', 'json', ...args]));
}

function asEtcdJson(kvs: KeyValue[]): EtcdGet['kvs'] {
  return kvs.map((kv) => ({
    key: kv.key.toString('base64'),
    value: kv.value.toString('base64'),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  }));
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function withSnapshot<T>(file: string, use: (s: Snapshot) => Promise<T> | T): Promise<T> {
  const snapshot = await openSnapshot(file);
  try {
    return await use(snapshot);
  } finally {
    await snapshot.close();
  }
}

/** Fails when `work` takes longer than `ms`: damage must never make the reader hang. */
async function withinMs<T>(ms: number, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// The workload: every kind of change, two snapshots (before and after a compaction).

interface Workload {
  cluster: Cluster;
  /** Uncompacted snapshot, with what etcdctl listed at its revision and at an earlier one. */
  first: { file: string; get: EtcdGet; app: EtcdGet; earlier: EtcdGet; leaseId: string };
  /** Snapshot after `compact --physical`, with etcdctl's listing at its revision and at the compaction. */
  compacted: { file: string; get: EtcdGet; compactRevision: number; atCompaction: EtcdGet };
  /** The cluster is not written to after the workload: this stays its state. */
  final: EtcdGet;
}

const BULK = 1500;

async function runWorkload(line: EtcdLine): Promise<Workload> {
  const cluster = await startCluster(line, 'snap');
  const { ctl, client } = cluster;
  await ctl(['put', 'app/a', 'v1']);
  await ctl(['put', 'app/b', 'v2']);
  await ctl(['put', 'app/c', 'v3']);
  await ctl(['put', 'other/x', 'x1']);
  await ctl(['put', 'other/y', 'y1']);
  await ctl(['put', 'ünï/ключ', 'значение']); // multi-byte keys sort by their bytes
  await ctl(['put', 'empty', '']);
  await ctl(['put', 'app/a', 'v1b']); // overwrites: version counts up
  await ctl(['put', 'app/a', 'v1c']);
  await ctl(['del', 'app/b']);
  await ctl(['put', 'app/b', 'v2b']); // re-created: new create revision, version 1
  await ctl(['del', '--prefix', 'other/']); // one revision, two tombstones
  const grant = await ctl(['lease', 'grant', '600']);
  const leaseHex = /lease ([0-9a-f]+) granted/.exec(grant)?.[1];
  assert.ok(leaseHex, grant);
  await ctl(['put', `--lease=${leaseHex}`, 'leased/1', 'l1']);
  await ctl(['put', `--lease=${leaseHex}`, 'leased/2', 'l2']);
  const earlier = await etcdGet(cluster);
  // Enough keys that the key bucket needs branch pages; some overwritten, a hundred deleted.
  for (let i = 0; i < BULK; i += 50)
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        client.put(`bulk/${String(i + j).padStart(4, '0')}`, `value-${i + j}-`.padEnd(100, '.')),
      ),
    );
  for (let i = 0; i < 200; i += 50)
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        client.put(`bulk/${String(i + j).padStart(4, '0')}`, `second-${i + j}`),
      ),
    );
  await ctl(['del', '--prefix', 'bulk/00']);

  const firstFile = path.join(cluster.dir, 'first.db');
  await ctl(['snapshot', 'save', firstFile]);
  const first = {
    file: firstFile,
    get: await etcdGet(cluster),
    app: parseGet(await ctl(['get', 'app/', '--prefix', '-w', 'json'])),
    earlier,
    leaseId: BigInt(`0x${leaseHex}`).toString(),
  };

  await ctl(['put', 'app/a', 'v1d']);
  await ctl(['put', 'app/z', 'z1']);
  await ctl(['del', 'app/c']);
  const compactRevision = (await etcdGet(cluster)).revision;
  await ctl(['compact', '--physical', String(compactRevision)]);
  await ctl(['put', 'app/y', 'y1']);
  await ctl(['put', 'app/a', 'v1e']);
  const compactedFile = path.join(cluster.dir, 'compacted.db');
  await ctl(['snapshot', 'save', compactedFile]);
  const compacted = {
    file: compactedFile,
    get: await etcdGet(cluster),
    compactRevision,
    atCompaction: await etcdGet(cluster, [`--rev=${compactRevision}`]),
  };
  return { cluster, first, compacted, final: await etcdGet(cluster) };
}

const workloads = new Map<EtcdLine, Promise<Workload>>();
function workload(line: EtcdLine): Promise<Workload> {
  let w = workloads.get(line);
  if (!w) {
    w = runWorkload(line);
    w.catch(() => undefined);
    workloads.set(line, w);
  }
  return w;
}

describe('snapshot reader', { concurrency: true }, () => {
  for (const line of LINES) {
    it(`etcd ${line}: the live view, summary and verify match etcd`, async () => {
      const { cluster, first, compacted } = await workload(line);

      // Uncompacted: every key, value, revision, version and lease as etcdctl lists them.
      await withSnapshot(first.file, async (s) => {
        assert.equal(s.hasTrailer, true);
        assert.equal((await s.trailer()).status, 'ok');
        const kvs = await collect(s.keyValues());
        assert.equal(kvs.length, first.get.kvs.length);
        assert.deepEqual(asEtcdJson(kvs), first.get.kvs);
        const leased = kvs.filter((kv) => kv.key.toString().startsWith('leased/'));
        assert.deepEqual(
          leased.map((kv) => kv.lease),
          [first.leaseId, first.leaseId],
        );
        assert.deepEqual(
          (await s.leases()).map((l) => [l.id, l.ttl]),
          [[first.leaseId, 600]],
        );

        // A prefix, and one that matches nothing.
        const app = await collect(s.keyValues({ prefix: 'app/' }));
        assert.deepEqual(
          app.map((kv) => [kv.key.toString(), kv.value.toString(), kv.version]),
          [
            ['app/a', 'v1c', 3],
            ['app/b', 'v2b', 1],
            ['app/c', 'v3', 1],
          ],
        );
        assert.deepEqual(asEtcdJson(app), first.app.kvs);
        assert.equal((await collect(s.keyValues({ prefix: Buffer.from('nothing/') }))).length, 0);

        // The view at an earlier revision (no compaction yet, so every revision is there).
        assert.deepEqual(
          asEtcdJson(await collect(s.keyValues({ revision: first.earlier.revision }))),
          first.earlier.kvs,
        );
        await assert.rejects(
          collect(s.keyValues({ revision: first.get.revision + 1 })),
          SnapshotRevisionError,
        );

        const summary = await summarizeSnapshot(s);
        assert.equal(summary.revision, first.get.revision);
        assert.equal(summary.liveKeys, first.get.kvs.length);
        assert.equal(
          summary.liveBytes,
          kvs.reduce((n, kv) => n + kv.key.length + kv.value.length, 0),
        );
        // Every put and every deleted key is one entry: 15 before bulk, bulk + 200 overwrites, 100 tombstones.
        assert.equal(summary.revisions, (await collect(s.revisions())).length);
        assert.equal(summary.revisions, 15 + BULK + 200 + 100);
        assert.equal(summary.compactRevision, 0);
        assert.equal(summary.leases, 1);
        assert.equal(summary.trailer, 'ok');
        assert.equal(summary.fileSize % 512, 32);
        assert.equal(summary.fileSize, summary.pageCount * summary.pageSize + 32);
        assert.ok(
          summary.buckets.includes('key') && summary.buckets.includes('meta'),
          summary.buckets.join(),
        );
        assert.deepEqual(
          summary.members.map((m) => m.id),
          [first.get.memberId],
        );
        assert.match(summary.members[0]?.peerUrls[0] ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
        assert.equal(summary.members[0]?.name, 'etcd-0');
        assert.ok(summary.clusterVersion?.startsWith(`${line}.`), summary.clusterVersion);
        assert.equal(summary.storageVersion?.startsWith(`${line}.`) ?? false, line !== '3.5');
        assert.ok((summary.consistentIndex ?? 0) > 0, String(summary.consistentIndex));
        assert.ok((summary.term ?? 0) >= 1, String(summary.term));
        assert.ok(summary.reachablePages > 3 && summary.reachablePages <= summary.pageCount);

        // etcd's own offline tool agrees on the revision.
        const status = JSON.parse(await etcdutlStatus(cluster.binaries, first.file)) as { revision: number };
        assert.equal(status.revision, summary.revision);
      });
      const report = await verifySnapshot(first.file);
      assert.deepEqual(report.problems, []);
      assert.equal(report.ok, true);
      assert.equal(report.summary?.liveKeys, first.get.kvs.length);

      // Compacted: older revisions are gone, the compaction revision's view is intact.
      await withSnapshot(compacted.file, async (s) => {
        const summary = await summarizeSnapshot(s);
        assert.equal(summary.compactRevision, compacted.compactRevision);
        assert.equal(summary.scheduledCompactRevision, undefined);
        assert.equal(summary.revision, compacted.get.revision);
        assert.equal(summary.liveKeys, compacted.get.kvs.length);
        assert.deepEqual(asEtcdJson(await collect(s.keyValues())), compacted.get.kvs);
        assert.deepEqual(
          asEtcdJson(await collect(s.keyValues({ revision: compacted.compactRevision }))),
          compacted.atCompaction.kvs,
        );
        await assert.rejects(
          collect(s.keyValues({ revision: compacted.compactRevision - 1 })),
          (e: unknown) => e instanceof SnapshotRevisionError && /compacted at revision/.test(e.message),
        );
        // At or below the compaction, one entry per key: a put for each key alive there, and
        // no tombstones but those of the compaction revision itself (app/c's, which etcd keeps).
        const kept = await collect(s.revisions({ upTo: compacted.compactRevision }));
        assert.deepEqual(
          kept.filter((r) => r.revision.tombstone).map((r) => [r.kv.key.toString(), r.revision.main]),
          [['app/c', compacted.compactRevision]],
        );
        assert.equal(new Set(kept.map((r) => r.kv.key.toString('hex'))).size, kept.length);
        assert.equal(kept.length - 1, compacted.atCompaction.kvs.length);
        assert.ok(summary.revisions < 15 + BULK + 200 + 100, String(summary.revisions));
        const after = await collect(s.revisions({ after: compacted.compactRevision }));
        assert.deepEqual(
          after.map((r) => [r.kv.key.toString(), r.kv.value.toString(), r.revision.main]),
          [
            ['app/y', 'y1', compacted.compactRevision + 1],
            ['app/a', 'v1e', compacted.compactRevision + 2],
          ],
        );
      });
      assert.equal((await verifySnapshot(compacted.file)).ok, true);
    });
  }

  it(
    `etcd ${MAIN_LINE}: a member's own db file (no trailer, grown file, two metas) reads too`,
    { skip: !LINES.includes(MAIN_LINE) },
    async () => {
      const { cluster, compacted, final: expected } = await workload(MAIN_LINE);
      const down = await runCli(['--config', cluster.spec, 'down']);
      assert.equal(down.code, 0, down.stderr);
      const db = path.join(cluster.dir, 'data', 'etcd-0', 'data', 'member', 'snap', 'db');
      const report = await verifySnapshot(db);
      assert.deepEqual(report.problems, []);
      assert.equal(report.summary?.trailer, 'absent');
      assert.equal(report.summary?.revision, expected.revision);
      assert.equal(report.summary?.compactRevision, compacted.compactRevision);
      assert.ok((report.summary?.fileSize ?? 0) >= (report.summary?.pageCount ?? 0) * 4096);
      await withSnapshot(db, async (s) =>
        assert.deepEqual(asEtcdJson(await collect(s.keyValues())), expected.kvs),
      );
    },
  );

  it(
    `etcd ${MAIN_LINE}: a snapshot over 100 MiB (overflow pages, a deep tree) reads right`,
    { skip: !LINES.includes(MAIN_LINE) },
    async () => {
      const cluster = await startCluster(MAIN_LINE, 'large');
      const COUNT = 1700;
      const SIZE = 64 * 1024;
      const value = (i: number, generation: number) => {
        const v = Buffer.alloc(SIZE, (i * 7 + generation * 13) % 251);
        v.writeUInt32BE(i, 0);
        v.writeUInt32BE(generation, 4);
        v.writeUInt32BE(i, SIZE - 4);
        return v;
      };
      const key = (i: number) => `large/${String(i).padStart(5, '0')}`;
      for (let i = 0; i < COUNT; i += 25)
        await Promise.all(
          Array.from({ length: 25 }, (_, j) => cluster.client.put(key(i + j), value(i + j, 1))),
        );
      for (let i = 0; i < 100; i += 25)
        await Promise.all(
          Array.from({ length: 25 }, (_, j) => cluster.client.put(key(i + j), value(i + j, 2))),
        );
      await cluster.ctl(['del', '--prefix', 'large/016']); // large/01600 .. large/01699
      const file = path.join(cluster.dir, 'large.db');
      await cluster.ctl(['snapshot', 'save', file]);
      const expected = parseGet(await cluster.ctl(['get', '', '--prefix', '--keys-only', '-w', 'json']));
      assert.ok((await stat(file)).size > 100 * 1024 * 1024, 'the snapshot is over 100 MiB');

      await withSnapshot(file, async (s) => {
        const summary = await summarizeSnapshot(s);
        assert.equal(summary.trailer, 'ok');
        assert.equal(summary.revision, expected.revision);
        assert.equal(summary.liveKeys, 1600);
        assert.equal(summary.revisions, COUNT + 100 + 100);
        assert.equal(summary.liveBytes, 1600 * (SIZE + key(0).length));

        let i = 0;
        for await (const kv of s.keyValues({ prefix: 'large/' })) {
          assert.equal(kv.key.toString(), key(i));
          assert.ok(kv.value.equals(value(i, i < 100 ? 2 : 1)), `value of ${key(i)}`);
          assert.equal(kv.version, i < 100 ? 2 : 1);
          assert.equal(kv.modRevision, expected.kvs[i]?.modRevision);
          i++;
        }
        assert.equal(i, 1600);

        const walk = s.db.walk();
        const bucket = await s.findBucket('key');
        assert.ok(bucket);
        let entries = 0;
        for await (const _ of walk.entries(bucket)) entries++;
        assert.equal(entries, COUNT + 200);
        assert.ok(walk.stats.overflowPages > COUNT * 10, `overflow pages: ${walk.stats.overflowPages}`);
        assert.ok(walk.stats.depth >= 3, `depth ${walk.stats.depth}`);
        assert.ok(walk.stats.branchPages > 5, `branch pages: ${walk.stats.branchPages}`);
      });
      const report = await verifySnapshot(file);
      assert.deepEqual(report.problems, []);
    },
  );

  it(
    `etcd ${MAIN_LINE}: damaged snapshots give named errors or a 'bad' verdict, never a hang`,
    { skip: !LINES.includes(MAIN_LINE) },
    async () => {
      const { first } = await workload(MAIN_LINE);
      const original = await readFile(first.file);
      const dir = await tempDir(cleanup, 'damaged');
      const pageSize = original.readUInt32LE(16 + 8);
      const size = original.length;

      // Find a branch page and a leaf page of the key bucket in the raw bytes (via the reader only for the bucket's root).
      const root = await withSnapshot(first.file, async (s) => (await s.findBucket('key'))?.root ?? 0);
      const flagsOf = (id: number) => original.readUInt16LE(id * pageSize + 8);
      assert.equal(flagsOf(root), 0x01, 'the key bucket of the workload has a branch root');
      let leaf = root;
      while (flagsOf(leaf) === 0x01) leaf = Number(original.readBigUInt64LE(leaf * pageSize + 16 + 8));
      assert.equal(flagsOf(leaf), 0x02);

      const damaged = async (name: string, change: (b: Buffer) => Buffer): Promise<string> => {
        const file = path.join(dir, name);
        await writeFile(file, change(Buffer.from(original)));
        return file;
      };
      const patch = (offset: number, bytes: number[]) => (b: Buffer) => {
        bytes.forEach((v, i) => (b[offset + i] = v));
        return b;
      };
      const u64 = (offset: number, value: bigint) => (b: Buffer) => {
        b.writeBigUInt64LE(value, offset);
        return b;
      };

      /** Opening, summarising and listing all fail with a named error; verify lists it. */
      const expectCorrupt = async (file: string, pattern: RegExp) => {
        const name = path.basename(file);
        await withinMs(10_000, async () => {
          const isNamed = (e: unknown) => {
            assert.ok(e instanceof SnapshotCorruptError, `${name}: a SnapshotCorruptError, got ${String(e)}`);
            assert.match(e.message, pattern, name);
            return true;
          };
          await assert.rejects(
            openSnapshot(file).then(async (s) => {
              try {
                await summarizeSnapshot(s);
              } finally {
                await s.close();
              }
            }),
            isNamed,
            `${name}: summary`,
          );
          await assert.rejects(
            openSnapshot(file).then(async (s) => {
              try {
                await collect(s.keyValues());
              } finally {
                await s.close();
              }
            }),
            isNamed,
            `${name}: keyValues`,
          );
          const report = await verifySnapshot(file);
          assert.equal(report.ok, false, name);
          assert.ok(
            report.problems.some((p) => pattern.test(p)),
            `${name}: verify names the problem: ${report.problems.join(' | ')}`,
          );
        });
      };

      // Not bbolt at all.
      await expectCorrupt(await damaged('empty', () => Buffer.alloc(0)), /^file: empty file/);
      await expectCorrupt(await damaged('random', () => randomBytes(64 * 1024)), /not a bbolt database/);
      const png = Buffer.concat([
        Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
        Buffer.alloc(16 * 1024),
      ]);
      await expectCorrupt(await damaged('png', () => png), /not a bbolt database: meta page 0: bad magic/);

      // Truncated: inside meta 0, inside meta 1, in the middle, the last page gone.
      for (const at of [100, pageSize + 100, Math.floor(size / 2 / 512) * 512, size - 32 - pageSize])
        await expectCorrupt(
          await damaged(`cut-${at}`, (b) => b.subarray(0, at)),
          /truncated|both meta pages are invalid/,
        );

      // Cut inside the trailer: the database is whole, the stray bytes are reported.
      const cutTrailer = await damaged('cut-trailer', (b) => b.subarray(0, size - 10));
      const cutReport = await withinMs(10_000, () => verifySnapshot(cutTrailer));
      assert.equal(cutReport.ok, false);
      assert.equal(cutReport.summary?.trailer, 'absent');
      assert.match(cutReport.problems.join('|'), /22 bytes after the last whole page/);

      // Meta pages: one damaged (the other serves, verify reports it), both damaged.
      const meta0 = await damaged('meta0', patch(16 + 48, [0x7f]));
      const meta0Report = await withinMs(10_000, () => verifySnapshot(meta0));
      assert.equal(meta0Report.ok, false);
      assert.match(meta0Report.problems.join('|'), /meta page 0: checksum mismatch/);
      assert.equal(meta0Report.summary?.liveKeys, first.get.kvs.length);
      await expectCorrupt(
        await damaged('metas', (b) => patch(pageSize + 16 + 48, [0x7f])(patch(16 + 48, [0x7f])(b))),
        /both meta pages are invalid: page 0: checksum mismatch .*; page 1: checksum mismatch/,
      );
      const magic0 = await damaged('magic0', patch(16, [0, 0, 0, 0]));
      const magic0Report = await withinMs(10_000, () => verifySnapshot(magic0));
      assert.equal(magic0Report.problems.length, 2, magic0Report.problems.join(' | '));
      assert.equal(
        magic0Report.problems[0],
        'meta: meta page 0: bad magic 0x00000000 (a bbolt file has 0xed0cdaed): not a bbolt database (meta page 1 is used)',
      );
      assert.match(magic0Report.problems[1] ?? '', /^trailer: /);
      await withSnapshot(magic0, (s) => assert.equal(s.meta.page, 1));

      // A branch page: a child beyond the high-water mark, a child that is the page itself, a broken count.
      const branchChild = root * pageSize + 16 + 8;
      await expectCorrupt(
        await damaged('branch-range', u64(branchChild, 0xffffffffn)),
        new RegExp(`^page ${root}: branch element 0 points to page 4294967295, outside`),
      );
      await expectCorrupt(
        await damaged('branch-cycle', u64(branchChild, BigInt(root))),
        new RegExp(`^page ${root}: branch element 0 points to page ${root}, which was already reached`),
      );
      await expectCorrupt(
        await damaged('branch-count', patch(root * pageSize + 10, [0xff, 0xff])),
        new RegExp(`^page ${root} \\(bucket key\\): 65535 elements do not fit`),
      );

      // A leaf page: a key position out of the page, the wrong type, the wrong id.
      await expectCorrupt(
        await damaged('leaf-pos', patch(leaf * pageSize + 16 + 4, [0xff, 0xff, 0, 0])),
        new RegExp(
          `^page ${leaf} \\(bucket key\\): leaf element 0: key and value at \\d+\\.\\.\\d+ lie outside`,
        ),
      );
      await expectCorrupt(
        await damaged('leaf-type', patch(leaf * pageSize + 8, [0x10, 0])),
        new RegExp(`^page ${leaf}: is a freelist page inside bucket key`),
      );
      await expectCorrupt(
        await damaged('leaf-id', u64(leaf * pageSize, BigInt(leaf + 1))),
        new RegExp(`^page ${leaf}: its header says it is page ${leaf + 1}`),
      );

      // A changed value leaves the structure sound: only the trailer can tell.
      const marker = original.indexOf('value-777-');
      assert.ok(marker > 0);
      const valueFlip = await damaged('value-flip', patch(marker + 6, ['8'.charCodeAt(0)]));
      const flipReport = await withinMs(10_000, () => verifySnapshot(valueFlip));
      assert.equal(flipReport.summary?.trailer, 'bad');
      assert.equal(flipReport.ok, false);
      assert.match(
        flipReport.problems.join('|'),
        /^trailer: SHA-256 of the content is [0-9a-f]{64} but the trailer says/,
      );

      // The trailer: removed (a bare bbolt file, still readable) and wrong.
      const bare = await damaged('no-trailer', (b) => b.subarray(0, size - 32));
      const bareReport = await withinMs(10_000, () => verifySnapshot(bare));
      assert.deepEqual(bareReport.problems, []);
      assert.equal(bareReport.summary?.trailer, 'absent');
      assert.equal(bareReport.summary?.revision, first.get.revision);
      await withSnapshot(bare, async (s) => {
        assert.equal(s.hasTrailer, false);
        assert.deepEqual(asEtcdJson(await collect(s.keyValues())), first.get.kvs);
      });
      const wrong = await damaged('wrong-trailer', (b) => patch(size - 1, [b[size - 1] === 0 ? 1 : 0])(b));
      await withSnapshot(wrong, async (s) => assert.equal((await summarizeSnapshot(s)).trailer, 'bad'));
      const wrongReport = await verifySnapshot(wrong);
      assert.equal(wrongReport.ok, false);
      assert.equal(wrongReport.summary?.liveKeys, first.get.kvs.length);

      // A file that does not exist is not corruption: Node's own error.
      await assert.rejects(openSnapshot(path.join(dir, 'missing.db')), { code: 'ENOENT' });
    },
  );
});

async function etcdutlStatus(binaries: EtcdBinaries, file: string): Promise<string> {
  const { stdout } = await promisify(execFile)(binaries.etcdutl, ['snapshot', 'status', file, '-w', 'json']);
  return stdout;
}
