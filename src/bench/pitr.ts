/**
 * The point-in-time restore benchmark (`node dist/bench/pitr.js`, or `BENCH_ONLY=pitr npm run bench`):
 * a local etcd cluster under a steady write load of GreptimeDB-shaped values (BENCH_PITR_RATE
 * puts/s, default 500, for BENCH_PITR_SECONDS, default 180) while the agent (`serve`, a child
 * process) keeps the change log. Measures: log lag (put acknowledged → its segment stored, p50/p99),
 * the agent's CPU and RSS, change-log bytes per hour against a full snapshot every 30 minutes,
 * then a restore --to-revision of the head: replay speed and the time to recover to a point 25
 * minutes after a snapshot (extrapolated from the measured replay speed; the replay covers at most
 * BENCH_PITR_REPLAY_MAX revisions, default 20 000).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient } from '../etcd/member-client.js';
import { listSegments } from '../engine/pitr/segment.js';
import { renderTable } from '../cli/output.js';
import { openStorage } from '../storage/open.js';
import { CLI, runCli } from '../testing/harness.js';
import { foldBenchTables } from './pitr-fold-log.js';
import { tableInfoValue, tableRouteValue, procedureStepValue, type TableRecord } from './greptime-values.js';

const log = (message: string) => process.stderr.write(`bench pitr: ${message}\n`);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** utime+stime (s) and RSS (MiB) of a process, from /proc. */
async function procSample(pid: number): Promise<{ cpuSeconds: number; rssMib: number }> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(stat[11]) + Number(stat[12]);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuSeconds: ticks / 100, rssMib: rssKb / 1024 };
}

