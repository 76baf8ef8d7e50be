/**
 * `npm run bench`: starts a local 3-member cluster of the main etcd line (3.6) in a temp dir,
 * measures each row side by side with etcd's own tools in one run, prints a table of ratios and
 * writes bench-results/latest.json. Never part of `npm test`: figures, not assertions.
 *
 * Rows: `status` on the empty cluster; then a GreptimeDB-shaped database of BENCH_DB_MIB
 * (default 1024) is written, and `backup create` (file, gzip, S3 on MinIO), its peak RSS and the
 * offline reader are measured against etcdctl/etcdutl on it. Everything started is stopped and
 * every temp dir removed, also on failure and on Ctrl-C. `recover` (quorum loss) runs on
 * clusters of its own (recover.ts), BENCH_RECOVER_KEYS keys (default 2000).
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseSpec } from '../config/load.js';
import type { EtcdLine } from '../config/etcd-lines.js';
import { clusterStatus } from '../engine/status.js';
import { upCluster } from '../engine/up.js';
import { renderTable } from '../cli/output.js';
import { resolveEtcd } from '../runtime/etcd-binaries.js';
import { Cleanup } from '../testing/harness.js';
import { parseEndpoint } from '../etcd/endpoint.js';
import { benchAgent } from './agent.js';
import { MemberClient } from '../etcd/member-client.js';
import { clientUrl, memberPaths } from '../runtime/local/member-process.js';
import { timeProcess } from './measure.js';
import {
  defragRows,
  fragment,
  measurePhase,
  runEtcdctl,
  runOurs,
  type DefragBenchContext,
} from './defrag.js';
import {
  benchDiff,
  benchRestore,
  changeDiffKeys,
  prepareDiffKeys,
  type RestoreBenchContext,
} from './restore.js';
import { benchBackupToFile, type BackupBenchContext } from './backup.js';
import { copyBuild } from './build-copy.js';
import { seedFromSnapshot } from './seed.js';
import { loadGreptimeData, type LoadResult } from './data.js';
import { mib, seconds, type BenchRow } from './measure.js';
import { hasGnuTime } from './rss.js';
import { benchReader, benchReaderOnSnapshot } from './reader.js';
import { benchS3 } from './s3.js';
import { benchStatus } from './status.js';
import { benchReplace } from './replace.js';
import { benchWriter } from './writer.js';

const line = (process.env['BENCH_ETCD_LINE'] ?? '3.6') as EtcdLine;
const runs = Number(process.env['BENCH_RUNS'] ?? 21);
const backupRuns = Number(process.env['BENCH_BACKUP_RUNS'] ?? 5);
const s3Runs = Number(process.env['BENCH_S3_RUNS'] ?? 3);
const dbMib = Number(process.env['BENCH_DB_MIB'] ?? 1024);
const restoreRuns = Number(process.env['BENCH_RESTORE_RUNS'] ?? 3);
const loadRate = Number(process.env['BENCH_LOAD_RATE'] ?? 40);
const loadDeadlineMs = Number(process.env['BENCH_LOAD_DEADLINE_MS'] ?? 5000);
const IN_FLIGHT = 128;
/**
 * BENCH_ONLY=restore,defrag runs only those groups of rows (status, agent, backup, reader, restore, defrag, replace, recover, pitr, writer, upgrade);
 * unset: all of them. The data load runs whenever a group after status is chosen.
 */
const only = new Set((process.env['BENCH_ONLY'] ?? '').split(',').filter(Boolean));
const want = (group: string): boolean => only.size === 0 || only.has(group);
/**
 * BENCH_SAVE_SNAPSHOT=FILE keeps a snapshot of the loaded database (etcdctl snapshot save);
 * BENCH_SEED_SNAPSHOT=FILE builds the bench cluster from such a snapshot (etcdutl, then up)
 * instead of loading the data again: the load alone takes many minutes on a busy machine.
 */
const saveSnapshot = process.env['BENCH_SAVE_SNAPSHOT'];
const seedSnapshot = process.env['BENCH_SEED_SNAPSHOT'];

