/**
 * The agent (`etcd-steward serve`): polls every member's status, keeps a history of it, runs the
 * backup (+ prune), defrag and drill schedules through one JobQueue, and serves the HTTP API,
 * `/metrics` and the dashboard. `startAgent` is used by `serve`, `up --serve` and tests.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Spec } from '../config/spec.js';
import { readCatalog, findBackup } from '../engine/backup/catalog.js';
import { createBackup } from '../engine/backup/create.js';
import { compactChain } from '../engine/backup/compact.js';
import { drillBackup } from '../engine/backup/drill.js';
import type { BackupManifest } from '../engine/backup/manifest.js';
import { pruneBackups } from '../engine/backup/prune.js';
import { verifyBackup } from '../engine/backup/verify.js';
import { encryptionFor, keysFor } from '../engine/backup/spec-keys.js';
import { readDefragHistory, defragHistoryFile, type HistoryPlace } from '../engine/defrag/history.js';
import { compileRule, type CompiledRule } from '../engine/defrag/rule.js';
import { runDefrag, type DefragReport } from '../engine/defrag/defrag.js';
import { clusterStatus, type ClusterStatus } from '../engine/status.js';
import type { ConnectionOptions } from '../etcd/member-client.js';
import { InputError, describeError } from '../errors.js';
import { resolveEtcd, type EtcdBinaries } from '../runtime/etcd-binaries.js';
import type { BackupStorage } from '../storage/storage.js';
import type { Registry } from 'prom-client';
import { isLoopback, missingTokenError, parseListen } from './auth.js';
import { StatusHistory } from './history.js';
import { startHttp, type HttpServer } from './http.js';
import { JobFailure, JobQueue, type Job, type JobTrigger } from './jobs.js';
import { createLogger, type Logger } from './logger.js';
import { certificateFiles } from '../engine/certs/expiry.js';
import { AgentMetrics } from './metrics.js';
import { findProblems, type LastRun, type Problem } from './problems.js';
import { Scheduler } from './scheduler.js';
import { startChangeLogService, type ChangeLogService } from './changelog-service.js';
import { startHealService, type HealService } from './heal.js';
import type { MembershipHost } from '../runtime/membership-host.js';

export interface AgentOptions {
  readonly spec: Spec;
  readonly clusterName: string;
  readonly endpoints: readonly string[];
  /** Member names by client URL, when known (the local runtime knows them). */
  readonly names?: ReadonlyMap<string, string> | undefined;
  readonly connection: ConnectionOptions;
  /** Backup storage; undefined when the spec has no backup block. */
  readonly storage?: BackupStorage | undefined;
  /** The API token (required when listening beyond loopback). */
  readonly token?: string | undefined;
  /** Overrides monitoring.listen (tests pass port 0). */
  readonly listen?: string | undefined;
  /** Where the dashboard's files are (default: dist/web of this package). */
  readonly webDir?: string | undefined;
  /**
   * Where defrag runs are recorded (default: under the cache dir by cluster name); the CLI passes
   * the runtime's records folder (the local runtime's data dir) when the endpoints came from it.
   */
  readonly defragHistory?: HistoryPlace | undefined;
  readonly log?: Logger | undefined;
  /** etcd binaries for restore drills (default: the spec's line, resolved when the first drill runs). */
  readonly binaries?: (() => Promise<EtcdBinaries>) | undefined;
  /**
   * The runtime's members, for self-healing (spec `heal:`); called once at start when healing is
   * on. Without it (external endpoints) healing only logs that it cannot act.
   */
  readonly membership?: (() => Promise<MembershipHost>) | undefined;
}

export interface Agent {
  /** The base URL the API answers on, e.g. http://127.0.0.1:9779. */
  readonly url: string;
  readonly jobs: JobQueue;
  readonly registry: Registry;
  /** Stops the schedules and the poll, aborts (or lets end) the running job, closes the server. */
  close(): Promise<void>;
}

