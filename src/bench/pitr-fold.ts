/**
 * The fold benchmark (`node dist/bench/pitr-fold.js`, or `BENCH_ONLY=fold npm run bench`): a real
 * 1-member etcd 3.6 loaded with GreptimeDB-shaped metadata (BENCH_FOLD_TABLES tables, default
 * 2 000: table name, info 2–20 KiB, route), a full backup of it, then a change log of
 * BENCH_FOLD_REVISIONS revisions (default 50 000) written **synthetically** in the change log's own
 * format with the same mix as the pitr bench (info rewrites, route moves, procedure steps), with
 * correct create revisions and versions. Measures: `restore --to-revision HEAD --new-cluster`
 * (fetch, fold, check, etcdutl, start, compare) and its fold rate; the time to recover to 25 min
 * after a snapshot at 500 writes/s (750 000 revisions), extrapolated from the fold rate plus the
 * measured fixed part; `backup compact` time and output size against a live snapshot of the same
 * state (the restored cluster's).
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'yaml';
import { renderTable } from '../cli/output.js';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient } from '../etcd/member-client.js';
import { openStorage } from '../storage/open.js';
import { runCli } from '../testing/harness.js';
import { tableInfoValue, tableRouteValue } from './greptime-values.js';
import { foldBenchTables, writeSyntheticLog } from './pitr-fold-log.js';

const log = (message: string) => process.stderr.write(`bench fold: ${message}\n`);

export async function benchFold(): Promise<Record<string, unknown>> {
  const tableCount = Number(process.env['BENCH_FOLD_TABLES'] ?? 2000);
  const revisions = Number(process.env['BENCH_FOLD_REVISIONS'] ?? 50_000);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'steward-bench-fold-'));
  const env = { ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool') };
  const specFile = path.join(dir, 'steward.yaml');
  await writeFile(
    specFile,
    stringify({
      name: 'bench',
      members: 1,
      dataDir: './data',
      etcd: { version: '3.6', quotaBackendBytes: '8GiB' },
      backup: { storage: './backups', retention: { keepLast: 100 } },
    }),
  );
  try {
    const up = await runCli(['--config', specFile, 'up', '--detach', '-o', 'json'], { env });
    if (up.code !== 0) throw new Error(`up failed: ${up.stderr}`);
    const client = new MemberClient(
      parseEndpoint(up.json<{ endpoints: string[] }>().endpoints[0] as string),
      {
        dialTimeoutMs: 5000,
        commandTimeoutMs: 30_000,
      },
    );
    const tables = foldBenchTables(tableCount);
    // Key → [create revision, version] as etcd will have them.
    const state = new Map<string, [number, number]>();
    let head = 1;
    const put = async (key: string, value: string) => {
      head = (await client.put(key, value)).revision;
      const before = state.get(key);
      state.set(key, before ? [before[0], before[1] + 1] : [head, 1]);
    };
    log(`loading ${tableCount} tables`);
    for (const t of tables) {
      await put(`__table_name/${t.catalog}/${t.schema}/${t.name}`, JSON.stringify({ table_id: t.id }));
      await put(`__table_info/${t.id}`, tableInfoValue(t));
      await put(`__table_route/${t.id}`, tableRouteValue(t));
    }
    client.close();
    const full = await runCli(['--config', specFile, 'backup', 'create', '-o', 'json'], { env });
    if (full.code !== 0) throw new Error(`backup create failed: ${full.stderr}`);
    const base = full.json<{ backup: { revision: number; size: number } }>().backup;
    head = base.revision;
    log(`base at revision ${head} (${base.size} bytes); writing ${revisions} synthetic revisions`);
    const storage = await openStorage(path.join(dir, 'backups'));
    head = await writeSyntheticLog(storage, tables, state, head, revisions);
    const started = Date.now();
    const restore = await runCli(
      [
        '--config',
        specFile,
        'restore',
        '--to-revision',
        String(head),
        '--new-cluster',
        'folded',
        '--yes',
        '-o',
        'json',
      ],
      { env, timeoutMs: 1_800_000 },
    );
    const restoreMs = Date.now() - started;
    if (restore.code !== 0) throw new Error(`restore failed: ${restore.stderr}`);
    const r = restore.json<{
      endpoints: string[];
      match: boolean;
      pointInTime: { replay: { revisions: number; durationMs: number; revisionsPerSecond: number } };
    }>();
    const rate = r.pointInTime.replay.revisionsPerSecond;
    const fixedMs = restoreMs - r.pointInTime.replay.durationMs;
    const goalRevisions = 25 * 60 * 500;
    const recoverS = (goalRevisions / rate + fixedMs / 1000).toFixed(1);
    const compactStarted = Date.now();
    const compact = await runCli(['--config', specFile, 'backup', 'compact', '-o', 'json'], {
      env,
      timeoutMs: 1_800_000,
    });
    const compactMs = Date.now() - compactStarted;
    if (compact.code !== 0) throw new Error(`compact failed: ${compact.stderr}`);
    const compacted = compact.json<{ backup: { size: number; storedSize: number } }>().backup;
    const restored = new MemberClient(parseEndpoint(r.endpoints[0] as string), {
      dialTimeoutMs: 5000,
      commandTimeoutMs: 60_000,
    });
    const liveFile = path.join(dir, 'live.db');
    await pipeline((await restored.snapshot()).bytes, createWriteStream(liveFile));
    restored.close();
    const liveSize = (await stat(liveFile)).size;
    const figures = {
      tables: tableCount,
      baseBytes: base.size,
      revisions,
      foldRevisionsPerSecond: rate,
      restoreSeconds: restoreMs / 1000,
      fixedSeconds: fixedMs / 1000,
      recoverTo25MinSeconds: Number(recoverS),
      compactSeconds: compactMs / 1000,
      compactBytes: compacted.size,
      compactStoredBytes: compacted.storedSize,
      liveSnapshotBytes: liveSize,
      match: r.match,
    };
    process.stdout.write(
      `${renderTable(
        ['FOLD', 'figure'],
        [
          ['log', `${revisions} GreptimeDB-shaped revisions (synthetic) over a ${tableCount}-table base`],
          ['fold rate', `${rate} revisions/s`],
          ['restore --to-revision (new cluster started, compared)', `${(restoreMs / 1000).toFixed(1)} s`],
          ['recover to 25 min after a snapshot at 500 writes/s (extrapolated)', `${recoverS} s`],
          [
            'backup compact',
            `${(compactMs / 1000).toFixed(1)} s, ${compacted.size} bytes (live snapshot: ${liveSize})`,
          ],
        ],
      )}\n`,
    );
    return figures;
  } finally {
    await runCli(['--config', specFile, 'down', '--purge'], { env }).catch(() => undefined);
    const restoredSpec = path.join(dir, 'folded.yaml');
    await writeFile(restoredSpec, stringify({ name: 'folded', members: 1, dataDir: './data-folded' }));
    await runCli(['--config', restoredSpec, 'down', '--purge'], { env }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  benchFold()
    .then((f) => log(JSON.stringify(f)))
    .catch((error: unknown) => {
      log(String(error));
      process.exitCode = 1;
    });
}