export async function benchPitr(): Promise<Record<string, unknown>> {
  const rate = Number(process.env['BENCH_PITR_RATE'] ?? 500);
  const durationS = Number(process.env['BENCH_PITR_SECONDS'] ?? 180);
  const members = Number(process.env['BENCH_PITR_MEMBERS'] ?? 1);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'steward-bench-pitr-'));
  const env = { ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool') };
  const specFile = path.join(dir, 'steward.yaml');
  await writeFile(
    specFile,
    stringify({
      name: 'bench',
      members,
      dataDir: './data',
      etcd: { version: '3.6', quotaBackendBytes: '8GiB' },
      backup: { storage: './backups', continuous: true, flushInterval: '1s' },
      monitoring: { listen: '127.0.0.1:0' },
    }),
  );
  let agent: ReturnType<typeof spawn> | undefined;
  try {
    const up = await runCli(['--config', specFile, 'up', '--detach', '-o', 'json'], { env });
    if (up.code !== 0) throw new Error(`up failed: ${up.stderr}`);
    const endpoints = up.json<{ endpoints: string[] }>().endpoints;
    const full = await runCli(['--config', specFile, 'backup', 'create', '-o', 'json'], { env });
    if (full.code !== 0) throw new Error(`backup create failed: ${full.stderr}`);
    agent = spawn(process.execPath, [CLI, '--config', specFile, 'serve'], {
      env: { ...process.env, ...env },
      stdio: 'ignore',
    });
    const storage = await openStorage(path.join(dir, 'backups'));
    const client = new MemberClient(parseEndpoint(endpoints[0] as string), {
      dialTimeoutMs: 5000,
      commandTimeoutMs: 30_000,
    });
    await sleep(3000);
    log(
      `${members} member(s), ${rate} puts/s of GreptimeDB-shaped values for ${durationS} s, agent pid ${agent.pid}`,
    );
    const tables = foldBenchTables(2000);
    const acked = new Map<number, number>();
    const cpu0 = await procSample(agent.pid as number);
    const rss: number[] = [];
    const started = Date.now();
    let sent = 0;
    const inflight = new Set<Promise<unknown>>();
    while (Date.now() - started < durationS * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      while (sent < due && inflight.size < 256) {
        const t = tables[sent % tables.length] as TableRecord;
        const kind = sent % 5;
        let put: Promise<{ revision: number }>;
        if (kind === 0) {
          t.version += 1;
          put = client.put(`__table_info/${t.id}`, tableInfoValue(t));
        } else if (kind < 3) {
          t.routeVersion += 1;
          put = client.put(`__table_route/${t.id}`, tableRouteValue(t));
        } else put = client.put(`__procedure__/${sent % 500}`, procedureStepValue(`p${sent}`, t.id));
        const p = put.then((r) => acked.set(r.revision, Date.now()));
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
        sent += 1;
      }
      if (sent % 500 < 10) rss.push((await procSample(agent.pid as number)).rssMib);
      await sleep(5);
    }
    await Promise.allSettled([...inflight]);
    const elapsedS = (Date.now() - started) / 1000;
    const cpu1 = await procSample(agent.pid as number);
    const head = Math.max(...acked.keys());
    while (Math.max(0, ...(await listSegments(storage)).map((s) => s.lastRevision)) < head) await sleep(200);
    agent.kill('SIGTERM');
    // Lag: a revision is safe once its segment's manifest is stored (the manifest file's mtime).
    const segments = await listSegments(storage);
    const lags: number[] = [];
    let logBytes = 0;
    for (const s of segments) {
      const storedAt = (await stat(path.join(dir, 'backups', s.manifest))).mtimeMs;
      logBytes += s.storedSize;
      for (let r = s.firstRevision; r <= s.lastRevision; r += 1) {
        const at = acked.get(r);
        if (at !== undefined) lags.push((storedAt - at) / 1000);
      }
    }
    const snapshot = await runCli(['--config', specFile, 'backup', 'create', '--no-prune', '-o', 'json'], {
      env,
    });
    const snapBytes = snapshot.json<{ backup: { storedSize: number } }>().backup.storedSize;
    // Replay a bounded stretch (BENCH_PITR_REPLAY_MAX revisions after the snapshot) and extrapolate.
    const baseRevision = full.json<{ backup: { revision: number } }>().backup.revision;
    const target = Math.min(head, baseRevision + Number(process.env['BENCH_PITR_REPLAY_MAX'] ?? 20_000));
    log(`writes done: ${acked.size} puts in ${elapsedS.toFixed(0)} s; restoring to revision ${target}`);
    const restoreStarted = Date.now();
    const restored = await runCli(
      [
        '--config',
        specFile,
        'restore',
        full.json<{ backup: { name: string } }>().backup.name,
        '--to-revision',
        String(target),
        '--new-cluster',
        'restored',
        '--yes',
        '-o',
        'json',
      ],
      { env, timeoutMs: 3_600_000 },
    );
    if (restored.code !== 0) throw new Error(`restore failed: ${restored.stderr}`);
    const restoreS = (Date.now() - restoreStarted) / 1000;
    const pit = restored.json<{
      pointInTime: { replay: { revisions: number; durationMs: number; revisionsPerSecond: number } };
    }>().pointInTime;
    const replayRate = pit.replay.revisionsPerSecond;
    const fixedS = restoreS - pit.replay.durationMs / 1000;
    const writeRate = acked.size / elapsedS;
    const revisions25min = writeRate * 25 * 60;
    const result = {
      members,
      putsPerSecond: Math.round(writeRate),
      seconds: Math.round(elapsedS),
      lagP50Seconds: percentile(lags, 50),
      lagP99Seconds: percentile(lags, 99),
      lagMaxSeconds: percentile(lags, 100),
      agentCpuPercent: Math.round(((cpu1.cpuSeconds - cpu0.cpuSeconds) / elapsedS) * 100),
      agentRssMibMax: Math.round(Math.max(...rss, cpu1.rssMib)),
      segments: segments.length,
      logBytesPerHour: Math.round((logBytes / elapsedS) * 3600),
      fullSnapshotBytes: snapBytes,
      snapshotsEvery30MinBytesPerHour: snapBytes * 2,
      replayRevisions: pit.replay.revisions,
      replayRevisionsPerSecond: replayRate,
      restoreSeconds: Math.round(restoreS),
      restoreFixedSeconds: Math.round(fixedS),
      recoverTo25MinAfterSnapshotSeconds: Math.round(fixedS + revisions25min / Math.max(1, replayRate)),
      loadAverage: os.loadavg()[0],
    };
    client.close();
    return result;
  } finally {
    agent?.kill('SIGKILL');
    await runCli(['--config', specFile, 'down', '--purge'], { env }).catch(() => undefined);
    const restoredSpec = path.join(dir, 'restored.yaml');
    await writeFile(restoredSpec, stringify({ name: 'restored', members, dataDir: './data-restored' }));
    await runCli(['--config', restoredSpec, 'down', '--purge'], { env }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await benchPitr();
  process.stdout.write(
    `${renderTable(
      ['figure', 'value'],
      Object.entries(result).map(([k, v]) => [
        k,
        typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : String(v),
      ]),
    )}\n`,
  );
  await mkdir('bench-results', { recursive: true });
  await writeFile(path.join('bench-results', 'pitr.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.exit(0);
}
