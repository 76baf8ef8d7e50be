/**
 * The agent's Prometheus metrics (prom-client), prefix `etcd_steward_`. Member gauges come from
 * the status poll, so they work even when etcd's own metrics port is unreachable. Labels are only
 * `cluster`, `member`, `alarm`, `job` and `version` (an etcd release; a cluster has one or two)
 * (and `file`/`subject` of the spec's certificate files): bounded, never a backup name.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { BackupManifest } from '../engine/backup/manifest.js';
import { readExpiry } from '../engine/certs/expiry.js';
import type { ClusterStatus } from '../engine/status.js';
import { appliedLag, memberName } from './history.js';

const P = 'etcd_steward_';

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly cluster: string;
  private lastSuccess = 0;
  private lastDrill = 0;
  private readonly g = (name: string, help: string, labelNames: string[] = ['cluster']) =>
    new Gauge({ name: P + name, help, labelNames, registers: [this.registry] });
  private readonly c = (name: string, help: string, labelNames: string[] = ['cluster']) =>
    new Counter({ name: P + name, help, labelNames, registers: [this.registry] });

  private readonly memberLabels = ['cluster', 'member'];
  readonly memberUp = this.g('member_up', '1 when the member answered the status poll', this.memberLabels);
  readonly memberHealthy = this.g(
    'member_healthy',
    '1 when the member answered a linearizable read, has a leader and no alarm',
    this.memberLabels,
  );
  readonly dbSize = this.g('member_db_size_bytes', 'Size of the backend database file', this.memberLabels);
  readonly dbSizeInUse = this.g(
    'member_db_size_in_use_bytes',
    'Bytes of the backend database in use (the rest is free pages a defrag reclaims)',
    this.memberLabels,
  );
  readonly dbQuota = this.g(
    'member_db_quota_bytes',
    'The member backend quota (reported by etcd 3.6+, else the spec or the default)',
    this.memberLabels,
  );
  readonly isLeader = this.g('member_is_leader', '1 when the member is the leader', this.memberLabels);
  readonly hasLeader = this.g('member_has_leader', '1 when the member knows a leader', this.memberLabels);
  readonly raftIndex = this.g('member_raft_index', 'The member raft index', this.memberLabels);
  readonly appliedLag = this.g(
    'member_raft_applied_lag',
    'How far the member applied index is behind the furthest member',
    this.memberLabels,
  );
  readonly alarm = this.g('member_alarm', '1 for each active alarm of the member', [
    'cluster',
    'member',
    'alarm',
  ]);

  readonly memberVersion = this.g(
    'member_version_info',
    '1 per member, labelled with the etcd version it runs (two versions at once: an upgrade under way or stopped)',
    ['cluster', 'member', 'version'],
  );
  readonly clusterVersion = this.g(
    'cluster_version_info',
    'Always 1, labelled with the cluster version the members agreed on (it moves once all run the new line)',
    ['cluster', 'version'],
  );

  readonly backupLastSuccess = this.g(
    'backup_last_success_timestamp_seconds',
    'When the newest backup finished',
  );
  readonly backupLastDuration = this.g('backup_last_duration_seconds', 'How long the newest backup took');
  readonly backupLastSize = this.g('backup_last_size_bytes', 'Stored size of the newest backup');
  readonly backupFailures = this.c('backup_failures_total', 'Backup runs that failed');
  readonly backupCount = this.g('backup_count', 'Backups in the catalog');
  readonly backupNewestRevision = this.g(
    'backup_newest_revision',
    'Revision of the newest backup in the catalog',
  );
  readonly backupInterval = this.g(
    'backup_schedule_interval_seconds',
    'Seconds between two scheduled backups (absent without a schedule)',
  );

  readonly defragLastRun = this.g('defrag_last_run_timestamp_seconds', 'When the last defrag run ended');
  readonly defragReclaimed = this.c('defrag_reclaimed_bytes_total', 'Bytes reclaimed by defrag runs');
  readonly defragFailures = this.c('defrag_failures_total', 'Defrag runs that failed or were refused');

  readonly drillLastSuccess = this.g('drill_last_success', '1 when the last restore drill succeeded, else 0');
  readonly drillLastRun = this.g('drill_last_run_timestamp_seconds', 'When the last restore drill ended');
  readonly drillFailures = this.c('drill_failures_total', 'Restore drills that failed');

  readonly jobRuns = this.c('job_runs_total', 'Jobs run by the agent, by kind', ['cluster', 'job']);
  readonly jobFailures = this.c('job_failures_total', 'Jobs that failed, by kind', ['cluster', 'job']);

  private certificateFiles: readonly string[] = [];
  /** Read at every scrape, so a renewed certificate (cert-manager, `certs --reuse-ca`) shows at once. */
  readonly certExpiry = new Gauge({
    name: P + 'tls_cert_expiry_timestamp_seconds',
    help: 'When a certificate the agent uses expires (notAfter), per file and subject',
    labelNames: ['cluster', 'file', 'subject'],
    registers: [this.registry],
    collect: async () => {
      this.certExpiry.reset();
      for (const file of this.certificateFiles) {
        // An unreadable file has no series; the agent's connections fail with the reason.
        const certs = await readExpiry(file).catch(() => []);
        for (const c of certs) {
          this.certExpiry.set({ cluster: this.cluster, file, subject: c.subject }, c.notAfterSeconds);
        }
      }
    },
  });

  constructor(cluster: string) {
    this.cluster = cluster;
    const l = { cluster };
    // Counters start at 0, so rate() and increase() see the first failure.
    for (const counter of [
      this.backupFailures,
      this.defragReclaimed,
      this.defragFailures,
      this.drillFailures,
    ])
      counter.inc(l, 0);
  }

  /** Member gauges from one status poll (members that left the cluster disappear). */
  observeStatus(status: ClusterStatus): void {
    for (const gauge of [
      this.memberUp,
      this.memberHealthy,
      this.dbSize,
      this.dbSizeInUse,
      this.dbQuota,
      this.isLeader,
      this.hasLeader,
      this.raftIndex,
      this.appliedLag,
      this.alarm,
      this.memberVersion,
      this.clusterVersion,
    ])
      gauge.reset();
    if (status.clusterVersion)
      this.clusterVersion.set({ cluster: this.cluster, version: status.clusterVersion }, 1);
    for (const m of status.members) {
      const l = { cluster: this.cluster, member: memberName(m) };
      const up = m.id !== undefined;
      this.memberUp.set(l, up ? 1 : 0);
      this.memberHealthy.set(l, m.health.ok ? 1 : 0);
      this.dbQuota.set(l, m.quota);
      if (!up) continue;
      if (m.dbSize !== undefined) this.dbSize.set(l, m.dbSize);
      if (m.dbSizeInUse !== undefined) this.dbSizeInUse.set(l, m.dbSizeInUse);
      this.isLeader.set(l, m.isLeader ? 1 : 0);
      this.hasLeader.set(l, m.leaderId !== undefined && m.leaderId !== '0' && m.leaderId !== '' ? 1 : 0);
      if (m.raftIndex !== undefined) this.raftIndex.set(l, m.raftIndex);
      if (m.version !== undefined) this.memberVersion.set({ ...l, version: m.version }, 1);
      const lag = appliedLag(status, m);
      if (lag !== undefined) this.appliedLag.set(l, lag);
      for (const alarm of m.alarms) this.alarm.set({ ...l, alarm }, 1);
    }
  }

  /** Catalog gauges: count, newest revision, and the newest backup's time, duration and size. */
  observeCatalog(backups: readonly BackupManifest[]): void {
    const l = { cluster: this.cluster };
    this.backupCount.set(l, backups.length);
    const newest = backups.at(-1);
    if (!newest) return;
    this.backupNewestRevision.set(l, newest.revision);
    // The newest backup's finish time, so a restarted agent still knows how old the last one is.
    if ((Date.parse(newest.createdAt) + newest.durationMs) / 1000 > this.lastSuccess)
      this.observeBackup(newest);
    const drilled = backups
      .map((b) => b.drill)
      .filter((d) => d !== null)
      .sort((a, b) => a.at.localeCompare(b.at));
    const drill = drilled.at(-1);
    if (drill && Date.parse(drill.at) / 1000 > this.lastDrill) {
      this.lastDrill = Date.parse(drill.at) / 1000;
      this.drillLastRun.set(l, this.lastDrill);
      this.drillLastSuccess.set(l, drill.ok ? 1 : 0);
    }
  }

  /** A backup that has just succeeded. */
  observeBackup(manifest: BackupManifest): void {
    const l = { cluster: this.cluster };
    this.lastSuccess = (Date.parse(manifest.createdAt) + manifest.durationMs) / 1000;
    this.backupLastSuccess.set(l, this.lastSuccess);
    this.backupLastDuration.set(l, manifest.durationMs / 1000);
    this.backupLastSize.set(l, manifest.storedSize);
  }

  observeDrill(ok: boolean, at = Date.now()): void {
    const l = { cluster: this.cluster };
    this.lastDrill = at / 1000;
    this.drillLastRun.set(l, this.lastDrill);
    this.drillLastSuccess.set(l, ok ? 1 : 0);
    if (!ok) this.drillFailures.inc(l);
  }

  observeDefrag(outcome: { ok: boolean; reclaimed: number; at: number }): void {
    const l = { cluster: this.cluster };
    this.defragLastRun.set(l, outcome.at / 1000);
    if (outcome.reclaimed > 0) this.defragReclaimed.inc(l, outcome.reclaimed);
    if (!outcome.ok) this.defragFailures.inc(l);
  }

  observeJob(kind: string, failed: boolean): void {
    const l = { cluster: this.cluster, job: kind };
    this.jobRuns.inc(l);
    if (failed) this.jobFailures.inc(l);
  }

  setBackupInterval(seconds: number | undefined): void {
    if (seconds !== undefined) this.backupInterval.set({ cluster: this.cluster }, seconds);
  }

  /** The certificate files whose expiry is exported. */
  watchCertificates(files: readonly string[]): void {
    this.certificateFiles = [...files];
  }

  backupFailed(): void {
    this.backupFailures.inc({ cluster: this.cluster });
  }
}