/** What the HTTP layer asks of the agent. */
export interface AgentCore {
  readonly clusterName: string;
  readonly storage: BackupStorage | undefined;
  readonly jobs: JobQueue;
  readonly registry: Registry;
  readonly history: StatusHistory;
  status(): { status: ClusterStatus | undefined; checkedAt: string | null; problems: Problem[] };
  listBackups(): Promise<readonly BackupManifest[]>;
  submitBackup(trigger: JobTrigger): Job;
  submitVerify(name: string): Promise<Job>;
  submitDrill(name: string, trigger: JobTrigger): Promise<Job>;
  defragPlan(): Promise<DefragReport>;
  submitDefrag(trigger: JobTrigger, compact?: boolean): Job;
}

export async function startAgent(options: AgentOptions): Promise<Agent> {
  const spec = options.spec;
  const monitoring = spec.monitoring;
  const listen = parseListen(options.listen ?? monitoring.listen);
  const tokenRequired = !isLoopback(listen.host);
  if (tokenRequired && !options.token)
    throw missingTokenError(options.listen ?? monitoring.listen, monitoring.tokenEnv);
  const rule = compileRule(spec.defrag.rule);
  const log = options.log ?? createLogger();
  const care = new Care(options, rule, log);
  await care.start();
  let http: HttpServer;
  try {
    http = await startHttp(care, {
      host: listen.host,
      port: listen.port,
      token: tokenRequired ? options.token : undefined,
      webDir: options.webDir ?? new URL('../web/', import.meta.url).pathname,
      log,
    });
  } catch (error) {
    await care.stop();
    throw error;
  }
  log.info(
    {
      cluster: options.clusterName,
      url: http.url,
      storage: options.storage?.displayUrl ?? null,
      schedules: care.scheduler
        .list()
        .map((s) => ({ name: s.name, pattern: s.pattern, next: s.nextRunAt() })),
      statusInterval: `${monitoring.statusInterval / 1000}s`,
      auth: tokenRequired ? 'token' : 'loopback only',
    },
    'agent started',
  );
  let closing: Promise<void> | undefined;
  return {
    url: http.url,
    jobs: care.jobs,
    registry: care.registry,
    close: () =>
      (closing ??= (async () => {
        log.info('agent stopping: the running job (if any) is aborted cleanly');
        await care.stop();
        await http.close();
        log.info('agent stopped');
      })()),
  };
}

/** The care the agent takes of one cluster: poll, schedules, jobs, metrics. */
class Care implements AgentCore {
  readonly clusterName: string;
  readonly storage: BackupStorage | undefined;
  readonly jobs: JobQueue;
  readonly metrics: AgentMetrics;
  readonly registry: Registry;
  readonly history: StatusHistory;
  readonly scheduler: Scheduler;
  private readonly options: AgentOptions;
  private readonly rule: CompiledRule;
  private readonly log: Logger;
  private readonly startedAt = Date.now();
  private latest: ClusterStatus | undefined;
  private checkedAt: string | null = null;
  private readonly last = new Map<string, LastRun>();
  private lastBackupAt: number | undefined;
  private readonly stopPoll = new AbortController();
  private polling: Promise<void> | undefined;
  private binaries: Promise<EtcdBinaries> | undefined;
  private changeLog: ChangeLogService | undefined;
  private healing: HealService | undefined;

  constructor(options: AgentOptions, rule: CompiledRule, log: Logger) {
    this.options = options;
    this.rule = rule;
    this.log = log;
    this.clusterName = options.clusterName;
    this.storage = options.storage;
    this.jobs = new JobQueue({ log });
    this.metrics = new AgentMetrics(options.clusterName);
    this.registry = this.metrics.registry;
    this.metrics.watchCertificates(certificateFiles(options.spec));
    this.history = new StatusHistory(
      options.spec.monitoring.historyWindow,
      options.spec.monitoring.statusInterval,
    );
    this.scheduler = new Scheduler(log);
    this.jobs.onFinished((job) => {
      if (job.state === 'aborted') return;
      this.metrics.observeJob(job.kind, job.state === 'failed');
      if (job.kind === 'backup' || job.kind === 'drill' || job.kind === 'defrag')
        this.last.set(job.kind, { ok: job.state === 'succeeded', at: Date.now(), error: job.error });
      if (job.kind === 'backup' && job.state === 'failed') this.metrics.backupFailed();
    });
  }

