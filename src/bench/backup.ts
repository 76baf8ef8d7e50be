/**
 * Bench rows for `backup create` into files: whole-process wall time (uncompressed and gzip)
 * against `etcdctl snapshot save` from a follower, interleaved; the peak RSS of both; and, once,
 * where our time and memory go (phases measured in-process by phases.ts).
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateIdentityFile } from '../engine/backup/encryption.js';
import type { EtcdBinaries } from '../runtime/etcd-binaries.js';
import { interleavedSamples, median, mib, seconds, type BenchRow } from './measure.js';
import { cpuSummary, runMeasured, spread, type ProcessRun } from './rss.js';

export interface BackupBenchContext {
  readonly binaries: EtcdBinaries;
  /** `bin/etcd-steward.mjs` and `dist/` of the build under test (see build-copy.ts). */
  readonly cli: string;
  readonly dist: string;
  /** Client URLs of all members. */
  readonly endpoints: readonly string[];
  /** One follower's client URL, for etcdctl. */
  readonly follower: string;
  /** A temp dir: the working directory (no spec there), storage and snapshot files. */
  readonly dir: string;
  readonly runs: number;
  /** The environment for both tools (no ETCDCTL_* variables). */
  readonly env: NodeJS.ProcessEnv;
  readonly log: (message: string) => void;
}

/** What `backup create -o json` prints (the fields the bench reads). */
export interface CreateJson {
  readonly backup: { size: number; storedSize: number; keyCount: number; durationMs: number };
}

export interface FileBackupResult {
  readonly rows: BenchRow[];
  /** The snapshot etcdctl saved (with etcd's trailer): input of the reader rows. */
  readonly snapshotFile: string;
  readonly etcdctlMs: number;
  readonly snapshotBytes: number;
}

/** `node bin/etcd-steward.mjs backup create …` as one measured process. */
export function runCreate(
  ctx: BackupBenchContext,
  storage: string,
  compression: 'none' | 'gzip',
  env: NodeJS.ProcessEnv = ctx.env,
  to = false,
  config?: string,
): Promise<ProcessRun> {
  return runMeasured(
    process.execPath,
    [
      ctx.cli,
      ...(config ? ['--config', config] : []),
      'backup',
      'create',
      '--endpoints',
      ctx.endpoints.join(','),
      to ? '--to' : '--storage',
      storage,
      '--compression',
      compression,
      '--no-prune',
      '-o',
      'json',
    ],
    { env, cwd: ctx.dir },
  );
}

