// Continuous backup and point-in-time restore against real clusters: a writer (puts, overwrites,
// deletes, range deletes, transactions) while the change log runs; restore --to-revision R gives
// exactly what `etcdctl get "" --prefix --rev R` gave on the original (keys, values, revisions);
// --to-time; the change-log process SIGKILLed mid-segment; a compacted resume point (gap →
// healing snapshot); retention keeping chains whole.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import type { EtcdLine } from '../../config/etcd-lines.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../../etcd/member-client.js';
import { openStorage } from '../../storage/open.js';
import {
  CLI,
  Cleanup,
  binariesFor,
  etcdctl,
  killRecordedMembers,
  runCli,
  scrubbedEnv,
  tempDir,
  testLines,
  upDetached,
  writeSpec,
} from '../../testing/harness.js';
import { startChangeLog, type ChangeLog } from './changelog.js';
import { listSegments } from './segment.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const mainLine: EtcdLine = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');
const connection: ConnectionOptions = { dialTimeoutMs: 5000, commandTimeoutMs: 60_000 };

interface KvJson {
  key: string;
  value?: string;
  mod_revision: number;
  create_revision: number;
  version: number;
}

/** A one-member cluster with a backup in ./backups; returns what the tests need. */
async function cluster(
  label: string,
  line: EtcdLine,
  backup: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) {
  const binaries = await binariesFor(line);
  const dir = await tempDir(cleanup, label);
  cleanup.add(() => killRecordedMembers(dir));
  const spec = await writeSpec(dir, {
    members: 1,
    etcd: { version: line },
    backup: { storage: './backups', ...backup },
    ...extra,
  });
  const up = await upDetached(cleanup, spec);
  const env = { ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool') };
  process.env['ETCD_STEWARD_SPOOL_DIR'] = env.ETCD_STEWARD_SPOOL_DIR;
  const client = new MemberClient(parseEndpoint(up.endpoints[0] as string), connection);
  cleanup.add(() => Promise.resolve(client.close()));
  const storage = await openStorage(path.join(dir, 'backups'));
  return { binaries, dir, spec, up, env, client, storage };
}

async function createBackup(
  spec: string,
  env: NodeJS.ProcessEnv,
): Promise<{ revision: number; name: string }> {
  const r = await runCli(['--config', spec, 'backup', 'create', '--no-prune', '-o', 'json'], { env });
  assert.equal(r.code, 0, r.stderr);
  return r.json<{ backup: { revision: number; name: string } }>().backup;
}

function changeLogFor(c: Awaited<ReturnType<typeof cluster>>, flushIntervalMs = 200): Promise<ChangeLog> {
  return startChangeLog({
    clusterName: 'etcd',
    endpoints: c.up.endpoints,
    connection,
    storage: c.storage,
    flushIntervalMs,
    segmentMaxBytes: 64 * 1024,
    compression: 'gzip',
  });
}

/** Waits (generous deadline) until the change log has stored everything up to `revision`. */
async function flushedTo(log: ChangeLog, revision: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (log.stats().lastFlushedRevision < revision) {
    if (Date.now() > deadline) throw new Error(`change log stuck: ${JSON.stringify(log.stats())}`);
    await sleep(50);
  }
}

/** Every key at `revision` as etcdctl sees it (key, value, revisions, version). */
async function viewAt(
  c: { binaries: Awaited<ReturnType<typeof binariesFor>> },
  endpoints: readonly string[],
  revision?: number,
): Promise<KvJson[]> {
  const out = await etcdctl(c.binaries, endpoints, [
    'get',
    '',
    '--prefix',
    '-w',
    'json',
    ...(revision ? [`--rev=${revision}`] : []),
  ]);
  const kvs = (JSON.parse(out) as { kvs?: (KvJson & { lease?: number })[] }).kvs ?? [];
  return kvs.map(({ key, value, mod_revision, create_revision, version }) => ({
    key,
    value,
    mod_revision,
    create_revision,
    version,
  }));
}

/** The writer: puts, overwrites, deletes, a range delete, transactions. Returns revisions after each step. */
async function write(client: MemberClient, tag: string): Promise<number[]> {
  const marks: number[] = [];
  for (let i = 0; i < 20; i += 1) await client.put(`/${tag}/a/${i}`, `v${i}`);
  marks.push((await client.put(`/${tag}/a/0`, 'overwritten')).revision);
  await client.delete(`/${tag}/a/1`);
  marks.push((await client.delete(`/${tag}/a/1`, { prefix: true })).revision); // a range delete: /a/1, /a/10…/a/19
  const t = await client.txn(
    [],
    [
      { type: 'put', key: Buffer.from(`/${tag}/t/x`), value: Buffer.from('X'), lease: '0' },
      { type: 'put', key: Buffer.from(`/${tag}/a/2`), value: Buffer.from('two'), lease: '0' },
      { type: 'delete', key: Buffer.from(`/${tag}/a/3`) },
    ],
  );
  marks.push(t.revision);
  for (let i = 0; i < 5; i += 1) await client.put(`/${tag}/a/4`, `again-${i}`);
  marks.push((await client.put(`/${tag}/b`, Buffer.from([0, 1, 2, 255]))).revision);
  return marks;
}

async function restoreTo(
  c: Awaited<ReturnType<typeof cluster>>,
  name: string,
  flag: string[],
  reference: string[] = ['latest'],
): Promise<{
  endpoints: string[];
  pointInTime: { revision: number; verified: boolean; base: { backup: string } };
  match: boolean;
}> {
  const r = await runCli(
    ['--config', c.spec, 'restore', ...reference, ...flag, '--new-cluster', name, '--yes', '-o', 'json'],
    { env: c.env, timeoutMs: 300_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  return r.json();
}

describe('point-in-time restore', { concurrency: 1 }, () => {
  for (const line of testLines()) {
    it(`etcd ${line}: the change log under a writer; restore --to-revision R gives the original's view at R`, async () => {
      const c = await cluster(`pitr-${line}`, line);
      await createBackup(c.spec, c.env);
      const log = await changeLogFor(c);
      const marks = await write(c.client, 'w');
      await flushedTo(log, marks.at(-1) as number);
      await log.stop();
      assert.equal(log.stats().gaps, 0);
      const targets = line === mainLine ? [marks[0], marks[2], marks[3]] : [marks[1], marks[3]];
      const expected = new Map<number, KvJson[]>();
      for (const R of targets as number[]) expected.set(R, await viewAt(c, c.up.endpoints, R));
      // History is gone from the original; the restore needs only the snapshot and the log.
      await c.client.compact(marks.at(-1) as number, true, 60_000);
      for (const R of targets as number[]) {
        const result = await restoreTo(c, `r${R}`, ['--to-revision', String(R)]);
        assert.equal(result.pointInTime.revision, R);
        assert.equal(result.pointInTime.verified, true);
        assert.equal(result.match, true);
        assert.deepEqual(await viewAt(c, result.endpoints), expected.get(R), `the view at revision ${R}`);
      }
    });
  }

  it(`etcd ${mainLine}: --to-time restores the last revision committed at or before that time`, async () => {
    const c = await cluster('pitr-time', mainLine);
    await createBackup(c.spec, c.env);
    const log = await changeLogFor(c);
    const first = await write(c.client, 'one');
    await flushedTo(log, first.at(-1) as number);
    await sleep(400);
    const T = new Date(Date.now() - 200).toISOString();
    await sleep(400);
    const second = await write(c.client, 'two');
    await flushedTo(log, second.at(-1) as number);
    await log.stop();
    const R = first.at(-1) as number;
    const expected = await viewAt(c, c.up.endpoints, R);
    // No backup named: the point-in-time restore picks the chain itself.
    const result = await restoreTo(c, 'at-time', ['--to-time', T], []);
    assert.equal(result.pointInTime.revision, R);
    assert.deepEqual(await viewAt(c, result.endpoints), expected);
  });

  it(`etcd ${mainLine}: the change-log process SIGKILLed mid-segment loses at most one flush interval`, async () => {
    const flushMs = 1000;
    const c = await cluster(
      'pitr-kill',
      mainLine,
      { continuous: true, flushInterval: `${flushMs}ms` },
      { monitoring: { listen: '127.0.0.1:0' } },
    );
    await createBackup(c.spec, c.env);
    const agent = spawn(process.execPath, [CLI, '--config', c.spec, 'serve'], {
      env: { ...scrubbedEnv(), ...c.env },
      stdio: 'ignore',
    });
    cleanup.add(() => Promise.resolve(agent.kill('SIGKILL')));
    // Wait until the agent's change log has written its first segment.
    let tick = 0;
    while ((await listSegments(c.storage)).length === 0) {
      await c.client.put('/kill/warm-up', String((tick += 1)));
      await sleep(200);
      if (tick > 300) throw new Error('the agent wrote no segment');
    }
    const acked = new Map<number, number>();
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i += 1) {
        const { revision } = await c.client.put(`/kill/${i % 40}`, `v${i}`);
        acked.set(revision, Date.now());
        await sleep(10);
      }
    })();
    await sleep(3500);
    agent.kill('SIGKILL');
    const killedAt = Date.now();
    await sleep(300);
    stop = true;
    await writer;
    const flushed = Math.max(...(await listSegments(c.storage)).map((s) => s.lastRevision));
    // Everything acknowledged more than one flush interval (plus a second for a loaded machine)
    // before the kill is in the log.
    const mustHave = [...acked].filter(([, at]) => at <= killedAt - flushMs - 1000).map(([r]) => r);
    assert.ok(mustHave.length > 0, 'the writer ran long enough');
    assert.ok(
      Math.max(...mustHave) <= flushed,
      `revision ${Math.max(...mustHave)} lost (log ends at ${flushed})`,
    );
    const expected = await viewAt(c, c.up.endpoints, flushed);
    const result = await restoreTo(c, 'after-kill', ['--to-revision', String(flushed)]);
    assert.equal(result.pointInTime.revision, flushed);
    assert.deepEqual(await viewAt(c, result.endpoints), expected);
  });

  it(`etcd ${mainLine}: a compacted resume point is a gap, healed by a new snapshot; retention keeps chains whole`, async () => {
    const c = await cluster('pitr-gap', mainLine);
    const first = await createBackup(c.spec, c.env);
    let log = await changeLogFor(c);
    const a = await write(c.client, 'a');
    await flushedTo(log, a.at(-1) as number);
    await log.stop();
    // The log is down while the cluster moves on and compacts: the log cannot resume.
    const b = await write(c.client, 'b');
    await c.client.compact(b.at(-1) as number, true, 60_000);
    log = await changeLogFor(c);
    const deadline = Date.now() + 120_000;
    while (log.stats().lastGap?.healedAt == null) {
      if (Date.now() > deadline) throw new Error(`not healed: ${JSON.stringify(log.stats())}`);
      await sleep(100);
    }
    const stats = log.stats();
    assert.equal(stats.gaps, 1);
    assert.equal(stats.lastGap?.fromRevision, (a.at(-1) as number) + 1);
    assert.ok(
      (stats.lastGap?.healedAt ?? 0) >= (b.at(-1) as number),
      'the healing snapshot is after the gap',
    );
    // The log goes on from the new snapshot.
    const c2 = await write(c.client, 'c');
    await flushedTo(log, c2.at(-1) as number);
    const second = await createBackup(c.spec, c.env);
    const d = await write(c.client, 'd');
    await flushedTo(log, d.at(-1) as number);
    await log.stop();

    const listed = await runCli(['--config', c.spec, 'backup', 'list', '-o', 'json'], { env: c.env });
    const chains = listed.json<{
      chains: { backup: string; revision: number; log: { toRevision: number } | null }[];
      recoveryWindows: { fromRevision: number; toRevision: number }[];
    }>();
    assert.equal(chains.chains.length, 3);
    assert.equal(chains.chains[0]?.log?.toRevision, a.at(-1), 'the first chain ends at the gap');
    assert.equal(chains.recoveryWindows.length, 2, 'two windows: before and after the gap');
    assert.equal(chains.recoveryWindows[1]?.toRevision, d.at(-1));
    // A revision inside the gap cannot be restored; the error names the windows.
    const inGap = await runCli(['--config', c.spec, 'restore', '--to-revision', String(b[0]), '--yes'], {
      env: c.env,
    });
    assert.equal(inGap.code, 2);
    assert.match(inGap.stderr, /outside what can be restored: the backups and change log cover revisions/);

    // No backup named: a revision of the first chain is restored from the first backup, not the newest.
    const early = await restoreTo(c, 'early', ['--to-revision', String(a.at(-1))], []);
    assert.equal(early.pointInTime.base.backup, first.name);
    assert.equal(early.pointInTime.revision, a.at(-1));
    assert.equal(early.match, true);

    // keep-last 2: the first chain goes whole; the healing snapshot's chain keeps every segment.
    const pruned = await runCli(['--config', c.spec, 'backup', 'prune', '--keep-last', '2', '-o', 'json'], {
      env: c.env,
    });
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual(pruned.json<{ removed: string[] }>().removed, [first.name]);
    const segments = await listSegments(c.storage);
    const healedAt = stats.lastGap?.healedAt ?? 0;
    assert.ok(
      segments.every((s) => s.lastRevision > healedAt),
      'segments before the kept chains are gone',
    );
    assert.equal(segments[0]?.firstRevision, healedAt + 1, "the kept chain's first segment is still there");
    assert.ok(second.revision > healedAt);
    const after = await runCli(['--config', c.spec, 'backup', 'list', '-o', 'json'], { env: c.env });
    const windows = after.json<{ recoveryWindows: { fromRevision: number; toRevision: number }[] }>()
      .recoveryWindows;
    assert.deepEqual(
      windows.map((w) => [w.fromRevision, w.toRevision]),
      [[healedAt, d.at(-1)]],
    );
  });
});
