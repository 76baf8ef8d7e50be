/**
 * The fold alone, offline (`node dist/bench/pitr-fold-offline.js`; run it under `node --cpu-prof`
 * to see where the time goes): a base snapshot of BENCH_FOLD_TABLES GreptimeDB tables (name,
 * info 2–20 KiB, route) written with the bulk writer, a change log of BENCH_FOLD_REVISIONS
 * revisions with the fold bench's mix (info rewrites, route moves, procedure steps) in 16 MiB
 * segments on local storage, then `foldToSnapshotFile` with the restore's digest kept
 * (`NetChanges.apply` per revision) — what `restore --to-revision` spends in the fold, without
 * etcd, the fetch or the compare. Prints the fold rate.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { writeEtcdSnapshotFile } from '../snapshot/etcd-snapshot-writer.js';
import { NetChanges } from '../engine/pitr/digest.js';
import { foldToSnapshotFile } from '../engine/pitr/fold-file.js';
import { encodeKeyValue, revisionKey, u64BE } from '../engine/pitr/fold-records.js';
import { listSegments } from '../engine/pitr/segment.js';
import { openStorage } from '../storage/open.js';
import { tableInfoValue, tableRouteValue } from './greptime-values.js';
import { foldBenchTables, writeSyntheticLog } from './pitr-fold-log.js';

const log = (message: string) => process.stderr.write(`bench fold-offline: ${message}\n`);

/** Builds the base and the log in a temp dir, folds it, returns the figures. */
export async function benchFoldOffline(): Promise<Record<string, unknown>> {
  const tableCount = Number(process.env['BENCH_FOLD_TABLES'] ?? 1000);
  const revisions = Number(process.env['BENCH_FOLD_REVISIONS'] ?? 20_000);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'steward-bench-fold-offline-'));
  try {
    const tables = foldBenchTables(tableCount);
    // Key → [create revision, version].
    const state = new Map<string, [number, number]>();
    const baseEntries: [Buffer, Buffer][] = [];
    let head = 1;
    const basePut = (key: string, value: string) => {
      head += 1;
      state.set(key, [head, 1]);
      baseEntries.push([
        revisionKey(head, 0, false),
        encodeKeyValue({
          key: Buffer.from(key),
          value: Buffer.from(value),
          createRevision: head,
          modRevision: head,
          version: 1,
          lease: '0',
        }),
      ]);
    };
    for (const t of tables) {
      basePut(`__table_name/${t.catalog}/${t.schema}/${t.name}`, JSON.stringify({ table_id: t.id }));
      basePut(`__table_info/${t.id}`, tableInfoValue(t));
      basePut(`__table_route/${t.id}`, tableRouteValue(t));
    }
    const baseFile = path.join(dir, 'base.db');
    await writeEtcdSnapshotFile(baseFile, [
      { name: Buffer.from('key'), entries: baseEntries },
      {
        name: Buffer.from('meta'),
        entries: [
          [Buffer.from('consistent_index'), u64BE(head)],
          [Buffer.from('term'), u64BE(2)],
        ],
      },
    ]);
    const baseRevision = head;
    const storage = await openStorage(path.join(dir, 'backups'));
    head = await writeSyntheticLog(storage, tables, state, head, revisions);
    const segments = await listSegments(storage);
    log(
      `base ${tableCount} tables at revision ${baseRevision}; ${revisions} revisions in ${segments.length} segments`,
    );
    const changes = new NetChanges();
    // BENCH_FOLD_CPU_PROFILE=FILE: a .cpuprofile of the fold alone (not of the setup).
    const profileFile = process.env['BENCH_FOLD_CPU_PROFILE'];
    const session = profileFile ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const folded = await foldToSnapshotFile({
      storage,
      baseFile,
      baseRevision,
      segments,
      out: path.join(dir, 'folded.db'),
      onRevision: (r) => changes.apply(r),
    });
    const ms = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    if (session && profileFile) {
      const { profile } = await session.post('Profiler.stop');
      await writeFile(profileFile, JSON.stringify(profile));
      session.disconnect();
    }
    if (folded.lastRevision !== head) throw new Error(`folded to ${folded.lastRevision}, expected ${head}`);
    const rate = Math.round(folded.revisions / (ms / 1000));
    const figures = {
      tables: tableCount,
      revisions: folded.revisions,
      foldMs: Math.round(ms),
      foldRevisionsPerSecond: rate,
      // What the fold costs in CPU (user + system of this process): steadier than the wall
      // rate on a shared machine.
      foldCpuMs: Math.round(cpuMs),
      revisionsPerCpuSecond: Math.round(folded.revisions / (cpuMs / 1000)),
      bytes: folded.bytes,
      loadAverage: os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' '),
    };
    process.stdout.write(`${JSON.stringify(figures)}\n`);
    return figures;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  benchFoldOffline().catch((error: unknown) => {
    log(String(error));
    process.exitCode = 1;
  });
}
