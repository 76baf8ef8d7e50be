/**
 * The agent's side of continuous backup: starts the change log with the agent when the spec
 * says `backup.continuous: true`, stops it with the agent, and reports it (stats for metrics,
 * problems `changelog-gap` and `changelog-lag`).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Spec } from '../config/spec.js';
import type { ConnectionOptions } from '../etcd/member-client.js';
import { startChangeLog, type ChangeLog, type ChangeLogStats } from '../engine/pitr/changelog.js';
import { encryptionFor } from '../engine/backup/spec-keys.js';
import type { BackupStorage } from '../storage/storage.js';
import type { Logger } from './logger.js';

/** A problem as the agent lists them. */
export interface ChangeLogProblem {
  readonly id: 'changelog-gap' | 'changelog-lag';
  readonly severity: 'critical' | 'warning';
  readonly message: string;
}

export interface ChangeLogService {
  stats(): ChangeLogStats;
  problems(): ChangeLogProblem[];
  stop(): Promise<void>;
}

/** A gap stays a problem this long after it was healed, so a dashboard shows it. */
const GAP_REPORTED_MS = 60 * 60 * 1000;

/** Starts the change log for `spec` when `backup.continuous` is on; undefined otherwise. */
export async function startChangeLogService(options: {
  spec: Spec;
  clusterName: string;
  endpoints: readonly string[];
  names?: ReadonlyMap<string, string> | undefined;
  connection: ConnectionOptions;
  storage: BackupStorage;
  log: Logger;
  /** The agent's registry: the change log's metrics are added to it. */
  registry?: Registry | undefined;
}): Promise<ChangeLogService | undefined> {
  const backup = options.spec.backup;
  if (!backup?.continuous) return undefined;
  const flushIntervalMs = backup.flushInterval;
  const changeLog: ChangeLog = await startChangeLog({
    clusterName: options.clusterName,
    endpoints: options.endpoints,
    names: options.names,
    connection: options.connection,
    storage: options.storage,
    flushIntervalMs,
    segmentMaxBytes: backup.segmentMaxBytes,
    compression: backup.compression,
    encryption: await encryptionFor(options.spec),
    member: backup.member,
    specQuota: options.spec.etcd.quotaBackendBytes,
    log: (level, message, fields) => options.log[level]({ component: 'changelog', ...fields }, message),
  });
  if (options.registry) registerMetrics(options.registry, options.clusterName, () => changeLog.stats());
  options.log.info({ component: 'changelog', flushIntervalMs }, 'continuous backup running');
  return {
    stats: () => changeLog.stats(),
    problems: () => changeLogProblems(changeLog.stats(), flushIntervalMs, Date.now()),
    stop: () => changeLog.stop(),
  };
}

/** What the change log's state means for an operator: a gap (critical) or a lag beyond 10 flushes (warning). */
export function changeLogProblems(
  stats: ChangeLogStats,
  flushIntervalMs: number,
  now: number,
): ChangeLogProblem[] {
  const problems: ChangeLogProblem[] = [];
  const gap = stats.lastGap;
  if (gap && (gap.healedAt === null || now - Date.parse(gap.at) < GAP_REPORTED_MS)) {
    problems.push({
      id: 'changelog-gap',
      severity: 'critical',
      message:
        gap.healedAt === null
          ? `change log gap since revision ${gap.fromRevision} (compacted up to ${gap.compactRevision}); a healing snapshot is being taken`
          : `change log gap at ${gap.at}: revisions ${gap.fromRevision}..${gap.healedAt} cannot be restored to one by one; healed by a new snapshot at revision ${gap.healedAt}`,
    });
  }
  const lagLimitSeconds = Math.max(10, (10 * flushIntervalMs) / 1000);
  if (stats.lagSeconds > lagLimitSeconds) {
    problems.push({
      id: 'changelog-lag',
      severity: 'warning',
      message: `the change log is ${stats.lagSeconds.toFixed(0)} s (${stats.lagRevisions} revisions) behind the cluster${stats.lastError ? `: ${stats.lastError}` : ''}`,
    });
  }
  return problems;
}

/** etcd_steward_changelog_* on the agent's registry, read from the change log at each scrape. */
function registerMetrics(registry: Registry, cluster: string, stats: () => ChangeLogStats): void {
  const labels = { cluster };
  const gauge = (name: string, help: string, value: (s: ChangeLogStats) => number) =>
    new Gauge({
      name: `etcd_steward_changelog_${name}`,
      help,
      labelNames: ['cluster'],
      registers: [registry],
      collect() {
        this.set(labels, value(stats()));
      },
    });
  const counter = (name: string, help: string, value: (s: ChangeLogStats) => number) =>
    new Counter({
      name: `etcd_steward_changelog_${name}`,
      help,
      labelNames: ['cluster'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc(labels, value(stats()));
      },
    });
  gauge(
    'lag_seconds',
    'How long the oldest revision not yet in storage has waited (the RPO now)',
    (s) => s.lagSeconds,
  );
  gauge(
    'lag_revisions',
    'Revisions the change log has not stored yet (cluster head minus last flushed)',
    (s) => s.lagRevisions,
  );
  counter(
    'segments_written_total',
    'Change-log segments written since the agent started',
    (s) => s.segmentsWritten,
  );
  counter(
    'gaps_total',
    'Gaps in the change log (compacted away) since the agent started; each is healed by a full snapshot',
    (s) => s.gaps,
  );
}