  async start(): Promise<void> {
    // The agent writes backups: it may create a new file:// location (never an S3 bucket).
    await this.storage
      ?.ensureLocation()
      .catch((error: unknown) =>
        this.log.error({ error: describeError(error) }, 'the backup storage is not usable'),
      );
    await this.poll();
    await this.refreshCatalog();
    await this.loadDefragHistory();
    const { backup, defrag } = this.options.spec;
    if (backup?.schedule && this.storage) {
      this.scheduler.add('backup', backup.schedule, () =>
        this.tick('backup', () => this.submitBackup('schedule')),
      );
      this.metrics.setBackupInterval(this.scheduler.get('backup')?.intervalSeconds());
    }
    if (backup?.drillSchedule && this.storage) {
      this.scheduler.add('drill', backup.drillSchedule, () =>
        this.tick(
          'drill',
          () => void this.submitDrill('latest', 'schedule').catch((e: unknown) => this.skipped('drill', e)),
        ),
      );
    }
    if (backup?.compactSchedule && this.storage) {
      this.scheduler.add('compact', backup.compactSchedule, () =>
        this.tick('compact', () => this.submitCompact('schedule')),
      );
    }
    if (defrag.schedule) {
      this.scheduler.add('defrag', defrag.schedule, () =>
        this.tick('defrag', () => this.submitDefrag('schedule')),
      );
    }
    this.polling = this.pollLoop();
    if (this.storage)
      this.changeLog = await startChangeLogService({
        ...this.options,
        storage: this.storage,
        log: this.log,
        registry: this.registry,
      });
    await this.startHealing();
  }

  private async startHealing(): Promise<void> {
    if (!this.options.spec.heal.enabled) return;
    if (!this.options.membership) {
      this.log.error(
        { component: 'heal' },
        'heal.enabled is set but the agent does not host these members (--endpoints or an external runtime): self-healing is off',
      );
      return;
    }
    try {
      const host = await this.options.membership();
      this.healing = startHealService({
        ...this.options,
        host,
        jobs: this.jobs,
        registry: this.registry,
        log: this.log,
      });
    } catch (error) {
      this.log.error({ component: 'heal', error: describeError(error) }, 'self-healing is off');
    }
  }

  async stop(): Promise<void> {
    await this.changeLog?.stop();
    await this.healing?.stop();
    this.scheduler.stop();
    this.stopPoll.abort();
    await this.jobs.close();
    await this.polling;
  }

  private tick(kind: 'backup' | 'drill' | 'defrag' | 'compact', submit: () => unknown): void {
    if (this.jobs.pending(kind)) {
      this.log.warn(
        { schedule: kind },
        `${kind}: the previous run is still queued or running; skipping this tick`,
      );
      return;
    }
    submit();
  }

  private skipped(kind: string, error: unknown): void {
    this.log.info({ schedule: kind, reason: describeError(error) }, `${kind}: nothing to do at this tick`);
  }

  private async pollLoop(): Promise<void> {
    const interval = this.options.spec.monitoring.statusInterval;
    const signal = this.stopPoll.signal;
    while (!signal.aborted) {
      try {
        await sleep(interval, undefined, { signal });
      } catch {
        return;
      }
      await this.poll();
    }
  }

  private async poll(): Promise<void> {
    try {
      const status = await clusterStatus({
        endpoints: [...this.options.endpoints],
        connection: this.options.connection,
        specQuota: this.options.spec.etcd.quotaBackendBytes,
        names: this.options.names,
      });
      this.latest = status;
      this.checkedAt = new Date().toISOString();
      this.history.add(status);
      this.metrics.observeStatus(status);
    } catch (error) {
      this.log.error({ error: describeError(error) }, 'status poll failed');
    }
  }

