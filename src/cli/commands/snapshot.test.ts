// `snapshot inspect` and `snapshot diff` through the real CLI, on snapshots of real etcd clusters:
// inspect on every supported line (one 1-member cluster each, concurrently); on the main line
// also --prefix/--keys/--values, backup names and `latest`, diffs between snapshots, against a
// backup and against the live cluster, a damaged file and missing ones.
import assert from 'node:assert/strict';
import { copyFile, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { EtcdLine } from '../../config/etcd-lines.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient } from '../../etcd/member-client.js';
import { openLiveKeys } from '../../engine/snapshot/diff.js';
import type { SnapshotInspection } from '../../engine/snapshot/inspect.js';
import type { EtcdBinaries } from '../../runtime/etcd-binaries.js';
import {
  Cleanup,
  binariesFor,
  etcdctl,
  runCli,
  tempDir,
  testLines,
  upDetached,
  writeSpec,
  type UpJson,
} from '../../testing/harness.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

const u64le = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

/** GreptimeDB's tables in state A: id → catalog/schema/table. `1029` is dropped before the snapshot. */
const TABLES: Record<number, string> = {
  1024: 'greptime/public/cpu',
  1025: 'greptime/public/mem',
  1026: 'greptime/metrics/disk',
  1027: 'analytics/public/events',
  1028: 'analytics/public/sessions',
  1029: 'greptime/public/dropped',
};
const tableInfo = (id: number, version: number) =>
  JSON.stringify({
    table_info: { ident: { table_id: id }, name: TABLES[id], columns: ['ts', 'host', 'v'] },
    version,
  });

interface Prepared {
  line: EtcdLine;
  dir: string;
  spec: string;
  up: UpJson;
  endpoint: string;
  binaries: EtcdBinaries;
  client: MemberClient;
  /** `etcdctl snapshot save` after the GreptimeDB-shaped writes (state A). */
  fileA: string;
  revisionA: number;
  keysA: number;
  compactRevision: number;
  env: NodeJS.ProcessEnv;
}

const prepared = new Map<EtcdLine, Promise<Prepared>>();

/** A 1-member cluster of `line` with state A written and saved (once per line). */
function prepare(line: EtcdLine): Promise<Prepared> {
  let p = prepared.get(line);
  if (!p) {
    p = prepareCluster(line);
    prepared.set(line, p);
  }
  return p;
}

async function prepareCluster(line: EtcdLine): Promise<Prepared> {
  const binaries = await binariesFor(line);
  const dir = await tempDir(cleanup, `snapshot-${line}`);
  const spec = await writeSpec(dir, {
    members: 1,
    etcd: { version: line },
    backup: { storage: './backups', compression: 'gzip' },
  });
  const up = await upDetached(cleanup, spec);
  const endpoint = up.endpoints[0] as string;
  const client = new MemberClient(parseEndpoint(endpoint), { dialTimeoutMs: 5000, commandTimeoutMs: 60_000 });
  cleanup.add(() => Promise.resolve(client.close()));
  const ctl = (args: string[]) => etcdctl(binaries, [endpoint], args);

  await client.put('__catalog_name/greptime', '{}');
  await client.put('__catalog_name/analytics', '{}');
  for (const schema of ['greptime/public', 'greptime/metrics', 'analytics/public'])
    await client.put(`__schema_name/${schema}`, '{"options":{}}');
  for (const [id, name] of Object.entries(TABLES)) {
    await client.put(`__table_name/${name}`, JSON.stringify({ table_id: Number(id) }));
    await client.put(`__table_info/${id}`, tableInfo(Number(id), 1));
    await client.put(
      `__table_route/${id}`,
      JSON.stringify({ type: 'physical', region_routes: [{ region: 1 }] }),
    );
  }
  await client.put('__flow/info/1', '{"flow_name":"f1"}');
  await client.put('__flow/name/greptime/f1', '{"flow_id":1}');
  await client.put('__meta_seq-table_id', u64le(1030));
  await client.put('__meta_seq-flow_id', u64le(255)); // ff 00 …: not UTF-8
  await client.put('/__procedure__/p1/0000000001.step', '{"step":1}');
  await client.put('hello', 'world');
  // An ALTER (overwrite), then compaction of the history before it.
  const { revision: altered } = await client.put('__table_info/1025', tableInfo(1025, 2));
  await ctl(['compact', String(altered)]);
  // A DROP: the table's keys go, a tombstone copy stays (it must not count as a table).
  await client.put('__tombstone/__table_name/greptime/public/dropped', '{"table_id":1029}');
  await ctl(['del', '__table_name/greptime/public/dropped']);
  await ctl(['del', '__table_info/1029']);
  await ctl(['del', '__table_route/1029']);
  await ctl(['del', '/__procedure__/p1/0000000001.step']);
  assert.ok(await client.createWithLease('__metasrv_election/leader', 'metasrv-0', 600));

  const { count, revision } = await client.countKeys();
  assert.equal(count, 27, 'the keys written: 2 + 3 + 5×3 + 1 + 2 + 2 + 1 + 1');
  const fileA = path.join(dir, 'a.db');
  await ctl(['snapshot', 'save', fileA]);
  return {
    line,
    dir,
    spec,
    up,
    endpoint,
    binaries,
    client,
    fileA,
    revisionA: revision,
    keysA: count,
    compactRevision: altered,
    env: { ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool') },
  };
}

const MAIN_LINE: EtcdLine = testLines().includes('3.6') ? '3.6' : (testLines()[0] as EtcdLine);

interface DiffJson {
  a: { kind: string; backup: string | null; endpoint: string | null; revision: number; keyCount: number };
  b: { kind: string; backup: string | null; endpoint: string | null; revision: number; keyCount: number };
  prefix: string | null;
  added: number;
  removed: number;
  changed: number;
  rewritten: number;
  unchanged: number;
  byPrefix: {
    prefix: string | null;
    prefixEncoding: string | null;
    added: number;
    removed: number;
    changed: number;
    rewritten: number;
    unchanged: number;
  }[];
  changes: { key: string; keyEncoding: string; change: string; a: unknown; b: unknown }[] | null;
}

/** The keys of each kind of change in a `diff --keys -o json` document. */
function changeLists(diff: DiffJson): Record<string, string[]> {
  const lists: Record<string, string[]> = { added: [], removed: [], changed: [], rewritten: [] };
  for (const c of diff.changes ?? []) lists[c.change]?.push(c.key);
  return lists;
}

describe('snapshot inspect and diff', { concurrency: true }, () => {
  for (const line of testLines()) {
    it(`etcd ${line}: inspect an etcdctl snapshot (JSON and table)`, async () => {
      const p = await prepare(line);
      const result = await runCli(['snapshot', 'inspect', p.fileA, '-o', 'json'], { cwd: p.dir });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
      const report = result.json<SnapshotInspection>();
      assert.deepEqual(report.source, {
        kind: 'file',
        reference: p.fileA,
        file: p.fileA,
        backup: null,
        storage: null,
      });
      assert.equal(report.revision, p.revisionA);
      assert.equal(report.compactRevision, p.compactRevision);
      assert.equal(report.scheduledCompactRevision, null);
      assert.equal(report.keyCount, p.keysA);
      assert.equal(report.fileSize, (await stat(p.fileA)).size);
      assert.ok(report.inUseBytes > 0 && report.inUseBytes <= report.fileSize, String(report.inUseBytes));
      assert.equal(report.trailer, 'ok');
      assert.equal(report.leaseCount, 1);
      assert.equal(report.authEnabled, false);
      if (line === '3.5') assert.equal(report.storageVersion, null);
      else assert.ok(report.storageVersion?.startsWith(line), String(report.storageVersion));
      assert.ok(report.clusterVersion?.startsWith(line), String(report.clusterVersion));
      const member = p.up.status.members[0];
      assert.equal(report.members.length, 1);
      assert.equal(report.members[0]?.id, member?.id);
      assert.equal(report.members[0]?.name, member?.name);
      assert.equal(report.members[0]?.isLearner, false);
      assert.match(report.members[0]?.peerUrls[0] ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(report.greptime, { catalogs: 2, schemas: 3, tables: 5, flows: 1, keyPrefixes: [''] });
      assert.equal(report.prefix, null);
      assert.equal(report.prefixKeyCount, null);
      assert.equal(report.keys, null);

      const table = await runCli(['snapshot', 'inspect', p.fileA], { cwd: p.dir });
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, new RegExp(`REVISION\\s+│ ${p.revisionA}\\s`));
      assert.match(table.stdout, new RegExp(`COMPACTED AT\\s+│ ${p.compactRevision}\\s`));
      assert.match(table.stdout, /KEYS\s+│ 27 live/);
      assert.match(table.stdout, /TRAILER\s+│ ok/);
      assert.match(table.stdout, /LEASES\s+│ 1\s/);
      assert.match(table.stdout, /GREPTIMEDB\s+│ 2 catalogs, 3 schemas, 5 tables, 1 flow\s/);
      assert.ok(table.stdout.includes(member?.name ?? '?') && table.stdout.includes(member?.id ?? '?'));
    });
  }

  it(`etcd ${MAIN_LINE}: --prefix, --keys, --values; backup names and latest; diffs; damaged and missing files`, async () => {
    const p = await prepare(MAIN_LINE);
    const { dir, spec, client, env } = p;
    const storageDir = path.join(dir, 'backups');
    const ctl = (args: string[]) => etcdctl(p.binaries, [p.endpoint], args);

    // --prefix with --keys: the live keys under it, in byte order, no values.
    const keys = await runCli(
      ['snapshot', 'inspect', p.fileA, '--prefix', '__table_name/', '--keys', '-o', 'json'],
      {
        cwd: dir,
      },
    );
    assert.equal(keys.code, 0, keys.stderr);
    const keysReport = keys.json<SnapshotInspection>();
    assert.equal(keysReport.prefix, '__table_name/');
    assert.equal(keysReport.prefixKeyCount, 5);
    assert.equal(keysReport.keyCount, 27, 'the key count stays the whole snapshot');
    assert.deepEqual(
      keysReport.keys?.map((k) => [k.key, k.keyEncoding]),
      [
        '__table_name/analytics/public/events',
        '__table_name/analytics/public/sessions',
        '__table_name/greptime/metrics/disk',
        '__table_name/greptime/public/cpu',
        '__table_name/greptime/public/mem',
      ].map((k) => [k, 'utf8']),
    );
    assert.equal(keysReport.keys?.[0]?.valueSize, '{"table_id":1027}'.length);
    assert.equal((keysReport.keys?.[0] as { value?: unknown }).value, undefined, '--keys reads no values');

    // --values: values as UTF-8 when valid, else base64, with etcd's revision fields.
    const values = await runCli(
      ['snapshot', 'inspect', p.fileA, '--prefix', '__meta_seq-', '--values', '-o', 'json'],
      {
        cwd: dir,
      },
    );
    assert.equal(values.code, 0, values.stderr);
    const seqs = values.json<SnapshotInspection>().keys as unknown as {
      key: string;
      value: string;
      valueEncoding: string;
      version: number;
      modRevision: number;
      lease: string;
    }[];
    assert.deepEqual(
      seqs.map((s) => [s.key, s.valueEncoding]),
      [
        ['__meta_seq-flow_id', 'base64'],
        ['__meta_seq-table_id', 'utf8'],
      ],
    );
    assert.deepEqual(Buffer.from(seqs[0]?.value ?? '', 'base64'), u64le(255));
    assert.deepEqual(Buffer.from(seqs[1]?.value ?? '', 'utf8'), u64le(1030));
    assert.equal(seqs[0]?.version, 1);
    assert.equal(seqs[0]?.lease, '0');
    assert.ok((seqs[0]?.modRevision ?? 0) > 1);
    const leader = await runCli(
      ['snapshot', 'inspect', p.fileA, '--prefix', '__metasrv', '--values', '-o', 'json'],
      {
        cwd: dir,
      },
    );
    const leaderKv = leader.json<SnapshotInspection>().keys?.[0] as { value: string; lease: string };
    assert.equal(leaderKv.value, 'metasrv-0');
    assert.notEqual(leaderKv.lease, '0', 'the election key is bound to its lease');

    // The same for people: keys one per line, values indented, binary ones marked as base64.
    const valuesTable = await runCli(['snapshot', 'inspect', p.fileA, '--prefix', '__', '--values'], {
      cwd: dir,
    });
    assert.equal(valuesTable.code, 0, valuesTable.stderr);
    assert.match(valuesTable.stdout, /\n__meta_seq-flow_id\n {2}\(base64\) \/wAAAAAAAAA=\n/);
    assert.match(valuesTable.stdout, /\n__catalog_name\/greptime\n {2}\{\}\n/);
    assert.match(valuesTable.stdout, /PREFIX "__"\s+│ 26 live keys/);
    const keysTable = await runCli(['snapshot', 'inspect', p.fileA, '--keys'], { cwd: dir });
    const listed = keysTable.stdout.split('\n').filter((l) => /^(__|\/|hello)/.test(l));
    assert.equal(listed.length, 27);
    assert.ok(
      listed.includes('__tombstone/__table_name/greptime/public/dropped') && listed.includes('hello'),
    );

    // State B: a table created, one dropped, a route and a sequence changed, a catalog rewritten unchanged.
    await client.put('__table_name/greptime/public/net', '{"table_id":1030}');
    await client.put('__table_info/1030', '{"table_info":{},"version":1}');
    await client.put('__table_route/1030', '{"type":"physical"}');
    await ctl(['del', '__table_name/analytics/public/sessions']);
    await ctl(['del', '__table_info/1028']);
    await ctl(['del', '__table_route/1028']);
    await ctl(['del', 'hello']);
    await client.put(
      '__table_route/1024',
      JSON.stringify({ type: 'physical', region_routes: [{ region: 2 }] }),
    );
    await client.put('__meta_seq-table_id', u64le(1031));
    await client.put('__catalog_name/analytics', '{}');
    const revisionB = (await client.countKeys()).revision;
    const fileB = path.join(dir, 'b.db');
    await ctl(['snapshot', 'save', fileB]);

    const diff = await runCli(['snapshot', 'diff', p.fileA, fileB, '--keys', '-o', 'json'], { cwd: dir });
    assert.equal(diff.code, 0, diff.stderr);
    assert.equal(diff.stderr, '');
    const d = diff.json<DiffJson>();
    assert.deepEqual([d.a.kind, d.a.revision, d.a.keyCount], ['file', p.revisionA, 27]);
    assert.deepEqual([d.b.kind, d.b.revision, d.b.keyCount], ['file', revisionB, 26]);
    assert.deepEqual(changeLists(d), {
      added: ['__table_info/1030', '__table_name/greptime/public/net', '__table_route/1030'],
      removed: ['__table_info/1028', '__table_name/analytics/public/sessions', '__table_route/1028', 'hello'],
      changed: ['__meta_seq-table_id', '__table_route/1024'],
      rewritten: ['__catalog_name/analytics'],
    });
    assert.deepEqual(
      [d.added, d.removed, d.changed, d.rewritten, d.unchanged],
      [3, 4, 2, 1, 20],
      'unchanged: 27 − 4 removed − 2 changed − 1 rewritten',
    );
    const group = (
      prefix: string,
      added: number,
      removed: number,
      changed: number,
      rewritten: number,
      unchanged: number,
    ) => ({
      prefix,
      prefixEncoding: 'utf8',
      added,
      removed,
      changed,
      rewritten,
      unchanged,
    });
    assert.deepEqual(d.byPrefix, [
      group('__catalog_name/', 0, 0, 0, 1, 1),
      group('__flow/', 0, 0, 0, 0, 2),
      group('__meta_seq-flow_id', 0, 0, 0, 0, 1),
      group('__meta_seq-table_id', 0, 0, 1, 0, 0),
      group('__metasrv_election/', 0, 0, 0, 0, 1),
      group('__schema_name/', 0, 0, 0, 0, 3),
      group('__table_info/', 1, 1, 0, 0, 4),
      group('__table_name/', 1, 1, 0, 0, 4),
      group('__table_route/', 1, 1, 1, 0, 3),
      group('__tombstone/', 0, 0, 0, 0, 1),
      group('hello', 0, 1, 0, 0, 0),
    ]);
    const changedRoute = d.changes?.find((c) => c.key === '__table_route/1024');
    assert.ok(changedRoute?.a && changedRoute.b, 'a changed key carries both sides');

    // Counts only without --keys; --prefix narrows both sides; the table for people.
    const counted = await runCli(['snapshot', 'diff', p.fileA, fileB, '--prefix', '__table_', '-o', 'json'], {
      cwd: dir,
    });
    const c = counted.json<DiffJson>();
    assert.equal(c.changes, null);
    assert.deepEqual(
      [c.added, c.removed, c.changed, c.rewritten, c.unchanged, c.a.keyCount],
      [3, 3, 1, 0, 11, 15],
    );
    const diffTable = await runCli(['snapshot', 'diff', p.fileA, fileB, '--keys'], { cwd: dir });
    assert.equal(diffTable.code, 0, diffTable.stderr);
    assert.match(diffTable.stdout, /^added {6}__table_info\/1030 {2}\(mod \d+\)$/m);
    assert.match(diffTable.stdout, /^removed {4}hello {2}\(mod \d+\)$/m);
    assert.match(diffTable.stdout, /^rewritten {2}__catalog_name\/analytics {2}\(mod \d+ → \d+\)$/m);
    assert.match(diffTable.stdout, /│ TOTAL\s+│ 3\s+│ 4\s+│ 2\s+│ 1\s+│ 20\s+│/);
    assert.match(diffTable.stderr, /3 added, 4 removed, 2 changed, 1 rewritten .*20 unchanged/);

    // A backup of state B (exactly its keys: the backup lock lives in the storage): by name and as `latest`.
    const created = await runCli(['--config', spec, 'backup', 'create', '-o', 'json'], { env });
    assert.equal(created.code, 0, created.stderr);
    const backup = created.json<{ backup: { name: string; revision: number } }>().backup;
    const byName = await runCli(['snapshot', 'inspect', backup.name, '--storage', storageDir, '-o', 'json'], {
      cwd: dir,
      env,
    });
    assert.equal(byName.code, 0, byName.stderr);
    const named = byName.json<SnapshotInspection>();
    assert.equal(named.source.kind, 'backup');
    assert.equal(named.source.backup, backup.name);
    assert.equal(named.source.file, null);
    assert.equal(named.revision, backup.revision);
    assert.equal(named.keyCount, 26, "state B's 26 keys, nothing of our own");
    const latest = await runCli(['--config', spec, 'snapshot', 'inspect', 'latest'], { env });
    assert.equal(latest.code, 0, latest.stderr);
    assert.ok(latest.stdout.includes(`backup ${backup.name} in`), latest.stdout);
    const againstBackup = await runCli(
      ['snapshot', 'diff', fileB, 'latest', '--storage', storageDir, '--keys', '-o', 'json'],
      { cwd: dir, env },
    );
    assert.equal(againstBackup.code, 0, againstBackup.stderr);
    const ab = againstBackup.json<DiffJson>();
    assert.equal(ab.b.kind, 'backup');
    assert.equal(ab.b.backup, backup.name);
    assert.deepEqual(changeLists(ab), {
      added: [],
      removed: [],
      changed: [],
      rewritten: [],
    });

    // Against the live cluster after more writes.
    await client.put('hello', 'again');
    await ctl(['del', '__flow/name/greptime/f1']);
    await client.put('__table_info/1024', tableInfo(1024, 2));
    const revisionLive = (await client.countKeys()).revision;
    const live = await runCli(['--config', spec, 'snapshot', 'diff', fileB, '--keys', '-o', 'json']);
    assert.equal(live.code, 0, live.stderr);
    const l = live.json<DiffJson>();
    assert.deepEqual(
      [l.b.kind, l.b.endpoint, l.b.revision, l.b.keyCount],
      ['live', p.endpoint, revisionLive, 26],
    );
    assert.deepEqual(changeLists(l), {
      added: ['hello'],
      removed: ['__flow/name/greptime/f1'],
      changed: ['__table_info/1024'],
      rewritten: [],
    });
    assert.equal(l.unchanged, 24);
    const liveByEndpoints = await runCli(
      ['snapshot', 'diff', fileB, '--endpoints', p.endpoint, '--prefix', '__table_info/', '-o', 'json'],
      { cwd: dir },
    );
    assert.equal(liveByEndpoints.code, 0, liveByEndpoints.stderr);
    const le = liveByEndpoints.json<DiffJson>();
    assert.deepEqual([le.added, le.removed, le.changed, le.rewritten, le.unchanged], [0, 0, 1, 0, 4]);
    // The live side is read in pages pinned to one revision: small pages give the same keys as etcdctl.
    const paged = await openLiveKeys({
      endpoints: [p.endpoint],
      connection: { dialTimeoutMs: 2000, commandTimeoutMs: 5000 },
      pageSize: 4,
    });
    const pagedKeys: string[] = [];
    try {
      for await (const r of paged.records) pagedKeys.push(r.key.toString());
    } finally {
      paged.close();
    }
    assert.equal(paged.revision, revisionLive);
    assert.deepEqual(
      pagedKeys,
      (await ctl(['get', '', '--prefix', '--keys-only'])).split('\n').filter(Boolean),
    );

    // A damaged (truncated) file: exit 1 naming the damage; also as either side of a diff.
    const damaged = path.join(dir, 'damaged.db');
    await copyFile(fileB, damaged);
    await truncate(damaged, Math.floor((await stat(damaged)).size / 2));
    const broken = await runCli(['snapshot', 'inspect', damaged], { cwd: dir });
    assert.equal(broken.code, 1, broken.stderr);
    assert.match(broken.stderr, new RegExp(`^error: snapshot ${damaged} is damaged: \\S.*`, 'm'));
    assert.match(broken.stderr, /^hint: /m);
    assert.equal(broken.stdout, '');
    const brokenDiff = await runCli(['snapshot', 'diff', p.fileA, damaged, '-o', 'json'], { cwd: dir });
    assert.equal(brokenDiff.code, 1, brokenDiff.stderr);
    assert.equal(brokenDiff.stdout, '');

    // Missing: a file, a backup name, a name with no storage to look it up in: exit 2.
    const missingFile = await runCli(['snapshot', 'inspect', path.join(dir, 'nope.db')], { cwd: dir });
    assert.equal(missingFile.code, 2, missingFile.stderr);
    assert.match(missingFile.stderr, /no such snapshot file/);
    const missingBackup = await runCli(
      ['snapshot', 'inspect', 'etcd-20000101T000000Z', '--storage', storageDir],
      {
        cwd: dir,
        env,
      },
    );
    assert.equal(missingBackup.code, 2, missingBackup.stderr);
    assert.match(missingBackup.stderr, /no backup named 'etcd-20000101T000000Z'/);
    const noSpecDir = await tempDir(cleanup, 'snapshot-nospec');
    const noStorage = await runCli(['snapshot', 'diff', 'a-name', fileB], { cwd: noSpecDir });
    assert.equal(noStorage.code, 2, noStorage.stderr);
    assert.match(noStorage.stderr, /not a file, and there is no backup storage/);
  });
});
