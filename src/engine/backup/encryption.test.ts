// Encrypted backups (age) through the real CLI against real etcd, files and a real S3 server
// (MinIO): create → verify → restore on every line with one and two recipients; no known key or
// value in the stored bytes; wrong, missing identity, truncated and tampered objects refused with
// nothing restored; PITR across encrypted change-log segments; rotation with `backup reencrypt`;
// S3 server-side encryption passed through. Plus the passphrase mode and the sealed spool.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { EtcdLine } from '../../config/etcd-lines.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient } from '../../etcd/member-client.js';
import { openStorage } from '../../storage/open.js';
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
import { MINIO_KMS_KEY_ID, startS3Server } from '../../testing/s3-server.js';
import { startChangeLog } from '../pitr/changelog.js';
import { listSegments } from '../pitr/segment.js';
import {
  decryptBuffer,
  encryptBuffer,
  generateIdentityFile,
  loadDecryptionKeys,
  recordFor,
} from './encryption.js';
import type { BackupManifest } from './manifest.js';
import { SpoolSeal } from './sealed-spool.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const mainLine: EtcdLine = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');
const SECRET_KEY = '/greptime/credentials/admin-Kq3pXv';
const SECRET_VALUE = 'password=Zt7vH2mWq9LxRb4sNc8d';

/** Three identity files (A, B, C) and their public keys. */
async function identities(dir: string) {
  const make = async (name: string) => {
    const file = path.join(dir, `${name}.key`);
    return { file, recipient: await generateIdentityFile(file) };
  };
  return { A: await make('a'), B: await make('b'), C: await make('c') };
}

