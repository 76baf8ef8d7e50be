// `backup compact` against a real cluster: a chain (backup + change log of random operations)
// folded into a new backup that verifies, holds the live cluster's keyspace, and starts a new
// chain (a later point-in-time restore uses it as its base); damaged logs are refused with the
// gap or the segment named.
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { truncate } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import type { EtcdLine } from '../../config/etcd-lines.js';
import { snapshotDigest } from '../pitr/digest.js';
import { listSegments } from '../pitr/segment.js';
import { Cleanup, etcdctl, runCli, testLines } from '../../testing/harness.js';
import { loggedCluster, loggedWrites } from '../../testing/pitr-scenario.js';
import { readCatalog } from './catalog.js';
import { fetchBackup } from './fetch.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const line: EtcdLine = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');

interface CompactJson {
  from: { backup: string; revision: number };
  backup: { name: string; revision: number; source: string; compactedFrom: { toRevision: number } } | null;
  fold: { revisions: number } | null;
}

describe('backup compact', { concurrency: true }, () => {
  it(`etcd ${line}: folds a chain into a verified backup equal to the live state, and a new chain starts from it`, async () => {
    const c = await loggedCluster(cleanup, 'compact', line, 60);
    const last = c.marks.at(-1) as number;
    const run = await runCli(['--config', c.spec, 'backup', 'compact', '-o', 'json'], { env: c.env });
    assert.equal(run.code, 0, run.stderr);
    const compacted = run.json<CompactJson>();
    assert.equal(compacted.from.backup, c.manifest.name);
    assert.equal(compacted.backup?.revision, last);
    assert.equal(compacted.backup?.source, 'compact');
    assert.equal(compacted.backup?.compactedFrom.toRevision, last);
    const name = compacted.backup?.name;
    const verified = await runCli(['--config', c.spec, 'backup', 'verify', name, '-o', 'json'], {
      env: c.env,
    });
    assert.equal(verified.code, 0, verified.stderr);
    // The same keyspace (keys, values, mod revisions) as a live snapshot of the same state.
    const liveFile = path.join(c.dir, 'live.db');
    await pipeline((await c.client.snapshot()).bytes, createWriteStream(liveFile));
    const manifest = (await readCatalog(c.storage)).backups.find((b) => b.name === name);
    assert.ok(manifest);
    const file = await fetchBackup(c.storage, manifest);
    assert.deepEqual(await snapshotDigest(file), await snapshotDigest(liveFile));
    // Nothing new: a second compact has nothing to fold.
    const again = await runCli(['--config', c.spec, 'backup', 'compact', '-o', 'json'], { env: c.env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.json<CompactJson>().backup, null);
    // The log goes on; a restore after the compaction point starts from the compacted backup.
    const more = await loggedWrites(c, 'c', 9, 20);
    const R = more.at(-1) as number;
    const expected = await etcdctl(c.binaries, c.up.endpoints, ['get', '', '--prefix', '-w', 'json']);
    const restored = await runCli(
      [
        '--config',
        c.spec,
        'restore',
        '--to-revision',
        String(R),
        '--new-cluster',
        'after',
        '--yes',
        '-o',
        'json',
      ],
      { env: c.env, timeoutMs: 300_000 },
    );
    assert.equal(restored.code, 0, restored.stderr);
    const result = restored.json<{
      endpoints: string[];
      pointInTime: { base: { backup: string }; revision: number; method: string };
    }>();
    assert.equal(result.pointInTime.base.backup, name);
    assert.equal(result.pointInTime.method, 'fold');
    const kvs = (json: string) => JSON.stringify((JSON.parse(json) as { kvs?: unknown[] }).kvs ?? []);
    assert.equal(
      kvs(await etcdctl(c.binaries, result.endpoints, ['get', '', '--prefix', '-w', 'json'])),
      kvs(expected),
    );
  });

  it(`etcd ${line}: a missing segment and a cut segment are refused, naming the gap and the segment`, async () => {
    const c = await loggedCluster(cleanup, 'compact-damaged', line, 60);
    const last = c.marks.at(-1) as number;
    const segments = await listSegments(c.storage);
    assert.ok(segments.length >= 3, `enough segments (${segments.length})`);
    const cut = segments.at(-1);
    const missing = segments[1];
    assert.ok(cut && missing);
    // A cut segment: its object is shorter than its manifest says.
    await truncate(path.join(c.dir, 'backups', cut.object), 10);
    const damaged = await runCli(['--config', c.spec, 'backup', 'compact'], { env: c.env });
    assert.equal(damaged.code, 1, damaged.stderr);
    assert.match(
      damaged.stderr,
      new RegExp(`change-log segment ${cut.object.replace(/[.]/g, '\\.')} is damaged`),
    );
    // A missing segment: the chain ends before it, and a restore past it names what can be restored.
    await c.storage.delete(missing.manifest);
    const restore = await runCli(['--config', c.spec, 'restore', '--to-revision', String(last), '--yes'], {
      env: c.env,
    });
    assert.equal(restore.code, 2, restore.stderr);
    assert.match(
      restore.stderr,
      new RegExp(
        `revision ${last} is outside what can be restored: the backups and change log cover revisions ${c.manifest.revision}\\.\\.${missing.firstRevision - 1} `,
      ),
    );
  });
});
