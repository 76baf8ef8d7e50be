// Restore through the real CLI: backup → restore → the same keyspace, on every line; a 3.5
// snapshot restored on 3.6; a plain etcdctl file; from S3; --into, --replace; the refusals
// (a corrupt backup, a non-empty target, newer live data without --yes); and the restore drill.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { BackupManifest } from '../../engine/backup/manifest.js';
import type { EtcdLine } from '../../config/etcd-lines.js';
import {
  Cleanup,
  binariesFor,
  etcdctl,
  killRecordedMembers,
  runCli,
  tempDir,
  testLines,
  upDetached,
  writeSpec,
} from '../../testing/harness.js';
import { startS3Server } from '../../testing/s3-server.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const mainLine: EtcdLine = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');

interface RestoreJson {
  backup: string | null;
  target: string;
  name: string;
  dataDir: string;
  started: boolean;
  endpoints: string[];
  snapshot: { revision: number; keyCount: number; sha256: string; trailer: string };
  restored: { keyCount: number; sha256: string } | null;
  match: boolean | null;
  gap: { liveRevision: number; snapshotRevision: number; keysChangedSince: number } | null;
  movedAside: string | null;
}

/** A cluster with data and a backup of it; returns what a restore should bring back. */
async function clusterWithBackup(label: string, line: EtcdLine, extra: Record<string, unknown> = {}) {
  const binaries = await binariesFor(line);
  const dir = await tempDir(cleanup, label);
  cleanup.add(() => killRecordedMembers(dir));
  const spec = await writeSpec(dir, { etcd: { version: line }, backup: { storage: './backups' }, ...extra });
  const up = await upDetached(cleanup, spec);
  for (let i = 0; i < 25; i += 1)
    await etcdctl(binaries, up.endpoints, ['put', `__table_info/${i}`, `{"v":${i}}`]);
  await etcdctl(binaries, up.endpoints, ['del', '__table_info/3']);
  const env = { ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool') };
  const created = await runCli(['--config', spec, 'backup', 'create', '-o', 'json'], { env });
  assert.equal(created.code, 0, created.stderr);
  const backup = created.json<{ backup: BackupManifest }>().backup;
  const expected = await etcdctl(binaries, up.endpoints, ['get', '__table_info/', '--prefix']);
  return { binaries, dir, spec, up, env, backup, expected };
}

describe('restore', { concurrency: true }, () => {
  for (const line of testLines()) {
    it(`etcd ${line}: backup → restore → the same keyspace, refusing newer live data without --yes`, async () => {
      const { binaries, dir, spec, up, env, backup, expected } = await clusterWithBackup(
        `restore-${line}`,
        line,
      );
      await etcdctl(binaries, up.endpoints, ['put', 'written-after', 'x']);

      const refused = await runCli(['--config', spec, 'restore', 'latest'], { env });
      assert.equal(refused.code, 2);
      assert.match(
        refused.stderr,
        /is at revision \d+, the snapshot at \d+, and their keys differ: 1 keys were written or changed since/,
      );
      assert.match(refused.stderr, /hint: stop the writers .* --yes/);
      assert.equal(existsSync(path.join(dir, 'data-etcd-restored')), false, 'a refusal creates nothing');

      const restored = await runCli(['--config', spec, 'restore', 'latest', '--yes', '-o', 'json'], { env });
      assert.equal(restored.code, 0, restored.stderr);
      const result = restored.json<RestoreJson>();
      assert.equal(result.backup, backup.name);
      assert.equal(result.target, 'new-cluster');
      assert.equal(result.name, 'etcd-restored');
      assert.equal(result.match, true);
      assert.equal(result.snapshot.revision, backup.revision);
      assert.equal(result.restored?.keyCount, result.snapshot.keyCount);
      assert.equal(result.gap?.keysChangedSince, 1);
      assert.notDeepEqual(result.endpoints, up.endpoints, 'a new cluster on its own ports');
      // The restored cluster really serves the data, and not what came after the snapshot.
      assert.equal(await etcdctl(binaries, result.endpoints, ['get', '__table_info/', '--prefix']), expected);
      assert.equal(await etcdctl(binaries, result.endpoints, ['get', 'written-after']), '');
      const status = await runCli(['status', '--endpoints', result.endpoints.join(','), '-o', 'json']);
      assert.equal(status.code, 0, 'the restored cluster is healthy');
      assert.equal(status.json<{ members: unknown[] }>().members.length, 3);
      // The old cluster still runs, untouched.
      assert.equal(
        await etcdctl(binaries, up.endpoints, ['get', 'written-after', '--print-value-only']),
        'x\n',
      );
    });
  }

  it('a 3.5 snapshot restores on 3.6 (the upgrade path), from a plain etcdctl file', async (t) => {
    if (!testLines().includes('3.5') || !testLines().includes('3.6'))
      return t.skip('needs the 3.5 and 3.6 lines');
    const old = await binariesFor('3.5');
    const dir = await tempDir(cleanup, 'upgrade');
    cleanup.add(() => killRecordedMembers(dir));
    const source = await writeSpec(
      dir,
      { members: 1, dataDir: './old', etcd: { version: '3.5' } },
      'old.yaml',
    );
    const up = await upDetached(cleanup, source);
    for (let i = 0; i < 10; i += 1) await etcdctl(old, up.endpoints, ['put', `k${i}`, `v${i}`]);
    // GreptimeDB's metasrv keys: the summary counts them and says what is left to do.
    await etcdctl(old, up.endpoints, ['put', '__catalog_name/greptime', '{}']);
    await etcdctl(old, up.endpoints, ['put', '__schema_name/greptime/public', '{}']);
    await etcdctl(old, up.endpoints, ['put', '__table_name/greptime/public/cpu', '{"table_id":1024}']);
    const file = path.join(dir, 'from-3.5.db');
    await etcdctl(old, up.endpoints, ['snapshot', 'save', file]);
    const target = await writeSpec(dir, { dataDir: './new', etcd: { version: '3.6' } }, 'new.yaml');
    const restored = await runCli(['--config', target, 'restore', file, '--new-cluster', 'upgraded']);
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(
      restored.stdout,
      /check\s+│ ok: all 3 members answer HashKV \d+ at revision \d+, as the snapshot \(13 keys\)/,
    );
    assert.match(
      restored.stdout,
      /GreptimeDB metadata in this snapshot: 1 catalog, 1 schema, 1 table, 0 flows\./,
    );
    assert.match(
      restored.stdout,
      /store_addrs = \["127\.0\.0\.1:\d+", "127\.0\.0\.1:\d+", "127\.0\.0\.1:\d+"\]/,
    );
    assert.match(restored.stdout, /spec\.meta\.backendStorage\.etcd\.endpoints/);
    const endpoints = [...restored.stdout.matchAll(/http:\/\/127\.0\.0\.1:\d+/g)]
      .map((m) => m[0])
      .slice(0, 3);
    const status = await runCli(['status', '--endpoints', endpoints.join(','), '-o', 'json']);
    assert.ok(
      status.json<{ members: { version: string }[] }>().members.every((m) => m.version.startsWith('3.6.')),
    );
  });

  it("a file without etcd's trailer (cut by 32 bytes, a member's db) is refused unless --skip-hash-check: restore and import", async () => {
    const dir = await tempDir(cleanup, 'no-trailer');
    cleanup.add(() => killRecordedMembers(dir));
    const binaries = await binariesFor(mainLine);
    const spec = await writeSpec(dir, {
      members: 1,
      etcd: { version: mainLine },
      backup: { storage: './backups' },
    });
    const up = await upDetached(cleanup, spec);
    for (let i = 0; i < 5; i += 1) await etcdctl(binaries, up.endpoints, ['put', `k${i}`, `v${i}`]);
    const saved = path.join(dir, 'saved.db');
    await etcdctl(binaries, up.endpoints, ['snapshot', 'save', saved]);
    const bytes = await readFile(saved);
    const cut = path.join(dir, 'cut.db');
    await writeFile(cut, bytes.subarray(0, bytes.length - 32));
    const target = await writeSpec(
      dir,
      { members: 1, dataDir: './restored', etcd: { version: mainLine } },
      'target.yaml',
    );
    const into = path.join(dir, 'into');

    const refused = await runCli(['--config', target, 'restore', cut, '--into', into]);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(
      refused.stderr,
      /^error: \S*cut\.db has no SHA-256 trailer .*its integrity cannot be proved$/m,
    );
    assert.match(refused.stderr, /^hint: .*run again with --skip-hash-check/m);
    assert.equal(existsSync(into), false, 'nothing was built');

    const accepted = await runCli([
      '--config',
      target,
      'restore',
      cut,
      '--into',
      into,
      '--skip-hash-check',
      '-o',
      'json',
    ]);
    assert.equal(accepted.code, 0, accepted.stderr);
    const result = accepted.json<RestoreJson>();
    assert.equal(result.snapshot.trailer, 'absent');
    assert.equal(result.snapshot.keyCount, 5);

    // The member's bare db that restore built: import refuses it the same way, or takes it with the flag.
    const db = path.join(into, 'etcd-0', 'data', 'member', 'snap', 'db');
    const env = { ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool') };
    const notImported = await runCli(['--config', spec, 'backup', 'import', db], { env });
    assert.equal(notImported.code, 1, notImported.stdout + notImported.stderr);
    assert.match(notImported.stderr, /has no SHA-256 trailer/);
    assert.match(notImported.stderr, /--skip-hash-check/);
    const imported = await runCli(
      ['--config', spec, 'backup', 'import', db, '--skip-hash-check', '-o', 'json'],
      { env },
    );
    assert.equal(imported.code, 0, imported.stderr);
    const backup = imported.json<{ backup: BackupManifest }>().backup;
    assert.equal(backup.etcdSha256, null);
    assert.equal(backup.keyCount, 5);
  });

  it('restores from S3, and --into builds data dirs without starting anything', async () => {
    const dir = await tempDir(cleanup, 'restore-s3');
    cleanup.add(() => killRecordedMembers(dir));
    const binaries = await binariesFor(mainLine);
    const spec = await writeSpec(dir, { members: 1, etcd: { version: mainLine } });
    const up = await upDetached(cleanup, spec);
    await etcdctl(binaries, up.endpoints, ['put', 'from', 's3']);
    const s3 = await startS3Server(cleanup);
    const url = `s3://${s3.bucket}/r?endpoint=${encodeURIComponent(s3.endpoint)}&region=us-east-1&forcePathStyle=true`;
    const env = {
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool'),
    };
    assert.equal((await runCli(['--config', spec, 'backup', 'create', '--to', url], { env })).code, 0);
    const restored = await runCli(
      ['--config', spec, 'restore', 'latest', '--storage', url, '--new-cluster', 'from-s3', '-o', 'json'],
      { env },
    );
    assert.equal(restored.code, 0, restored.stderr);
    const result = restored.json<RestoreJson>();
    assert.equal(result.match, true);
    assert.equal(await etcdctl(binaries, result.endpoints, ['get', 'from', '--print-value-only']), 's3\n');

    const into = path.join(dir, 'prepared');
    const prepared = await runCli(
      ['--config', spec, 'restore', 'latest', '--storage', url, '--into', into, '-o', 'json'],
      { env },
    );
    assert.equal(prepared.code, 0, prepared.stderr);
    assert.equal(prepared.json<RestoreJson>().started, false);
    assert.ok(existsSync(path.join(into, 'etcd-0', 'data', 'member', 'snap', 'db')), 'member data built');
    // ...and `up` on that folder starts the restored cluster.
    const intoSpec = await writeSpec(
      dir,
      { members: 1, dataDir: into, etcd: { version: mainLine } },
      'into.yaml',
    );
    const started = await upDetached(cleanup, intoSpec);
    assert.equal(started.mode, 'restarted');
    assert.equal(await etcdctl(binaries, started.endpoints, ['get', 'from', '--print-value-only']), 's3\n');
  });

  it('--replace stops the cluster, moves its data aside and restores in place on the same endpoints', async () => {
    const { binaries, dir, spec, up, env, expected } = await clusterWithBackup('replace', mainLine, {
      members: 1,
    });
    await etcdctl(binaries, up.endpoints, ['put', 'oops', 'a mistake']);
    const replaced = await runCli(
      ['--config', spec, 'restore', 'latest', '--replace', '--yes', '-o', 'json'],
      { env },
    );
    assert.equal(replaced.code, 0, replaced.stderr);
    const result = replaced.json<RestoreJson>();
    assert.equal(result.match, true);
    assert.deepEqual(result.endpoints, up.endpoints, 'same endpoints: clients need no change');
    assert.ok(
      result.movedAside && existsSync(path.join(result.movedAside, 'etcd-0', 'data', 'member')),
      'old data kept aside',
    );
    assert.equal(await etcdctl(binaries, up.endpoints, ['get', 'oops']), '');
    assert.equal(await etcdctl(binaries, up.endpoints, ['get', '__table_info/', '--prefix']), expected);
    assert.ok((await readdir(dir)).some((f) => f.startsWith('data.replaced-')));
  });

  it('refuses a corrupt backup and a non-empty target, creating nothing; a drill records its result', async () => {
    const { dir, spec, env, backup } = await clusterWithBackup('refuse', mainLine, { members: 1 });
    // A non-empty target folder is never written into.
    const taken = path.join(dir, 'data-taken');
    await mkdir(taken);
    await writeFile(path.join(taken, 'precious'), 'keep me');
    const occupied = await runCli(
      ['--config', spec, 'restore', 'latest', '--new-cluster', 'taken', '--yes'],
      { env },
    );
    assert.equal(occupied.code, 2);
    assert.match(occupied.stderr, /data-taken already exists and is not empty/);
    assert.deepEqual(await readdir(taken), ['precious']);
    // Only a point-in-time restore picks its backup itself; a plain one names it.
    const unnamed = await runCli(['--config', spec, 'restore', '--new-cluster', 'unnamed', '--yes'], { env });
    assert.equal(unnamed.code, 2, unnamed.stderr);
    assert.match(unnamed.stderr, /restore what\? name a backup, latest, or a snapshot file/);

    // The drill restores into a throwaway cluster and records the result in the manifest.
    const drill = await runCli(['--config', spec, 'backup', 'verify', 'latest', '--drill', '-o', 'json'], {
      env,
    });
    assert.equal(drill.code, 0, drill.stdout + drill.stderr);
    const drills = drill.json<{ drills: { ok: boolean; detail: string }[] }>().drills;
    assert.equal(drills[0]?.ok, true);
    assert.match(drills[0]?.detail ?? '', /content matches the snapshot/);
    const manifest = JSON.parse(
      await readFile(path.join(dir, 'backups', `${backup.name}.json`), 'utf8'),
    ) as BackupManifest;
    assert.equal(manifest.drill?.ok, true);
    assert.deepEqual(
      (await readdir(path.join(dir, 'spool'))).filter((f) => f.startsWith('drill-')),
      [],
      'the drill cleans up',
    );

    // A corrupt backup is refused before anything is created.
    const object = path.join(dir, 'backups', backup.object);
    const bytes = await readFile(object);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] as number) ^ 0xff;
    await writeFile(object, bytes);
    const corrupt = await runCli(['--config', spec, 'restore', 'latest', '--new-cluster', 'bad', '--yes'], {
      env,
    });
    assert.equal(corrupt.code, 1);
    assert.match(
      corrupt.stderr,
      new RegExp(`backup ${backup.name} is damaged: (its SHA-256 is|the stored object does not decompress)`),
    );
    assert.equal(existsSync(path.join(dir, 'data-bad')), false);
    // A damaged plain file (no manifest to compare with) is refused by the reader's checks.
    const file = path.join(dir, 'cut.db');
    await writeFile(file, bytes.subarray(0, 8192));
    const cut = await runCli(['--config', spec, 'restore', file, '--new-cluster', 'cut', '--yes'], { env });
    assert.equal(cut.code, 1);
    assert.match(cut.stderr, /refusing to restore .*cut\.db/);
    assert.equal(existsSync(path.join(dir, 'data-cut')), false);
  });

  it("a backup altered by one value, with a valid trailer and a matching SHA-256: verify and restore's HashKV catch it", async () => {
    const { dir, spec, env, backup } = await clusterWithBackup('altered', mainLine, {
      members: 1,
      backup: { storage: './backups', compression: 'none' },
    });
    // `backup verify` records etcd's HashKV in a manifest that lacks it.
    const verified = await runCli(['--config', spec, 'backup', 'verify', 'latest', '-o', 'json'], { env });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const manifestFile = path.join(dir, 'backups', `${backup.name}.json`);
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as BackupManifest;
    assert.equal(manifest.hashKv?.revision, backup.revision);

    // One value changed in place (same length, so every page and record still reads), etcd's
    // trailer recomputed, and the manifest's SHA-256 and verdict made to fit: only the HashKV
    // recorded when the backup was checked still tells.
    const object = path.join(dir, 'backups', backup.object);
    const bytes = await readFile(object);
    // (Every copy: a page bbolt freed may still hold an older one.)
    let copies = 0;
    for (let at = bytes.indexOf('{"v":7}'); at >= 0; at = bytes.indexOf('{"v":7}', at + 1), copies++)
      bytes.write('{"v":9}', at);
    assert.ok(copies > 0, 'the value is in the snapshot');
    createHash('sha256')
      .update(bytes.subarray(0, bytes.length - 32))
      .digest()
      .copy(bytes, bytes.length - 32);
    await writeFile(object, bytes);
    const altered = { ...manifest, sha256: createHash('sha256').update(bytes).digest('hex') };
    await writeFile(manifestFile, JSON.stringify(altered));

    const restored = await runCli(['--config', spec, 'restore', 'latest', '--yes', '-o', 'json'], { env });
    assert.equal(restored.code, 1, restored.stdout + restored.stderr);
    const result = restored.json<
      RestoreJson & { restored: { method: string; members: { hash: number }[] } }
    >();
    assert.equal(result.match, false);
    assert.equal(result.restored?.method, 'hashkv');
    assert.notEqual(result.restored?.members[0]?.hash, manifest.hashKv?.hash);
    assert.match(
      restored.stderr,
      /answered HashKV \d+ at revision \d+, the snapshot's is \d+: the restored data differs/,
    );

    const reverified = await runCli(['--config', spec, 'backup', 'verify', 'latest', '-o', 'json'], { env });
    assert.equal(reverified.code, 1, reverified.stdout + reverified.stderr);
    assert.match(reverified.stdout, /etcd's HashKV of the snapshot is \d+, the manifest recorded \d+/);
  });
});
