// Backups through the real CLI on every supported etcd line, into files and a real S3-protocol
// server: create → list → verify, gzip on and off, stock etcdutl restores what we wrote, an
// `etcdctl snapshot save` file is adopted, prune keeps the newest verified backup.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import { after, describe, it } from 'node:test';
import type { BackupManifest } from '../../engine/backup/manifest.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient } from '../../etcd/member-client.js';
import {
  Cleanup,
  binariesFor,
  etcdctl,
  runCli,
  tempDir,
  testLines,
  upDetached,
  writeSpec,
} from '../../testing/harness.js';
import { startS3Server } from '../../testing/s3-server.js';

const exec = promisify(execFile);
const cleanup = new Cleanup();
after(() => cleanup.run());

interface CreateJson {
  storage: string;
  backup: BackupManifest;
  pruned: string[];
}

/** Puts, overwrites, deletes and a lease with a key: what a real keyspace has. */
async function writeData(endpoint: string, line: string): Promise<{ liveKeys: number }> {
  const client = new MemberClient(parseEndpoint(endpoint), { dialTimeoutMs: 5000, commandTimeoutMs: 60_000 });
  try {
    for (let i = 0; i < 40; i += 1)
      await client.put(`__table_info/${1000 + i}`, JSON.stringify({ table: i, line, pad: 'x'.repeat(500) }));
    for (let i = 0; i < 10; i += 1)
      await client.put(`__table_info/${1000 + i}`, JSON.stringify({ table: i, version: 2 }));
    for (let i = 30; i < 40; i += 1) await client.put(`__table_name/greptime/public/t${i}`, '{"table_id":1}');
    const lease = await client.createWithLease('__metasrv_election/leader', 'metasrv-0', 600);
    assert.ok(lease);
    const { count } = await client.countKeys();
    return { liveKeys: count };
  } finally {
    client.close();
  }
}

async function gunzipTo(source: string, target: string): Promise<void> {
  await pipeline(createReadStream(source), createGunzip(), createWriteStream(target));
}