const log = (message: string) => process.stderr.write(`bench: ${message}\n`);

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  // One cleanup, whoever asks first: a signal, or the run ending (also by the failure a signal
  // causes); two at once would remove the temp dir while members are still being stopped.
  let cleaning: Promise<void> | undefined;
  const cleanUp = () => (cleaning ??= cleanup.run());
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping the cluster and MinIO, removing temp dirs`);
    void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const binaries = await resolveEtcd(line);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'steward-bench-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const targetBytes = dbMib * 2 ** 20;
  const quota = Math.min(8 * 2 ** 30, Math.max(2 * 2 ** 30, 2 * targetBytes + 2 ** 30));
  log(
    `etcd ${binaries.version}, 3 members in ${dir}, ${runs} runs for status, ${backupRuns} per backup ` +
      `figure, ${s3Runs} for S3, ${seedSnapshot ? `the database of ${seedSnapshot}` : `a ${dbMib} MiB database`}, ${os.cpus().length} cores` +
      (hasGnuTime() ? '' : '; no /usr/bin/time (apt-get install time): peak RSS is polled'),
  );
  const loadBefore = os.loadavg();
  const connection = { dialTimeoutMs: 2000, commandTimeoutMs: 5000 };
  const rows: BenchRow[] = [];
  let data: LoadResult | undefined;
  let failure: Error | undefined;
  try {
    const specText =
      `name: bench\nmembers: 3\ndataDir: ${dir}/data\n` +
      `etcd: { version: "${line}", unsafeNoFsync: true, quotaBackendBytes: ${quota} }\n`;
    const specFile = path.join(dir, 'steward.yaml');
    await writeFile(specFile, specText);
    const spec = parseSpec(specText, specFile);
    const build = await copyBuild(path.join(dir, 'pkg'));
    log(`measuring a private copy of this build: ${build.cli}`);
    if (seedSnapshot) {
      log(`building the cluster from ${seedSnapshot} (BENCH_SEED_SNAPSHOT)`);
      await seedFromSnapshot(spec, binaries, seedSnapshot);
    }
    const { runtime, status } = await upCluster({ spec, binaries, connection });
    cleanup.add(() => runtime.stop());
    const endpoints = await runtime.endpoints();
    if (want('status')) rows.push(await benchStatus(binaries, endpoints, runs, dir, build.cli));
    if (want('agent'))
      rows.push(await benchAgent({ cli: build.cli, binaries, dir, quota, env: process.env, log }));
    if (
      want('data') ||
      want('backup') ||
      want('reader') ||
      want('restore') ||
      want('defrag') ||
      want('replace') ||
      want('writer')
    ) {
      const leader = status.members.find((m) => m.isLeader)?.endpoint ?? endpoints[0] ?? '';
      if (seedSnapshot === undefined) {
        log(`writing a GreptimeDB-shaped database of ${dbMib} MiB to the leader ${leader}`);
        data = await loadGreptimeData({
          endpoint: leader,
          etcdctl: binaries.etcdctl,
          connection,
          targetBytes,
          inFlight: IN_FLIGHT,
          onProgress: log,
        });
        cleanup.add(data.release);
        log(`data written in ${seconds(data.ms)}`);
        rows.push(dataRow(data));
      }

      const now = await clusterStatus({ endpoints, connection });
      const follower = now.members.find((m) => m.health.ok && m.isLeader === false)?.endpoint ?? leader;
      if (saveSnapshot) {
        await timeProcess(binaries.etcdctl, [`--endpoints=${follower}`, 'snapshot', 'save', saveSnapshot], {
          env: process.env,
          cwd: dir,
        });
        log(`snapshot of the loaded database kept in ${saveSnapshot} (BENCH_SAVE_SNAPSHOT)`);
      }
      const ctx: BackupBenchContext = {
        binaries,
        cli: build.cli,
        dist: build.dist,
        endpoints,
        follower,
        dir,
        runs: backupRuns,
        env: {
          ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCDCTL_'))),
          ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool'),
        },
        log,
      };
      if (want('backup')) {
        const file = await benchBackupToFile(ctx);
        rows.push(...file.rows);
        rows.push(await benchS3(ctx, cleanup, s3Runs, file.etcdctlMs));
        rows.push(
          ...(await benchReader({
            binaries,
            dist: build.dist,
            file: file.snapshotFile,
            fileBytes: file.snapshotBytes,
            runs: backupRuns,
            cwd: dir,
            env: ctx.env,
            log,
          })),
        );
      }
      if (want('writer')) {
        // The snapshot to rewrite: the seed when there is one, else a fresh one of the loaded database.
        const file = seedSnapshot ?? saveSnapshot ?? path.join(dir, 'writer-input.db');
        if (file !== seedSnapshot && file !== saveSnapshot)
          await timeProcess(binaries.etcdctl, [`--endpoints=${follower}`, 'snapshot', 'save', file], {
            env: ctx.env,
            cwd: dir,
          });
        rows.push(
          ...(await benchWriter({ dist: build.dist, file, runs: backupRuns, dir, env: ctx.env, log })),
        );
      }
      if (want('reader') && !want('backup')) rows.push(...(await benchReaderOnSnapshot(ctx, build.dist)));
      const leaderClient = new MemberClient(parseEndpoint(leader), connection);
      cleanup.add(() => Promise.resolve(leaderClient.close()));
      if (want('restore')) {
        const rctx: RestoreBenchContext = {
          binaries,
          cli: build.cli,
          dir,
          env: ctx.env,
          quota,
          line,
          runs: restoreRuns,
          log,
        };
        const save = (file: string) =>
          timeProcess(binaries.etcdctl, [`--endpoints=${follower}`, 'snapshot', 'save', file], {
            env: ctx.env,
            cwd: dir,
          });
        const fileA = path.join(dir, 'restore-a.db');
        const fileB = path.join(dir, 'restore-b.db');
        await prepareDiffKeys(leaderClient);
        await save(fileA);
        log(`restore: snapshot A ${fileA}, ${(await stat(fileA)).size} bytes`);
        rows.push(await benchRestore(rctx, fileA));
        const expected = await changeDiffKeys(leaderClient);
        await save(fileB);
        rows.push(
          await benchDiff(rctx, fileA, fileB, expected, [(await stat(fileA)).size, (await stat(fileB)).size]),
        );
        await rm(fileA, { force: true });
        await rm(fileB, { force: true });
      }
      if (want('defrag')) {
        const state = await runtime.state();
        const logs = new Map(
          (state?.members ?? []).map((m) => [
            clientUrl(state!, m),
            memberPaths(spec.dataDir, m.name).logFile,
          ]),
        );
        const dctx: DefragBenchContext = {
          binaries,
          cli: build.cli,
          specFile,
          endpoints,
          logs,
          dir,
          env: ctx.env,
          junkBytes: Number(process.env['BENCH_JUNK_MIB'] ?? Math.max(64, dbMib / 2)) * 2 ** 20,
          rate: loadRate,
          deadlineMs: loadDeadlineMs,
          log,
        };
        const clients = endpoints.map(
          (e) => new MemberClient(parseEndpoint(e), { dialTimeoutMs: 2000, commandTimeoutMs: 600_000 }),
        );
        cleanup.add(() => Promise.resolve(clients.forEach((c) => c.close())));
        const idleMs = Number(process.env['BENCH_IDLE_MS'] ?? 20_000);
        const idle = await measurePhase(dctx, clients, 'idle', async () => {
          await new Promise((r) => setTimeout(r, idleMs));
          return { plannedMoves: 0 };
        });
        await fragment(dctx, clients);
        const ours = await measurePhase(dctx, clients, 'etcd-steward defrag', () => runOurs(dctx));
        await fragment(dctx, clients);
        const theirs = await measurePhase(dctx, clients, 'etcdctl defrag --cluster', () => runEtcdctl(dctx));
        rows.push(...defragRows(idle, ours, theirs, dctx));
      }
      if (want('replace'))
        rows.push(
          ...(await benchReplace({
            binaries,
            cli: build.cli,
            specFile,
            spec,
            endpoints,
            dir,
            env: ctx.env,
            rate: loadRate,
            deadlineMs: loadDeadlineMs,
            log,
          })),
        );
    }
    if (want('recover')) {
      const { benchRecover } = await import('./recover.js');
      rows.push(
        await benchRecover({
          binaries,
          cli: build.cli,
          dir,
          keys: Number(process.env['BENCH_RECOVER_KEYS'] ?? 2000),
          env: process.env,
          cleanup,
          log,
        }),
      );
    }
    if (want('upgrade')) {
      const { benchUpgrade } = await import('./upgrade.js');
      rows.push(
        ...(await benchUpgrade({
          cli: build.cli,
          dir,
          dbMib,
          rate: loadRate,
          env: process.env,
          log,
          onCleanup: (fn) => cleanup.add(fn),
        })),
      );
    }
    // Point-in-time restore (its own cluster and agent); figures also in bench-results/pitr.json.
    if (want('pitr')) log(`pitr: ${JSON.stringify(await (await import('./pitr.js')).benchPitr())}`);
    if (want('fold')) log(`fold: ${JSON.stringify(await (await import('./pitr-fold.js')).benchFold())}`);
  } catch (error) {
    failure = error instanceof Error ? error : new Error(JSON.stringify(error));
  } finally {
    await cleanUp();
  }
  // Other work on the machine skews every figure: say how busy it was.
  const loadAfter = os.loadavg();
  log(
    `load average at start ${loadBefore.map((l) => l.toFixed(1)).join(' ')}, at end ${loadAfter.map((l) => l.toFixed(1)).join(' ')}`,
  );
  process.stdout.write(
    `${renderTable(
      ['BENCHMARK', 'ETCD-STEWARD', 'ETCD TOOLS', 'RATIO', 'GOAL', 'MET', 'NOTE'],
      rows.map((r) => [
        r.name,
        r.ours,
        r.theirs,
        r.ratio === undefined ? '-' : r.ratio.toFixed(2),
        r.goal,
        r.met === undefined ? '-' : r.met ? 'yes' : 'NO',
        wrap(r.note, 72),
      ]),
    )}\n`,
  );
  await mkdir('bench-results', { recursive: true });
  const report = {
    date: new Date().toISOString(),
    etcd: binaries.version,
    node: process.version,
    cores: os.cpus().length,
    loadAverage: { start: loadBefore, end: loadAfter },
    runs,
    backupRuns,
    s3Runs,
    dbMib,
    only: [...only],
    restoreRuns,
    loadRate,
    loadDeadlineMs,
    data: data && { ...data, release: undefined },
    rows,
    ...(failure === undefined ? {} : { error: failure.stack ?? failure.message }),
  };
  await writeFile(path.join('bench-results', 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  if (failure !== undefined) throw failure;
}

/** Breaks `text` into lines of at most `width` characters, at spaces. */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(' ')) {
    if (current && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else current = current ? `${current} ${word}` : word;
  }
  return [...lines, current].join('\n');
}

function dataRow(data: LoadResult): BenchRow {
  return {
    name: `data: GreptimeDB-shaped keys, ≥ ${dbMib} MiB`,
    ours: `${mib(data.dbSize)} in ${seconds(data.ms)}`,
    theirs: '-',
    ratio: undefined,
    goal: '-',
    met: undefined,
    note:
      `${data.tablesCreated} tables created (${data.tablesLive} live after drops), ${data.puts} puts ` +
      `(${IN_FLIGHT} in flight to the leader, ${((data.bytesPut / 1e6) * (1000 / data.ms)).toFixed(1)} MB/s of ` +
      `keys+values) and ${data.deletes} deletes (etcdctl txn); revision ${data.revision}; --unsafe-no-fsync`,
  };
}

await main();
