// The fold against etcd itself: a real cluster applies a random sequence (puts, overwrites,
// deletes, range deletes, multi-op transactions, leases, a compaction before the base) with the
// change log on; the buckets the fold builds from the base snapshot and the log equal, byte for
// byte, the `key` bucket of a live snapshot of the same cluster (up to each R), and its leases.
// Damaged inputs — a hole in the log, a log of another history — are refused with the revision
// named.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import type { EtcdLine } from '../../config/etcd-lines.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../../etcd/member-client.js';
import { Snapshot } from '../../snapshot/index.js';
import { parseRevisionKey } from '../../snapshot/etcd-records.js';
import { freePorts } from '../../runtime/local/ports.js';
import { killAndWait } from '../../testing/child-process.js';
import { Cleanup, binariesFor, etcdctl, testLines } from '../../testing/harness.js';
import { foldToSnapshotFile } from './fold-file.js';
import { FoldMismatchError, foldBuckets, type FoldResult } from './fold.js';
import { logRevisions } from './log-source.js';
import { listSegments, type LoggedRevision } from './segment.js';
import { loggedCluster } from '../../testing/pitr-scenario.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const connection: ConnectionOptions = { dialTimeoutMs: 5000, commandTimeoutMs: 60_000 };
const exec = promisify(execFile);

async function bucket(snapshot: Snapshot, name: string): Promise<[string, string][]> {
  const ref = await snapshot.findBucket(name);
  const out: [string, string][] = [];
  if (!ref) return out;
  for await (const e of snapshot.db.walk().entries(ref))
    out.push([e.key.toString('hex'), e.value.toString('hex')]);
  return out;
}

/** A list as an asynchronous source, as the log is read. */
async function* over(list: readonly LoggedRevision[]): AsyncGenerator<LoggedRevision> {
  for (const r of list) yield await Promise.resolve(r);
}

/** Runs the fold of `c`'s base and log up to `upTo` and collects its buckets. */
async function fold(
  c: Awaited<ReturnType<typeof loggedCluster>>,
  upTo: number | undefined,
  source?: AsyncIterable<LoggedRevision>,
): Promise<{ buckets: Map<string, [string, string][]>; result: FoldResult }> {
  const base = await Snapshot.open(c.baseFile);
  try {
    const leaseTtls = new Map<string, number>();
    const segments = await listSegments(c.storage);
    const folded = await foldBuckets({
      base,
      baseRevision: c.manifest.revision,
      source: source ?? logRevisions(c.storage, segments, leaseTtls, undefined, undefined),
      stop: upTo === undefined ? undefined : (r) => r.r > upTo,
      leaseTtls,
    });
    const buckets = new Map<string, [string, string][]>();
    for (const b of folded.buckets) {
      const entries: [string, string][] = [];
      for await (const [k, v] of b.entries)
        entries.push([Buffer.from(k).toString('hex'), Buffer.from(v).toString('hex')]);
      buckets.set(Buffer.from(b.name).toString('latin1'), entries);
    }
    return { buckets, result: await folded.result };
  } finally {
    await base.close();
  }
}