  private async refreshCatalog(signal?: AbortSignal): Promise<readonly BackupManifest[]> {
    if (!this.storage) return [];
    try {
      const catalog = await readCatalog(this.storage, { signal });
      this.metrics.observeCatalog(catalog.backups);
      const newest = catalog.backups.at(-1);
      if (newest) {
        const at = Date.parse(newest.createdAt) + newest.durationMs;
        if (this.lastBackupAt === undefined || at > this.lastBackupAt) this.lastBackupAt = at;
      }
      return catalog.backups;
    } catch (error) {
      this.log.warn(
        { error: describeError(error), storage: this.storage.displayUrl },
        'the backup catalog cannot be read',
      );
      return [];
    }
  }

  private async loadDefragHistory(): Promise<void> {
    try {
      const file = defragHistoryFile(this.historyPlace(), this.latest?.clusterId);
      const records = await readDefragHistory<{ finishedAt?: string; ok?: boolean; dryRun?: boolean }>(file);
      const lastRun = records.filter((r) => !r.dryRun).at(-1);
      if (lastRun?.finishedAt)
        this.metrics.defragLastRun.set({ cluster: this.clusterName }, Date.parse(lastRun.finishedAt) / 1000);
    } catch (error) {
      this.log.warn({ error: describeError(error) }, 'the defrag history cannot be read');
    }
  }

  private historyPlace(): HistoryPlace {
    return (
      this.options.defragHistory ?? {
        clusterName: this.clusterName,
      }
    );
  }

  status(): { status: ClusterStatus | undefined; checkedAt: string | null; problems: Problem[] } {
    const problems = findProblems({
      status: this.latest,
      now: Date.now(),
      startedAt: this.startedAt,
      backupIntervalSeconds: this.scheduler.get('backup')?.intervalSeconds(),
      lastBackupAt: this.lastBackupAt,
      lastBackup: this.last.get('backup'),
      lastDrill: this.last.get('drill'),
      lastDefrag: this.last.get('defrag'),
    });
    problems.push(...(this.changeLog?.problems() ?? []), ...(this.healing?.problems() ?? []));
    return { status: this.latest, checkedAt: this.checkedAt, problems };
  }

  async listBackups(): Promise<readonly BackupManifest[]> {
    return this.refreshCatalog();
  }

  private requireStorage(): BackupStorage {
    if (!this.storage) {
      throw new InputError('the spec has no backup block, so the agent has no backup storage', {
        hint: 'add `backup: { storage: file:///path/to/backups }` to the spec and restart the agent',
      });
    }
    return this.storage;
  }

  submitBackup(trigger: JobTrigger): Job {
    const storage = this.requireStorage();
    const spec = this.options.spec;
    return this.jobs.submit('backup', trigger, async (signal) => {
      const manifest = await createBackup({
        clusterName: this.clusterName,
        endpoints: this.options.endpoints,
        names: this.options.names,
        connection: this.options.connection,
        storage,
        compression: spec.backup?.compression ?? 'gzip',
        encryption: await encryptionFor(spec),
        member: spec.backup?.member,
        specQuota: spec.etcd.quotaBackendBytes,
        signal,
      });
      this.metrics.observeBackup(manifest);
      this.lastBackupAt = Date.parse(manifest.createdAt) + manifest.durationMs;
      await this.refreshCatalog(signal);
      if (!signal.aborted) this.submitPrune(trigger);
      return {
        backup: manifest.name,
        revision: manifest.revision,
        keys: manifest.keyCount,
        size: manifest.size,
        storedSize: manifest.storedSize,
        member: manifest.member.name ?? manifest.member.endpoint,
      };
    });
  }

  private submitPrune(trigger: JobTrigger): Job {
    const storage = this.requireStorage();
    const rule = this.options.spec.backup?.retention;
    return this.jobs.submit('prune', trigger, async (signal) => {
      const pruned = await pruneBackups({
        storage,
        rule: { keepLast: rule?.keepLast ?? 7, maxAgeMs: rule?.maxAgeMs },
        signal,
      });
      await this.refreshCatalog(signal);
      return { removed: pruned.removed, kept: pruned.keep.map((k) => k.name) };
    });
  }

