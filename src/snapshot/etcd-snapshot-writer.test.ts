// The etcd snapshot writer against etcd itself, on every supported line: a real cluster's
// snapshot (puts, overwrites, deletes, a lease, a value on overflow pages, a compaction) is read
// by our reader and every bucket rewritten with writeEtcdSnapshotFile; stock `etcdutl snapshot
// status` reports the same hash, revision and key count, `etcdutl snapshot restore` accepts the
// file without --skip-hash-check, and an etcd started on the restored data serves every key with
// the same revisions.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type EtcdLine } from '../config/etcd-lines.js';
import { freePorts } from '../runtime/local/ports.js';
import {
  Cleanup,
  binariesFor,
  etcdctl,
  scrubbedEnv,
  tempDir,
  testLines,
  upDetached,
  writeSpec,
} from '../testing/harness.js';
import { snapshotBuckets, writeEtcdSnapshotFile } from './etcd-snapshot-writer.js';
import { Snapshot } from './snapshot.js';
import { checkTrailer } from './trailer.js';

const exec = promisify(execFile);
const cleanup = new Cleanup();
after(() => cleanup.run());

/** `etcdctl get "" --prefix -w json` as comparable data (64-bit ids kept exact). */
function kvsOf(stdout: string): { revision: string; kvs: unknown[] } {
  const raw = JSON.parse(stdout.replace(/:\s*(\d{16,})/g, ':"$1"')) as {
    header: { revision: number | string };
    kvs?: unknown[];
  };
  return { revision: String(raw.header.revision), kvs: raw.kvs ?? [] };
}

/** `etcdutl snapshot status -w json` without the file's size, which a compact rewrite changes. */
async function status(etcdutl: string, file: string): Promise<Record<string, unknown>> {
  const { stdout } = await exec(etcdutl, ['snapshot', 'status', file, '-w', 'json'], { env: scrubbedEnv() });
  const parsed = JSON.parse(stdout) as Record<string, unknown>;
  delete parsed['totalSize'];
  return parsed;
}

async function waitHealthy(check: () => Promise<unknown>, what: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what} did not become healthy in 90 s`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}

async function rewriteOnLine(line: EtcdLine): Promise<void> {
  const dir = await tempDir(cleanup, `etcd-writer-${line}`);
  const binaries = await binariesFor(line);
  const spec = await writeSpec(dir, { members: 1, etcd: { version: line } }, 'cluster.yaml');
  const { endpoints } = await upDetached(cleanup, spec);
  const ctl = (args: string[]) => etcdctl(binaries, endpoints, args);

  for (let i = 0; i < 40; i++) await ctl(['put', `/app/key-${String(i).padStart(3, '0')}`, `value ${i}`]);
  for (let i = 0; i < 10; i++) await ctl(['put', `/app/key-00${i}`, `overwritten ${i}`]);
  await ctl(['del', '/app/key-039']);
  await ctl(['del', '--prefix', '/app/key-03']);
  const lease = /lease ([0-9a-f]+) granted/.exec(await ctl(['lease', 'grant', '3600']))?.[1];
  assert.ok(lease, 'a lease was granted');
  await ctl(['put', '--lease', lease, '/leased', 'with a lease']);
  await ctl(['put', '/big', 'x'.repeat(100_000)]); // a value across overflow pages
  const compactAt = kvsOf(await ctl(['get', '/big', '-w', 'json'])).revision;
  await ctl(['put', '/after-compaction', 'y']);
  await ctl(['compact', compactAt]);
  const original = path.join(dir, 'original.db');
  await ctl(['snapshot', 'save', original]);
  const expected = kvsOf(await ctl(['get', '', '--prefix', '-w', 'json']));

  const rewritten = path.join(dir, 'rewritten.db');
  const snapshot = await Snapshot.open(original);
  let written;
  try {
    written = await writeEtcdSnapshotFile(rewritten, snapshotBuckets(snapshot));
  } finally {
    await snapshot.close();
  }
  const bytes = await readFile(rewritten);
  assert.equal(bytes.length, written.bytes);
  assert.equal(createHash('sha256').update(bytes.subarray(0, -32)).digest('hex'), written.sha256);
  const reopened = await Snapshot.open(rewritten);
  try {
    assert.equal((await checkTrailer(reopened.file)).status, 'ok', 'our reader accepts the trailer');
  } finally {
    await reopened.close();
  }

  assert.deepEqual(await status(binaries.etcdutl, rewritten), await status(binaries.etcdutl, original));

  const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
  const peer = `http://127.0.0.1:${peerPort}`;
  const client = `http://127.0.0.1:${clientPort}`;
  const dataDir = path.join(dir, 'restored');
  const cluster = [
    `--name=restored`,
    `--initial-cluster=restored=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
  ];
  await exec(binaries.etcdutl, ['snapshot', 'restore', rewritten, `--data-dir=${dataDir}`, ...cluster], {
    env: scrubbedEnv(),
  });
  const etcd = spawn(
    binaries.etcd,
    [
      ...cluster,
      `--data-dir=${dataDir}`,
      `--listen-peer-urls=${peer}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      '--unsafe-no-fsync',
    ],
    { stdio: 'ignore', env: scrubbedEnv() },
  );
  const exited = new Promise((resolve) => etcd.once('exit', resolve));
  cleanup.add(async () => {
    etcd.kill('SIGKILL');
    await exited;
  });
  await waitHealthy(
    () => etcdctl(binaries, [client], ['endpoint', 'health']),
    `etcd ${line} on the restored data`,
  );
  const served = kvsOf(await etcdctl(binaries, [client], ['get', '', '--prefix', '-w', 'json']));
  assert.equal(served.kvs.length, 33, 'every live key is served');
  assert.deepEqual(served, expected, 'the restored etcd serves every key with the same revisions');
  await assert.rejects(
    etcdctl(binaries, [client], ['get', '/big', `--rev=${Number(compactAt) - 1}`]),
    /compacted/,
    'the compaction is kept',
  );
}

describe('etcd snapshot writer', () => {
  for (const line of testLines())
    it(`rewrites a real ${line} snapshot that etcdutl and etcd accept as it was`, () => rewriteOnLine(line));
});