describe('fold: snapshot + change log → the buckets of a snapshot at R', { concurrency: true }, () => {
  for (const line of testLines()) {
    it(`etcd ${line}: equal to a live snapshot's key bucket byte for byte, at every R tried`, async () => {
      const c = await loggedCluster(cleanup, `fold-${line}`, line, 120);
      const liveFile = path.join(c.dir, 'live.db');
      await pipeline((await c.client.snapshot()).bytes, createWriteStream(liveFile));
      const live = await Snapshot.open(liveFile);
      const liveKey = await bucket(live, 'key');
      const liveLease = await bucket(live, 'lease');
      const liveMembers = await bucket(live, 'members');
      await live.close();
      const whole = await fold(c, undefined);
      assert.equal(whole.result.lastRevision, c.marks.at(-1));
      assert.ok(whole.result.revisions >= 100 && whole.result.baseEntries > 10, JSON.stringify(whole.result));
      assert.deepEqual(whole.buckets.get('key'), liveKey, 'the key bucket, whole log');
      assert.deepEqual(whole.buckets.get('members'), liveMembers);
      // Every live lease is there with the same record; revoked ones may stay (as the replay kept them).
      const folded = new Map(whole.buckets.get('lease'));
      for (const [k, v] of liveLease) assert.equal(folded.get(k), v, `lease ${k}`);
      const rs = [c.marks[3], c.marks[Math.floor(c.marks.length / 2)], c.marks.at(-2)] as number[];
      for (const R of rs) {
        const at = await fold(c, R);
        assert.equal(at.result.lastRevision, R);
        const expected = liveKey.filter(([k]) => (parseRevisionKey(Buffer.from(k, 'hex'))?.main ?? 0) <= R);
        assert.deepEqual(at.buckets.get('key'), expected, `the key bucket at revision ${R}`);
      }
    });
  }

  it('a hole in the log and a log of another history are refused, naming the revision', async () => {
    const line = testLines().includes('3.6') ? '3.6' : (testLines()[0] as EtcdLine);
    const c = await loggedCluster(cleanup, 'fold-damaged', line, 30);
    const all: LoggedRevision[] = [];
    for await (const r of logRevisions(
      c.storage,
      await listSegments(c.storage),
      new Map(),
      undefined,
      undefined,
    ))
      all.push(r);
    const missing = all[5] as LoggedRevision;
    const holed = all.filter((r) => r !== missing);
    await assert.rejects(
      fold(c, undefined, over(holed)),
      (e: unknown) =>
        e instanceof FoldMismatchError &&
        e.message.includes(`revision ${missing.r} is missing (the next one logged is ${missing.r + 1})`),
    );
    // Another history: its first revision creates a key that the base says was created long before.
    const first = all[0] as LoggedRevision;
    const base = await Snapshot.open(c.baseFile);
    let existing: Buffer | undefined;
    for await (const kv of base.keyValues()) existing ??= Buffer.from(kv.key);
    await base.close();
    assert.ok(existing, 'the base holds keys');
    const foreign = [
      { ...first, e: [{ k: existing.toString('base64'), v: '', c: first.r, n: 1 }] },
      ...all.slice(1),
    ];
    await assert.rejects(
      fold(c, undefined, over(foreign)),
      (e: unknown) =>
        e instanceof FoldMismatchError &&
        /revision \d+ of the change log does not continue the base snapshot/.test(e.message),
    );
  });

  for (const line of testLines()) {
    it(`etcd ${line}: the file folded for R is an ordinary snapshot; stock etcdutl restores it; HashKV and the view at R equal the original's`, async () => {
      const c = await loggedCluster(cleanup, `oracle-${line}`, line, 80);
      const rs = [c.marks[2], c.marks[Math.floor(c.marks.length / 2)], c.marks.at(-1)] as number[];
      const original = new Map<number, { hash: number; compactRevision: number; view: string }>();
      for (const R of rs) {
        const h = await c.client.hashKv(R);
        const view = await etcdctl(c.binaries, c.up.endpoints, [
          'get',
          '',
          '--prefix',
          '-w',
          'json',
          `--rev=${R}`,
        ]);
        original.set(R, { hash: h.hash, compactRevision: h.compactRevision, view: kvsOf(view) });
      }
      // The original's history goes; the fold needs only the base and the log.
      await c.client.compact(c.marks.at(-1) as number, true, 60_000);
      const segments = await listSegments(c.storage);
      for (const R of rs) {
        const file = path.join(c.dir, `at-${R}.db`);
        const folded = await foldToSnapshotFile({
          storage: c.storage,
          baseFile: c.baseFile,
          baseRevision: c.manifest.revision,
          segments,
          upTo: { revision: R },
          out: file,
        });
        assert.equal(folded.lastRevision, R);
        const status = JSON.parse(
          (await exec(c.binaries.etcdutl, ['snapshot', 'status', file, '-w', 'json'])).stdout,
        ) as { revision: number; totalKey: number };
        assert.equal(status.revision, R, 'etcdutl snapshot status reads the revision');
        const member = await restoreAndServe(c.binaries, c.dir, file, `r${R}`);
        const h = await member.client.hashKv(R);
        const want = original.get(R);
        assert.equal(h.hash, want?.hash, `HashKV at ${R}`);
        assert.equal(h.compactRevision, want?.compactRevision);
        const view = await etcdctl(
          c.binaries,
          [member.endpoint],
          ['get', '', '--prefix', '-w', 'json', `--rev=${R}`],
        );
        assert.equal(kvsOf(view), want?.view, `get "" --prefix --rev ${R}`);
        assert.equal(h.revision, R, "the restored cluster's revision");
        await member.stop();
      }
    });
  }
});

/** The kvs of `etcdctl get -w json` (the header differs between clusters). */
function kvsOf(json: string): string {
  return JSON.stringify((JSON.parse(json) as { kvs?: unknown[] }).kvs ?? []);
}

/** `etcdutl snapshot restore FILE` (stock, no --skip-hash-check), then etcd serving the data dir. */
async function restoreAndServe(
  binaries: Awaited<ReturnType<typeof binariesFor>>,
  dir: string,
  file: string,
  name: string,
) {
  const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const dataDir = path.join(dir, `restored-${name}`);
  await exec(binaries.etcdutl, [
    'snapshot',
    'restore',
    file,
    `--data-dir=${dataDir}`,
    '--name=m0',
    `--initial-cluster=m0=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
  ]);
  const child = spawn(
    binaries.etcd,
    [
      '--name=m0',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      '--unsafe-no-fsync',
      '--log-level=error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const stop = () => killAndWait(child, 2000);
  cleanup.add(stop);
  const client = new MemberClient(parseEndpoint(clientUrl), connection);
  cleanup.add(() => Promise.resolve(client.close()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the restored etcd exited (${child.exitCode}):\n${stderr}`);
    try {
      await client.healthRead();
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
  return { endpoint: clientUrl, client, stop };
}