export async function benchBackupToFile(ctx: BackupBenchContext): Promise<FileBackupResult> {
  const snapshotFile = path.join(ctx.dir, 'x.db');
  const plainDir = path.join(ctx.dir, 'b');
  const gzipDir = path.join(ctx.dir, 'bgz');
  let plainJson: CreateJson | undefined;
  let gzipJson: CreateJson | undefined;
  let ageJson: CreateJson | undefined;
  // Encryption (age) comes from a spec's backup.encryption: one recipient, its key made here.
  const ageDir = path.join(ctx.dir, 'bage');
  const ageSpec = path.join(ctx.dir, 'age-spec.yaml');
  const recipient = await generateIdentityFile(path.join(ctx.dir, `age-${Date.now()}.key`));
  await writeFile(
    ageSpec,
    `name: etcd\nbackup:\n  storage: file://${ageDir}\n  encryption:\n    recipients: [${recipient}]\n`,
  );
  const samples = await interleavedSamples<ProcessRun>(
    ctx.runs,
    {
      ours: async () => {
        await rm(plainDir, { recursive: true, force: true });
        const run = await runCreate(ctx, `file://${plainDir}`, 'none');
        plainJson = JSON.parse(run.stdout) as CreateJson;
        return run;
      },
      oursGzip: async () => {
        await rm(gzipDir, { recursive: true, force: true });
        const run = await runCreate(ctx, `file://${gzipDir}`, 'gzip');
        gzipJson = JSON.parse(run.stdout) as CreateJson;
        return run;
      },
      oursAge: async () => {
        await rm(ageDir, { recursive: true, force: true });
        const run = await runCreate(ctx, `file://${ageDir}`, 'gzip', ctx.env, false, ageSpec);
        ageJson = JSON.parse(run.stdout) as CreateJson;
        return run;
      },
      etcdctl: () =>
        runMeasured(ctx.binaries.etcdctl, [`--endpoints=${ctx.follower}`, 'snapshot', 'save', snapshotFile], {
          env: ctx.env,
          cwd: ctx.dir,
        }),
    },
    { onRun: (name, round, run) => ctx.log(`backup: ${name} run ${round}: ${seconds(run.ms)}, ${rss(run)}`) },
  );
  await rm(plainDir, { recursive: true, force: true });
  await rm(gzipDir, { recursive: true, force: true });
  await rm(ageDir, { recursive: true, force: true });
  const oursAge = median(samples['oursAge']?.map((r) => r.ms) ?? []);
  const ours = median(samples['ours']?.map((r) => r.ms) ?? []);
  const oursGzip = median(samples['oursGzip']?.map((r) => r.ms) ?? []);
  const etcdctl = median(samples['etcdctl']?.map((r) => r.ms) ?? []);
  const size = plainJson?.backup.size ?? 0;
  const stored = gzipJson?.backup.storedSize ?? 0;

  ctx.log('backup: timing the phases of one create in-process');
  const phases = await phaseBreakdown(ctx, snapshotFile);
  const node = await runMeasured(process.execPath, ['-e', '0'], { env: ctx.env, cwd: ctx.dir });
  const c = phases.create;
  const inProcess = c['totalMs'] ?? 0;
  const oursRuns = samples['ours'] ?? [];
  const etcdctlRuns = samples['etcdctl'] ?? [];
  const stream = c['streamMs'] ?? 0;
  const drain = phases.drain['drainMs'] ?? 0;
  const note =
    `${mib(size)} snapshot, ${plainJson?.backup.keyCount ?? '?'} keys. Runs ${spread(oursRuns)} ` +
    `(${cpuSummary(oursRuns)}), etcdctl ${spread(etcdctlRuns)} (${cpuSummary(etcdctlRuns)}). ` +
    `One create timed in-process, ${seconds(inProcess)}: status+lock+catalog ${seconds(c['beforeStreamMs'] ?? 0)}; ` +
    `the stream with the trailer hash (which also gives the stored digest) and the write into the final .part ` +
    `${seconds(stream)} (the bare stream alone, bytes discarded: ${seconds(drain)}, so ` +
    `${seconds(Math.max(0, stream - drain))} for hashing and writing alongside); then the bolt check of the ` +
    `.part beside its fsync ${seconds(c['checkMs'] ?? 0)} (the check alone ${seconds(phases.offline['checkMs'] ?? 0)}; ` +
    `a lone SHA-256 pass over the file ${seconds(phases.offline['hashMs'] ?? 0)}), which etcdctl does not do; ` +
    `rename + manifest ${seconds(c['afterMs'] ?? 0)}; per GiB: ours ${perGiB(ours, size)}, etcdctl ${perGiB(etcdctl, size)}`;
  const ratio = ours / etcdctl;
  const gzipRatio = oursGzip / etcdctl;
  const peaks = (name: string) => (samples[name] ?? []).map((r) => r.peakRss ?? 0);
  const peak = (name: string) => Math.max(...peaks(name));
  const oursPeak = peak('ours');
  const rows: BenchRow[] = [
    {
      name: `backup create → file://, none (median of ${ctx.runs})`,
      ours: seconds(ours),
      theirs: `${seconds(etcdctl)} (etcdctl snapshot save)`,
      ratio,
      goal: '≤ 1.15',
      met: ratio <= 1.15,
      note,
    },
    {
      name: `backup create → file://, gzip (median of ${ctx.runs})`,
      ours: seconds(oursGzip),
      theirs: `${seconds(etcdctl)} (etcdctl snapshot save)`,
      ratio: gzipRatio,
      goal: '-',
      met: undefined,
      note:
        `stored ${mib(stored)} of ${mib(size)} (${size && stored ? (size / stored).toFixed(1) : '?'}×); ` +
        `${seconds(oursGzip - ours)} more than uncompressed; runs ${spread(samples['oursGzip'] ?? [])} ` +
        `(${cpuSummary(samples['oursGzip'] ?? [])})`,
    },
    {
      name: `backup create → file://, gzip + age encryption (median of ${ctx.runs})`,
      ours: seconds(oursAge),
      theirs: `${seconds(oursGzip)} (gzip, not encrypted)`,
      ratio: oursAge / oursGzip,
      goal: '≤ 1.1',
      met: oursAge / oursGzip <= 1.1,
      note:
        `one X25519 recipient; stored ${mib(ageJson?.backup.storedSize ?? 0)} (gzip alone ${mib(stored)}); ` +
        `runs ${spread(samples['oursAge'] ?? [])} (${cpuSummary(samples['oursAge'] ?? [])}); peak RSS ` +
        `${mib(peak('oursAge'))} (gzip alone ${mib(peak('oursGzip'))}); age's ChaCha20-Poly1305 is pure JS (noble)`,
    },
    {
      name: `peak RSS, backup create → file:// (max of ${ctx.runs})`,
      ours: `${mib(oursPeak)} (median ${mib(median(peaks('ours')))}; gzip ${mib(peak('oursGzip'))}, median ${mib(median(peaks('oursGzip')))})`,
      theirs: `${mib(peak('etcdctl'))} (etcdctl snapshot save)`,
      ratio: oursPeak / peak('etcdctl'),
      goal: '< 128 MiB',
      met: oursPeak < 128 * 2 ** 20,
      note:
        `peak so far at the stream's end ${mib(c['rssAtStreamEnd'] ?? 0)}, after the offline verify ${mib(c['rssAtEnd'] ?? 0)} ` +
        `(in-process, unbundled); the stream alone ${mib(phases.drain['rss'] ?? 0)}, the offline check alone ` +
        `${mib(phases.offline['rss'] ?? 0)}; \`node -e 0\` ${mib(node.peakRss ?? 0)}` +
        (node.rssSource === 'poll' ? '; polled VmHWM (a lower bound)' : ''),
    },
  ];
  return { rows, snapshotFile, etcdctlMs: etcdctl, snapshotBytes: size };
}