  async submitVerify(name: string): Promise<Job> {
    const storage = this.requireStorage();
    const manifest = findBackup(await readCatalog(storage), name);
    return this.jobs.submit('verify', 'api', async (signal) => {
      const current = findBackup(await readCatalog(storage, { signal }), manifest.name);
      const keys = await keysFor({}, this.options.spec);
      const result = await verifyBackup({ storage, manifest: current, keys, signal });
      await this.refreshCatalog(signal);
      const summary = { backup: result.name, ok: result.ok, problems: result.problems };
      if (!result.ok)
        throw new JobFailure(
          `backup ${result.name} failed verification: ${result.problems.join('; ')}`,
          summary,
        );
      return summary;
    });
  }

  async submitDrill(name: string, trigger: JobTrigger): Promise<Job> {
    const storage = this.requireStorage();
    const manifest = findBackup(await readCatalog(storage), name);
    return this.jobs.submit('drill', trigger, async (signal) => {
      const current = findBackup(await readCatalog(storage, { signal }), manifest.name);
      const binaries = await this.drillBinaries();
      let result;
      try {
        const keys = await keysFor({}, this.options.spec);
        result = await drillBackup({ storage, manifest: current, binaries, keys, signal });
      } catch (error) {
        if (!signal.aborted) this.metrics.observeDrill(false);
        throw error;
      }
      if (!signal.aborted) this.metrics.observeDrill(result.ok);
      await this.refreshCatalog(signal);
      const summary = { backup: result.name, ok: result.ok, detail: result.detail };
      if (!result.ok)
        throw new JobFailure(`restore drill of ${result.name} failed: ${result.detail}`, summary);
      return summary;
    });
  }

  /** Folds the newest chain into a new backup (`backup compact`), offline: the cluster is not asked. */
  submitCompact(trigger: JobTrigger): Job {
    const storage = this.requireStorage();
    return this.jobs.submit('compact', trigger, async (signal) => {
      const spec = this.options.spec;
      const result = await compactChain({
        storage,
        clusterName: this.clusterName,
        compression: spec.backup?.compression ?? 'gzip',
        encryption: await encryptionFor(spec),
        keys: await keysFor({}, spec),
        signal,
      });
      await this.refreshCatalog(signal);
      return {
        from: result.from.backup,
        backup: result.backup?.name ?? null,
        revision: result.backup?.revision ?? result.from.revision,
        revisions: result.fold?.revisions ?? 0,
        revisionsPerSecond: result.fold?.revisionsPerSecond ?? 0,
        size: result.backup?.size ?? 0,
      };
    });
  }

  private drillBinaries(): Promise<EtcdBinaries> {
    const spec = this.options.spec;
    this.binaries ??= (this.options.binaries ?? (() => resolveEtcd(spec.etcd.version, spec.etcd.bin)))();
    return this.binaries;
  }

  private defragOptions(signal: AbortSignal | undefined) {
    return {
      endpoints: this.options.endpoints,
      connection: this.options.connection,
      specQuota: this.options.spec.etcd.quotaBackendBytes,
      names: this.options.names,
      clusterName: this.clusterName,
      rule: this.rule,
      signal,
    };
  }

  async defragPlan(): Promise<DefragReport> {
    return runDefrag({ ...this.defragOptions(undefined), dryRun: true, history: false });
  }

  submitDefrag(trigger: JobTrigger, compact?: boolean): Job {
    return this.jobs.submit('defrag', trigger, async (signal) => {
      const report = await runDefrag({
        ...this.defragOptions(signal),
        compact: compact ?? this.options.spec.defrag.compactFirst,
        history: this.historyPlace(),
        onProgress: (message) => this.log.info({ job: 'defrag' }, message),
      });
      this.metrics.observeDefrag({
        ok: report.ok,
        reclaimed: report.reclaimed,
        at: Date.parse(report.finishedAt),
      });
      await this.poll();
      if (!report.ok) {
        const why =
          report.outcome === 'refused'
            ? report.preflight.problems.join('; ')
            : (report.error ?? 'a member failed');
        throw new JobFailure(`defrag ${report.outcome}: ${why}`, report);
      }
      return report;
    });
  }
}
