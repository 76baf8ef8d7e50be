/**
 * A point-in-time scenario for tests: a real one-member cluster with history, a compaction, a
 * base backup, and a random sequence of operations (puts, overwrites, deletes, range deletes,
 * multi-op transactions, leases) recorded by a running change log.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EtcdLine } from '../config/etcd-lines.js';
import { readCatalog } from '../engine/backup/catalog.js';
import { fetchBackup } from '../engine/backup/fetch.js';
import { startChangeLog } from '../engine/pitr/changelog.js';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../etcd/member-client.js';
import { openStorage } from '../storage/open.js';
import type { BackupStorage } from '../storage/storage.js';
import {
  binariesFor,
  killRecordedMembers,
  runCli,
  tempDir,
  upDetached,
  writeSpec,
  type Cleanup,
} from './harness.js';
import { seededRandom } from './seeded-random.js';

const connection: ConnectionOptions = { dialTimeoutMs: 5000, commandTimeoutMs: 60_000 };

/**
 * A random sequence of `steps` operations on keys `/{tag}/k00…k24`: puts, overwrites, deletes,
 * range deletes, transactions of several ops, puts under a lease, a lease revoked. Returns the
 * revision after each step that changed something.
 */
export async function randomWrites(client: MemberClient, tag: string, seed: number, steps: number) {
  const rnd = seededRandom(seed);
  const key = () => `/${tag}/k${String(Math.floor(rnd() * 25)).padStart(2, '0')}`;
  const marks: number[] = [];
  const leases: string[] = [];
  for (let i = 0; i < steps; i += 1) {
    const p = rnd();
    if (p < 0.4)
      marks.push((await client.put(key(), `v${i}-${'x'.repeat(Math.floor(rnd() * 40))}`)).revision);
    else if (p < 0.55) {
      const r = await client.delete(key());
      if (r.deleted > 0) marks.push(r.revision);
    } else if (p < 0.62) {
      const r = await client.delete(`/${tag}/k${Math.floor(rnd() * 3)}`, { prefix: true });
      if (r.deleted > 0) marks.push(r.revision);
    } else if (p < 0.82) {
      const keys = [...new Set([key(), key(), key(), key()])];
      const r = await client.txn(
        [],
        keys.map((k, j) =>
          j % 3 === 2
            ? { type: 'delete' as const, key: Buffer.from(k) }
            : { type: 'put' as const, key: Buffer.from(k), value: Buffer.from(`t${i}.${j}`), lease: '0' },
        ),
      );
      marks.push(r.revision);
    } else if (p < 0.95 || leases.length === 0) {
      if (leases.length === 0 || rnd() < 0.3) leases.push(await client.grantLease(600 + i));
      const lease = leases[Math.floor(rnd() * leases.length)] as string;
      const r = await client.txn(
        [],
        [{ type: 'put', key: Buffer.from(`/${tag}/lease/${i % 7}`), value: Buffer.from(`l${i}`), lease }],
      );
      marks.push(r.revision);
    } else {
      const lease = leases.shift() as string;
      await client.revokeLease(lease);
      marks.push((await client.countKeys()).revision);
    }
  }
  return [...new Set(marks)];
}

/** A one-member cluster of `line` with history, a compaction, a base backup, and a logged sequence. */
export async function loggedCluster(cleanupOf: Cleanup, label: string, line: EtcdLine, steps: number) {
  const binaries = await binariesFor(line);
  const dir = await tempDir(cleanupOf, label);
  cleanupOf.add(() => killRecordedMembers(dir));
  const spec = await writeSpec(dir, {
    members: 1,
    etcd: { version: line },
    backup: { storage: './backups' },
  });
  const up = await upDetached(cleanupOf, spec);
  const env = { ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool') };
  process.env['ETCD_STEWARD_SPOOL_DIR'] = env.ETCD_STEWARD_SPOOL_DIR;
  const client = new MemberClient(parseEndpoint(up.endpoints[0] as string), connection);
  cleanupOf.add(() => Promise.resolve(client.close()));
  const storage = await openStorage(path.join(dir, 'backups'));
  // History before the base, compacted, so the base holds a compaction and older revisions.
  const before = await randomWrites(client, 'a', 7, 30);
  await client.compact(before[Math.floor(before.length / 2)] as number, true, 60_000);
  await randomWrites(client, 'a', 8, 10);
  const created = await runCli(['--config', spec, 'backup', 'create', '--no-prune', '-o', 'json'], { env });
  assert.equal(created.code, 0, created.stderr);
  const baseName = created.json<{ backup: { name: string } }>().backup.name;
  const marks = await loggedWrites({ up, client, storage }, 'b', 42, steps);
  const manifest = (await readCatalog(storage)).backups.find((b) => b.name === baseName);
  assert.ok(manifest);
  const baseFile = await fetchBackup(storage, manifest);
  return { binaries, dir, spec, up, env, client, storage, manifest, baseFile, marks };
}

/**
 * Runs the change log while `steps` random operations (seed `seed`, keys under `/tag/`) are
 * applied, waits until all of them are stored, stops it; returns the revisions of the steps.
 */
export async function loggedWrites(
  c: { up: { endpoints: string[] }; client: MemberClient; storage: BackupStorage },
  tag: string,
  seed: number,
  steps: number,
): Promise<number[]> {
  const log = await startChangeLog({
    clusterName: 'etcd',
    endpoints: c.up.endpoints,
    connection,
    storage: c.storage,
    flushIntervalMs: 200,
    segmentMaxBytes: 4 * 1024,
    compression: 'gzip',
  });
  const marks = await randomWrites(c.client, tag, seed, steps);
  const last = marks.at(-1) as number;
  const deadline = Date.now() + 60_000;
  while (log.stats().lastFlushedRevision < last) {
    if (Date.now() > deadline) throw new Error(`change log stuck: ${JSON.stringify(log.stats())}`);
    await sleep(50);
  }
  await log.stop();
  return marks;
}