/** A one-member cluster with a known secret in it, and a spec with `backup` as given. */
async function cluster(label: string, line: EtcdLine, backup: Record<string, unknown>) {
  const binaries = await binariesFor(line);
  const dir = await tempDir(cleanup, label);
  const keys = await identities(dir);
  const specFor = (b: Record<string, unknown>) =>
    writeSpec(dir, { members: 1, etcd: { version: line }, backup: { storage: './backups', ...b } });
  const spec = await specFor(backup);
  const up = await upDetached(cleanup, spec);
  await etcdctl(binaries, up.endpoints, ['put', SECRET_KEY, SECRET_VALUE]);
  for (let i = 0; i < 20; i += 1) await etcdctl(binaries, up.endpoints, ['put', `/data/${i}`, `value-${i}`]);
  const env = { ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool') };
  return { binaries, dir, keys, spec, specFor, up, env };
}

type Cluster = Awaited<ReturnType<typeof cluster>>;

async function create(
  c: Cluster,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<BackupManifest> {
  const r = await runCli(['--config', c.spec, 'backup', 'create', '--no-prune', ...extra, '-o', 'json'], {
    env: { ...c.env, ...env },
  });
  assert.equal(r.code, 0, r.stderr);
  return r.json<{ backup: BackupManifest }>().backup;
}

function cli(c: Cluster, args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(['--config', c.spec, ...args], { env: { ...c.env, ...env }, timeoutMs: 300_000 });
}

/** Restores `name` with `--into` a fresh dir; returns the result and whether the dir exists. */
async function restoreInto(c: Cluster, name: string, identity: string[], env: NodeJS.ProcessEnv = {}) {
  const into = path.join(c.dir, `into-${Math.random().toString(36).slice(2, 8)}`);
  const r = await cli(c, ['restore', name, '--into', into, ...identity, '-o', 'json'], env);
  return { r, into, built: existsSync(into) };
}

/** No known key or value anywhere in `bytes` (nor the identities' secrets). */
function assertOpaque(bytes: Buffer, what: string): void {
  for (const needle of [SECRET_KEY, SECRET_VALUE, 'value-7', '/data/1'])
    assert.equal(bytes.includes(Buffer.from(needle)), false, `${what} holds '${needle}' in plain text`);
}

describe('encrypted backups', { concurrency: 1 }, () => {
  for (const line of testLines()) {
    it(`etcd ${line}: create → verify → restore, one recipient; the stored object is opaque`, async () => {
      const c = await cluster(`enc-${line}`, line, {});
      await c.specFor({ encryption: { recipients: [c.keys.A.recipient] } });
      const backup = await create(c);
      assert.ok(backup.object.endsWith('.db.gz.age'), backup.object);
      assert.deepEqual(backup.encryption?.recipients, [c.keys.A.recipient]);
      assert.match(backup.encryption?.plaintextSha256 ?? '', /^[0-9a-f]{64}$/);
      assert.notEqual(backup.encryption?.plaintextSha256, backup.sha256);
      const stored = await readFile(path.join(c.dir, 'backups', backup.object));
      assert.equal(stored.subarray(0, 21).toString(), 'age-encryption.org/v1');
      assertOpaque(stored, 'the stored snapshot');
      // The manifest holds public keys only.
      const manifestText = await readFile(path.join(c.dir, 'backups', `${backup.name}.json`), 'utf8');
      assert.equal(manifestText.includes('AGE-SECRET-KEY'), false);
      // The spool is empty again (and held nothing in the clear while it was there: see below).
      assert.deepEqual(await readdir(c.env.ETCD_STEWARD_SPOOL_DIR), []);

      // verify without the identity: the stored bytes only; with it: everything.
      const storedOnly = await cli(c, ['backup', 'verify', backup.name, '-o', 'json']);
      assert.equal(storedOnly.code, 0, storedOnly.stdout + storedOnly.stderr);
      const storedResult = storedOnly.json<{ results: { ok: boolean; manifest: BackupManifest }[] }>()
        .results[0];
      assert.equal(storedResult?.manifest.lastVerification.scope, 'stored');
      const full = await cli(c, ['backup', 'verify', backup.name, '--identity', c.keys.A.file, '-o', 'json']);
      assert.equal(full.code, 0, full.stdout + full.stderr);
      const fullResult = full.json<{ results: { ok: boolean; manifest: BackupManifest }[] }>().results[0];
      assert.equal(fullResult?.ok, true);
      assert.equal(fullResult?.manifest.lastVerification.scope, undefined);

      // restore (etcdutl builds a member from the decrypted snapshot), inspect reads the secret back.
      const restored = await restoreInto(c, backup.name, ['--identity', c.keys.A.file]);
      assert.equal(restored.r.code, 0, restored.r.stderr);
      assert.ok(existsSync(path.join(restored.into, 'etcd-0', 'data', 'member', 'snap', 'db')));
      const inspect = await cli(
        c,
        ['snapshot', 'inspect', backup.name, '--prefix', SECRET_KEY, '--values', '-o', 'json'],
        { ETCD_STEWARD_AGE_IDENTITY_FILE: c.keys.A.file },
      );
      assert.equal(inspect.code, 0, inspect.stderr);
      const found = inspect.json<{ keys: { key: string; value: string }[] }>().keys;
      assert.deepEqual(
        found.map((k) => [k.key, k.value]),
        [[SECRET_KEY, SECRET_VALUE]],
      );
      // The secret key never shows in any output.
      const secret = (await readFile(c.keys.A.file, 'utf8')).match(/AGE-SECRET-KEY-1\S+/)?.[0] as string;
      for (const out of [storedOnly, full, restored.r, inspect])
        assert.equal((out.stdout + out.stderr).includes(secret), false);

      if (line !== mainLine) return;
      // Two recipients: either identity restores; the identity in the environment works too.
      await c.specFor({ encryption: { recipients: [c.keys.A.recipient, c.keys.B.recipient] } });
      const two = await create(c);
      assert.deepEqual(two.encryption?.recipients, [c.keys.A.recipient, c.keys.B.recipient]);
      for (const key of [c.keys.A, c.keys.B]) {
        const r = await restoreInto(c, two.name, ['--identity', key.file]);
        assert.equal(r.r.code, 0, r.r.stderr);
      }
      const viaEnv = await restoreInto(c, two.name, [], {
        ETCD_STEWARD_AGE_IDENTITY: await readFile(c.keys.B.file, 'utf8'),
      });
      assert.equal(viaEnv.r.code, 0, viaEnv.r.stderr);
      // A restore drill decrypts as well.
      const drill = await cli(c, [
        'backup',
        'verify',
        two.name,
        '--drill',
        '--identity',
        c.keys.B.file,
        '-o',
        'json',
      ]);
      assert.equal(drill.code, 0, drill.stdout + drill.stderr);
      assert.equal(drill.json<{ drills: { ok: boolean }[] }>().drills[0]?.ok, true);
    });
  }

  it(`etcd ${mainLine}: S3 (SSE-KMS passed through): wrong, missing identity, truncated and tampered objects are refused, nothing restored`, async () => {
    const s3 = await startS3Server(cleanup);
    const c = await cluster('enc-s3', mainLine, {});
    const s3Url = `s3://${s3.bucket}/enc?endpoint=${encodeURIComponent(s3.endpoint)}&region=us-east-1&forcePathStyle=true`;
    await c.specFor({
      storage: s3Url,
      encryption: { recipients: [c.keys.A.recipient, c.keys.B.recipient] },
      s3: { serverSideEncryption: 'aws:kms', kmsKeyId: MINIO_KMS_KEY_ID },
    });
    const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
    const backup = await create(c, [], env);
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    cleanup.add(() => Promise.resolve(client.destroy()));
    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `enc/${backup.object}` }));
    assert.equal(head.ServerSideEncryption, 'aws:kms');
    const storage = await openStorage(s3Url, {
      s3: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    const { buffer } = await import('node:stream/consumers');
    const stored = await buffer(await storage.read(backup.object));
    assertOpaque(stored, 'the object in S3');

    // Wrong identity: names the recipients that would work.
    const wrong = await restoreInto(c, backup.name, ['--identity', c.keys.C.file], env);
    assert.equal(wrong.r.code, 1, wrong.r.stdout + wrong.r.stderr);
    assert.match(
      wrong.r.stderr,
      /cannot be decrypted with --identity \S+c\.key: it was encrypted to an identity of/,
    );
    assert.ok(wrong.r.stderr.includes(c.keys.A.recipient) && wrong.r.stderr.includes(c.keys.B.recipient));
    assert.equal(wrong.built, false, 'nothing was built');
    // Missing identity.
    const missing = await restoreInto(c, backup.name, [], env);
    assert.equal(missing.r.code, 1, missing.r.stdout + missing.r.stderr);
    assert.match(missing.r.stderr, /is encrypted and no identity was given: it needs an identity of age1/);
    assert.match(missing.r.stderr, /hint: .*--identity FILE/);
    assert.equal(missing.built, false);
    // verify with the wrong identity refuses and records nothing against the backup.
    const verifyWrong = await cli(c, ['backup', 'verify', backup.name, '--identity', c.keys.C.file], env);
    assert.equal(verifyWrong.code, 1);
    assert.match(verifyWrong.stderr, /cannot be decrypted/);

    // Tampered: one byte flipped in the middle of the payload. Then truncated.
    const { Readable } = await import('node:stream');
    const tampered = Buffer.from(stored);
    const middle = Math.floor(tampered.length / 2);
    tampered[middle] = (tampered[middle] as number) ^ 0x01;
    for (const [label, bytes] of [
      ['tampered', tampered],
      ['truncated', stored.subarray(0, stored.length - 100)],
    ] as const) {
      await storage.write(backup.object, Readable.from([bytes]));
      const r = await restoreInto(c, backup.name, ['--identity', c.keys.A.file], env);
      assert.equal(r.r.code, 1, `${label}: ${r.r.stdout}${r.r.stderr}`);
      assert.match(r.r.stderr, /is damaged/, label);
      assert.equal(r.built, false, `${label}: nothing was built`);
      const v = await cli(
        c,
        ['backup', 'verify', backup.name, '--identity', c.keys.A.file, '-o', 'json'],
        env,
      );
      assert.equal(v.code, 1, label);
      // Without the identity the stored bytes alone give it away too (SHA-256 of the stored object).
      const vStored = await cli(c, ['backup', 'verify', backup.name, '-o', 'json'], env);
      assert.equal(vStored.code, 1, label);
    }
    await storage.write(backup.object, Readable.from([stored]));
  });

  it(`etcd ${mainLine}: PITR across encrypted segments; rotation with backup reencrypt`, async () => {
    const c = await cluster('enc-pitr', mainLine, {});
    await c.specFor({ encryption: { recipients: [c.keys.A.recipient] } });
    const first = await create(c);
    const storage = await openStorage(path.join(c.dir, 'backups'));
    const log = await startChangeLog({
      clusterName: 'etcd',
      endpoints: c.up.endpoints,
      connection: { dialTimeoutMs: 5000, commandTimeoutMs: 60_000 },
      storage,
      flushIntervalMs: 200,
      segmentMaxBytes: 4096,
      compression: 'gzip',
      encryption: { recipients: [c.keys.A.recipient] },
    });
    const client = new MemberClient(parseEndpoint(c.up.endpoints[0] as string), {
      dialTimeoutMs: 5000,
      commandTimeoutMs: 60_000,
    });
    cleanup.add(() => Promise.resolve(client.close()));
    await client.put('/pitr/k1', 'pitr-secret-one');
    const target = (await client.put('/pitr/k2', 'pitr-secret-two')).revision;
    const later = (await client.put('/pitr/k3', 'pitr-secret-three')).revision;
    const deadline = Date.now() + 60_000;
    while (log.stats().lastFlushedRevision < later) {
      assert.ok(Date.now() < deadline, `change log stuck: ${JSON.stringify(log.stats())}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await log.stop();
    const segments = await listSegments(storage);
    assert.ok(segments.length > 0 && segments.every((s) => s.object.endsWith('.jsonl.gz.age')));
    for (const s of segments) {
      const bytes = await readFile(path.join(c.dir, 'backups', s.object));
      assert.equal(
        bytes.includes(Buffer.from('pitr-secret')),
        false,
        `${s.object} holds a value in the clear`,
      );
    }

    const pitr = async (identity: string[], name: string) =>
      cli(c, [
        'restore',
        'latest',
        '--to-revision',
        String(target),
        '--new-cluster',
        name,
        '--yes',
        ...identity,
        '-o',
        'json',
      ]);
    const noKey = await pitr([], 'nokey');
    assert.equal(noKey.code, 1, noKey.stdout + noKey.stderr);
    assert.match(noKey.stderr, /encrypted and no identity was given/);
    assert.equal(existsSync(path.join(c.dir, 'data-nokey')), false);
    const ok = await pitr(['--identity', c.keys.A.file], 'pitr');
    assert.equal(ok.code, 0, ok.stderr);
    const restored = ok.json<{
      endpoints: string[];
      match: boolean;
      pointInTime: { revision: number; verified: boolean };
    }>();
    assert.equal(restored.pointInTime.revision, target);
    assert.equal(restored.pointInTime.verified, true);
    const got = await etcdctl(c.binaries, restored.endpoints, [
      'get',
      '/pitr/',
      '--prefix',
      '--print-value-only',
    ]);
    assert.deepEqual(got.trim().split('\n'), ['pitr-secret-one', 'pitr-secret-two']);

    // Rotation: B replaces A. New backups go to B; the old one still opens with A only.
    await c.specFor({ encryption: { recipients: [c.keys.B.recipient] } });
    const second = await create(c);
    assert.deepEqual(second.encryption?.recipients, [c.keys.B.recipient]);
    const oldWithB = await restoreInto(c, first.name, ['--identity', c.keys.B.file]);
    assert.equal(oldWithB.r.code, 1);
    assert.ok(oldWithB.r.stderr.includes(c.keys.A.recipient));
    const oldWithA = await restoreInto(c, first.name, ['--identity', c.keys.A.file]);
    assert.equal(oldWithA.r.code, 0, oldWithA.r.stderr);
    // backup reencrypt --all (with the old identity) moves every backup and segment to B.
    const rekey = await cli(c, ['backup', 'reencrypt', '--all', '--identity', c.keys.A.file, '-o', 'json']);
    assert.equal(rekey.code, 0, rekey.stdout + rekey.stderr);
    const result = rekey.json<{
      backups: { name: string; outcome: string }[];
      segments: { reencrypted: number; failed: number };
    }>();
    assert.deepEqual(
      result.backups.map((b) => [b.name, b.outcome]),
      [
        [first.name, 'reencrypted'],
        [second.name, 'skipped:current'],
      ],
    );
    assert.equal(result.segments.reencrypted, segments.length);
    assert.equal(result.segments.failed, 0);
    const newWithB = await restoreInto(c, first.name, ['--identity', c.keys.B.file]);
    assert.equal(newWithB.r.code, 0, newWithB.r.stderr);
    const newWithA = await restoreInto(c, first.name, ['--identity', c.keys.A.file]);
    assert.equal(newWithA.r.code, 1, 'A was rotated out');
    const verify = await cli(c, ['backup', 'verify', '--all', '--identity', c.keys.B.file, '-o', 'json']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    const pitrB = await pitr(['--identity', c.keys.B.file], 'pitrb');
    assert.equal(pitrB.code, 0, pitrB.stderr);
  });

  it('passphrase mode; the segment round trip; the sealed spool holds no plain text', async () => {
    const dir = await tempDir(cleanup, 'enc-unit');
    const data = Buffer.from(`${SECRET_KEY}=${SECRET_VALUE}\n`.repeat(100));
    const settings = { recipients: [], passphrase: 'correct horse battery staple 42' };
    const sealed = await encryptBuffer(settings, data);
    assertOpaque(sealed, 'a passphrase-encrypted buffer');
    const record = recordFor(settings, 'x');
    assert.equal(record.passphrase, true);
    const keys = await loadDecryptionKeys({ env: { ETCD_STEWARD_BACKUP_PASSPHRASE: settings.passphrase } });
    assert.deepEqual(await decryptBuffer(sealed, keys, 'segment s', record), data);
    const wrongKeys = await loadDecryptionKeys({ env: { ETCD_STEWARD_BACKUP_PASSPHRASE: 'not it' } });
    await assert.rejects(
      decryptBuffer(sealed, wrongKeys, 'segment s', record),
      /segment s cannot be decrypted with the passphrase: it was encrypted to its passphrase/,
    );
    // An identity file that is not one is refused without echoing its content.
    const bad = path.join(dir, 'bad.key');
    await writeFile(bad, 'hunter2-not-a-key\n');
    await assert.rejects(
      loadDecryptionKeys({ identityFlag: bad }),
      (error: Error) =>
        /is not an age identity file/.test(error.message) && !error.message.includes('hunter2'),
    );
    // The spool: bytes on disk differ from what was written, and read back at any offset.
    const seal = new SpoolSeal();
    const file = path.join(dir, 'spool.db');
    const writer = seal.writer(file);
    await new Promise<void>((resolve, reject) => {
      writer.on('error', reject);
      writer.write(data.subarray(0, 1000));
      writer.end(data.subarray(1000), () => resolve());
    });
    const onDisk = await readFile(file);
    assert.equal(onDisk.length, data.length);
    assertOpaque(onDisk, 'the sealed spool');
    for (const [offset, length] of [
      [0, 10],
      [17, 300],
      [1001, 2048],
    ] as const) {
      const part = Buffer.from(onDisk.subarray(offset, offset + length));
      seal.unseal(part, offset);
      assert.deepEqual(part, data.subarray(offset, offset + length));
    }
  });
});