/** One run of each mode of phases.ts; its figures by mode. */
async function phaseBreakdown(
  ctx: BackupBenchContext,
  snapshotFile: string,
): Promise<Record<'create' | 'drain' | 'offline', Record<string, number>>> {
  const storage = path.join(ctx.dir, 'phases');
  const script = path.join(ctx.dist, 'bench', 'phases.js');
  const child = async (args: string[]) =>
    JSON.parse(
      (await runMeasured(process.execPath, [script, ...args], { env: ctx.env, cwd: ctx.dir })).stdout,
    ) as Record<string, number>;
  try {
    return {
      create: await child(['create', ctx.endpoints.join(','), `file://${storage}`]),
      drain: await child(['drain', ctx.follower]),
      offline: await child(['offline', snapshotFile]),
    };
  } finally {
    await rm(storage, { recursive: true, force: true });
  }
}

/** Seconds per GiB of snapshot at this wall time: what 8 GiB would take, divided by 8. */
function perGiB(ms: number, bytes: number): string {
  return bytes > 0 ? `${((ms / 1000) * (2 ** 30 / bytes)).toFixed(1)} s/GiB` : '?';
}

function rss(run: ProcessRun): string {
  return run.peakRss === undefined ? 'RSS ?' : `peak RSS ${mib(run.peakRss)}`;
}