describe('backups', { concurrency: true }, () => {
  for (const line of testLines()) {
    it(`etcd ${line}: create, list, verify, restore with stock etcdutl, import, prune (files and S3)`, async () => {
      const binaries = await binariesFor(line);
      const dir = await tempDir(cleanup, `backup-${line}`);
      const storageDir = path.join(dir, 'backups');
      const spec = await writeSpec(dir, {
        etcd: { version: line },
        backup: { storage: './backups', compression: 'gzip', retention: { keepLast: 5 } },
      });
      const up = await upDetached(cleanup, spec);
      const { liveKeys } = await writeData(up.endpoints[0] as string, line);
      const env = { ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool') };

      // create: JSON only on stdout, from a follower, facts that match the cluster.
      const created = await runCli(['--config', spec, 'backup', 'create', '-o', 'json'], { env });
      assert.equal(created.code, 0, created.stderr);
      assert.equal(created.stderr, '', 'nothing but the JSON document with -o json');
      const first = created.json<CreateJson>().backup;
      const leaderEndpoint = up.status.members.find((m) => m.isLeader)?.endpoint;
      assert.notEqual(first.member.endpoint, leaderEndpoint, 'the snapshot comes from a follower');
      const status = JSON.parse(
        await etcdctl(binaries, up.endpoints, ['endpoint', 'status', '-w', 'json']).then((s) => s),
      ) as {
        Status: { header: { revision: number } };
      }[];
      const revisionNow = Math.max(...status.map((s) => s.Status.header.revision));
      // The run's lock lives in the storage: the backup writes nothing into the cluster, so the
      // revision has not moved and the snapshot holds exactly the user's keys.
      assert.equal(first.revision, revisionNow, 'manifest revision = the cluster revision, unchanged');
      assert.equal(first.keyCount, liveKeys, 'exactly the keys written, nothing of our own');
      assert.equal(first.compression, 'gzip');
      assert.equal(first.source, 'snapshot');
      assert.ok(first.object.endsWith('.db.gz'));
      assert.equal(first.size % 512, 32, "the raw snapshot carries etcd's trailer");
      assert.equal(first.lastVerification.ok, true);
      assert.match(first.sha256, /^[0-9a-f]{64}$/);
      assert.deepEqual((await readdir(path.join(dir, 'spool'))).length, 0, 'the spool file is removed');

      // list reads the manifests.
      const list = await runCli(['--config', spec, 'backup', 'list', '-o', 'json']);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(
        list.json<{ backups: BackupManifest[] }>().backups.map((b) => b.name),
        [first.name],
      );
      // The table: compact by default (fits 100 columns), stored size, source and check with -o wide.
      const table = await runCli(['--config', spec, 'backup', 'list']);
      assert.match(table.stdout, new RegExp(`${first.name}.*${first.revision}.*${first.keyCount}.*│ ok `));
      assert.ok(Math.max(...table.stdout.split('\n').map((l) => l.length)) <= 100, table.stdout);
      const wide = await runCli(['--config', spec, 'backup', 'list', '-o', 'wide']);
      assert.match(
        wide.stdout,
        new RegExp(`${first.name}.*${first.revision}.*${first.keyCount}.*gz.*ok.*create, `),
      );

      // verify re-reads the stored object.
      const verified = await runCli(['--config', spec, 'backup', 'verify', 'latest', '-o', 'json'], { env });
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      assert.deepEqual(
        verified.json<{ results: { ok: boolean }[] }>().results.map((r) => r.ok),
        [true],
      );

      // Interop: stock etcdutl of the same line restores what we stored.
      const raw = path.join(dir, 'restored.db');
      await gunzipTo(path.join(storageDir, first.object), raw);
      await exec(binaries.etcdutl, [
        'snapshot',
        'restore',
        raw,
        '--data-dir',
        path.join(dir, 'restored'),
        '--skip-hash-check=false',
      ]);
      const etcdutlStatus = JSON.parse(
        (await exec(binaries.etcdutl, ['snapshot', 'status', raw, '-w', 'json'])).stdout,
      ) as { revision: number };
      assert.equal(etcdutlStatus.revision, first.revision);

      // Uncompressed, to S3.
      const s3 = await startS3Server(cleanup);
      const s3Url = `s3://${s3.bucket}/etcd/${line}?endpoint=${encodeURIComponent(s3.endpoint)}&region=us-east-1&forcePathStyle=true`;
      const s3Env = { ...env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
      const toS3 = await runCli(
        ['--config', spec, 'backup', 'create', '--to', s3Url, '--compression', 'none', '-o', 'json'],
        { env: s3Env },
      );
      assert.equal(toS3.code, 0, toS3.stderr);
      const s3Backup = toS3.json<CreateJson>().backup;
      assert.equal(s3Backup.compression, 'none');
      assert.equal(s3Backup.storedSize, s3Backup.size);
      assert.ok(!toS3.stdout.includes(s3.secretAccessKey));
      const s3List = await runCli(['backup', 'list', '--storage', s3Url, '-o', 'json'], {
        env: s3Env,
        cwd: dir,
      });
      assert.deepEqual(
        s3List.json<{ backups: BackupManifest[] }>().backups.map((b) => b.name),
        [s3Backup.name],
      );
      const s3Verify = await runCli(['backup', 'verify', '--all', '--storage', s3Url, '-o', 'json'], {
        env: s3Env,
        cwd: dir,
      });
      assert.equal(s3Verify.code, 0, s3Verify.stdout + s3Verify.stderr);

      // Adopt a snapshot saved by plain etcdctl (what the Bitnami CronJob leaves on its volume).
      const plain = path.join(dir, 'db-2026-11-25_10-30');
      await etcdctl(binaries, [up.endpoints[0] as string], ['snapshot', 'save', plain]);
      const adopted = await runCli(['--config', spec, 'backup', 'import', plain, '-o', 'json'], { env });
      assert.equal(adopted.code, 0, adopted.stderr);
      const imported = adopted.json<{ backup: BackupManifest }>().backup;
      assert.equal(imported.source, 'import');
      assert.equal(imported.keyCount, liveKeys, 'a plain etcdctl snapshot has no lock key');
      assert.equal(imported.importedFrom, plain);
      const verifyImport = await runCli(['--config', spec, 'backup', 'verify', imported.name], { env });
      assert.equal(verifyImport.code, 0, verifyImport.stdout + verifyImport.stderr);

      // Three more, then prune to two; --dry-run first changes nothing.
      for (let i = 0; i < 2; i += 1) {
        await new Promise((r) => setTimeout(r, 1100)); // names carry the second
        const more = await runCli(['--config', spec, 'backup', 'create', '--no-prune', '-o', 'json'], {
          env,
        });
        assert.equal(more.code, 0, more.stderr);
      }
      const all = (await runCli(['--config', spec, 'backup', 'list', '-o', 'json'])).json<{
        backups: BackupManifest[];
      }>().backups;
      assert.equal(all.length, 4);
      const dry = await runCli([
        '--config',
        spec,
        'backup',
        'prune',
        '--keep-last',
        '2',
        '--dry-run',
        '-o',
        'json',
      ]);
      assert.equal(dry.json<{ remove: unknown[]; removed: unknown[] }>().remove.length, 2);
      assert.equal(dry.json<{ removed: unknown[] }>().removed.length, 0);
      assert.equal(
        (await runCli(['--config', spec, 'backup', 'list', '-o', 'json'])).json<{ backups: unknown[] }>()
          .backups.length,
        4,
      );
      const pruned = await runCli(['--config', spec, 'backup', 'prune', '--keep-last', '2', '-o', 'json']);
      assert.equal(pruned.code, 0, pruned.stderr);
      const left = (await runCli(['--config', spec, 'backup', 'list', '-o', 'json'])).json<{
        backups: BackupManifest[];
      }>().backups;
      assert.deepEqual(
        left.map((b) => b.name),
        all.slice(-2).map((b) => b.name),
      );
      const files = (await readdir(storageDir)).filter((f) => f !== 'locks'); // the run's lock
      assert.equal(files.length, 4, `two backups = two snapshots + two manifests: ${files.join(', ')}`);

      // delete
      const deleted = await runCli(['--config', spec, 'backup', 'delete', left[0]?.name ?? '?']);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal((await readdir(storageDir)).filter((f) => f !== 'locks').length, 2);
    });
  }

  it('verify catches a flipped byte, a truncated object and a dropped trailer', async () => {
    const line = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');
    const dir = await tempDir(cleanup, 'corrupt');
    const storageDir = path.join(dir, 'backups');
    const spec = await writeSpec(dir, {
      members: 1,
      etcd: { version: line },
      backup: { storage: './backups', compression: 'none' },
    });
    const up = await upDetached(cleanup, spec);
    await writeData(up.endpoints[0] as string, line);
    const env = { ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool') };
    const names: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      if (i > 0) await new Promise((r) => setTimeout(r, 1100));
      const r = await runCli(['--config', spec, 'backup', 'create', '--no-prune', '-o', 'json'], { env });
      assert.equal(r.code, 0, r.stderr);
      names.push(r.json<CreateJson>().backup.name);
    }
    const objectOf = (name: string) => path.join(storageDir, `${name}.db`);
    const manifestOf = (name: string) => path.join(storageDir, `${name}.json`);

    // 1. one flipped byte in the middle
    const flipped = await readFile(objectOf(names[0] as string));
    flipped[Math.floor(flipped.length / 2)] = (flipped[Math.floor(flipped.length / 2)] as number) ^ 0xff;
    await writeFile(objectOf(names[0] as string), flipped);
    // 2. truncated
    const whole = await readFile(objectOf(names[1] as string));
    await writeFile(objectOf(names[1] as string), whole.subarray(0, whole.length - 4096));
    // 3. trailer dropped, and the manifest's hash and size made to match, so only the trailer check can notice
    const third = await readFile(objectOf(names[2] as string));
    const noTrailer = third.subarray(0, third.length - 32);
    await writeFile(objectOf(names[2] as string), noTrailer);
    const manifest = JSON.parse(await readFile(manifestOf(names[2] as string), 'utf8')) as BackupManifest;
    const { createHash } = await import('node:crypto');
    manifest.sha256 = createHash('sha256').update(noTrailer).digest('hex');
    manifest.storedSize = noTrailer.length;
    manifest.size = noTrailer.length;
    await writeFile(manifestOf(names[2] as string), JSON.stringify(manifest));

    const result = await runCli(['--config', spec, 'backup', 'verify', '--all', '-o', 'json'], { env });
    assert.equal(result.code, 1, 'a failed verify exits 1');
    const byName = new Map(
      result
        .json<{ results: { name: string; ok: boolean; problems: string[] }[] }>()
        .results.map((r) => [r.name, r]),
    );
    assert.equal(byName.get(names[0] as string)?.ok, false);
    assert.match(byName.get(names[0] as string)?.problems.join(' ') ?? '', /SHA-256 of the stored object is/);
    assert.equal(byName.get(names[1] as string)?.ok, false);
    assert.match(byName.get(names[1] as string)?.problems.join(' ') ?? '', /bytes, the manifest says/);
    assert.equal(byName.get(names[2] as string)?.ok, false);
    assert.match(byName.get(names[2] as string)?.problems.join(' ') ?? '', /trailer is missing/);
    // The verdicts are recorded: the list shows them as failed.
    const list = await runCli(['--config', spec, 'backup', 'list', '-o', 'wide']);
    assert.equal((list.stdout.match(/FAILED +│ verify, /g) ?? []).length, 3, list.stdout);
  });
});
