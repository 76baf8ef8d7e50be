/**
 * The Prometheus alerting rules etcd-steward ships: the alerts of etcd's own monitoring mixin
 * (members down, quorum, leader, proposals, disk latency, quota, growth, fragmentation), written
 * here in our own expressions, plus alerts over the agent's `etcd_steward_*` metrics (stale,
 * failing backups, failing drills and defrags, change-log gaps).
 */
import type { Spec } from '../config/spec.js';
import { parseDuration } from '../config/units.js';
import { InputError } from '../errors.js';

/** One alerting rule, as Prometheus reads it from a rule file. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** A Prometheus rule file: what `promtool check rules` and a PrometheusRule's `spec` accept. */
export interface RuleFile {
  readonly groups: readonly { readonly name: string; readonly rules: readonly AlertRule[] }[];
}

/** Knobs for the rendered rules; every one has a default that suits the shipped scrape configs. */
export interface AlertRuleOptions {
  /**
   * Regular expression the `job` label of the etcd members' scrape must match. Default `.*etcd.*`:
   * matches the local scrape config's job `etcd` and a PodMonitor's job `NAMESPACE/NAME` whenever
   * NAME contains "etcd". Jobs matching `stewardJob` are always left out.
   */
  readonly etcdJob?: string;
  /** Regular expression for the agent's (`etcd-steward serve`) scrape job. Default `.*steward.*`. */
  readonly stewardJob?: string;
  /** Scrape interval of the etcd job, in seconds (default 30): the peer-failure window is 4 of them. */
  readonly scrapeIntervalSeconds?: number;
  /**
   * Replace every rule's `for:` with this duration (e.g. `0s`). For tests and demonstrations:
   * real deployments keep the defaults, which ride out restarts and short blips.
   */
  readonly forOverride?: string;
  /**
   * Where the runbook page lives: each rule's `runbook_url` is this plus `#alertname` (lower
   * case, the anchor of the alert's heading). Default RUNBOOK_PAGE, the project's docs/alerts.md.
   */
  readonly runbookPage?: string;
}

/**
 * The runbook page in the project's repository (docs/alerts.md, one heading per alert), as the
 * etcd mixin points its `runbook_url` at contrib/mixin/runbook.md. Change it here if the
 * repository moves; a deployment can point at its own copy with `runbookPage`.
 */
export const RUNBOOK_PAGE = 'https://github.com/etcd-steward/etcd-steward/blob/main/docs/alerts.md';

/** The anchor of an alert's heading on the runbook page (GitHub's: the heading in lower case). */
export function runbookAnchor(alert: string): string {
  return alert.toLowerCase();
}

/** The alert names, in the order the rule file lists them (CONTRACT.md). */
export const ALERT_NAMES = [
  'EtcdMembersDown',
  'EtcdInsufficientMembers',
  'EtcdNoLeader',
  'EtcdHighNumberOfLeaderChanges',
  'EtcdHighNumberOfFailedGRPCRequests',
  'EtcdHighNumberOfFailedProposals',
  'EtcdHighFsyncDurations',
  'EtcdHighCommitDurations',
  'EtcdDatabaseQuotaLowSpace',
  'EtcdExcessiveDatabaseGrowth',
  'EtcdDatabaseHighFragmentationRatio',
  'EtcdStewardBackupStale',
  'EtcdStewardBackupFailing',
  'EtcdStewardDrillFailing',
  'EtcdStewardDefragFailing',
  'EtcdStewardChangeLogGap',
  'EtcdStewardHealFailed',
  'EtcdStewardHealNeedsQuorum',
  'EtcdStewardCertificateExpiring',
  'EtcdStewardMixedVersions',
] as const;

export const DEFAULT_ETCD_JOB = '.*etcd.*';
export const DEFAULT_STEWARD_JOB = '.*steward.*';

/** A PromQL string literal (double-quoted, escaped). */
function quote(text: string): string {
  return JSON.stringify(text);
}

function checkRegex(name: string, value: string): string {
  try {
    new RegExp(`^(?:${value})$`);
  } catch (error) {
    throw new InputError(`${name} '${value}' is not a regular expression (${(error as Error).message})`, {
      hint: `write e.g. ${name} '.*etcd.*' or the exact job name`,
    });
  }
  return value;
}

/** Label selectors for the etcd members and for the agent. */
export function selectors(options: AlertRuleOptions = {}): { etcd: string; steward: string } {
  const etcdJob = checkRegex('--etcd-job', options.etcdJob ?? DEFAULT_ETCD_JOB);
  const stewardJob = checkRegex('--steward-job', options.stewardJob ?? DEFAULT_STEWARD_JOB);
  return {
    etcd: `job=~${quote(etcdJob)}, job!~${quote(stewardJob)}`,
    steward: `job=~${quote(stewardJob)}`,
  };
}

const RUNBOOK = {
  status:
    "Run `etcd-steward status` (or `etcdctl endpoint status -w table --cluster`) and read the members' logs.",
  disk: 'Check the disk under the data dir (iostat, noisy neighbours); etcd wants an SSD with low fsync latency.',
  quota:
    'Run `etcd-steward defrag --dry-run`; compact and defrag, or raise etcd.quotaBackendBytes; after a NOSPACE alarm, `etcdctl alarm disarm`.',
  backup:
    'Run `etcd-steward backup create` by hand and read its error; check the storage (space, credentials, reachability).',
} as const;

/**
 * The rule file for Prometheus (`render alerts`) or a PrometheusRule's spec (`render kubernetes`).
 * `spec`, when given, names the cluster in the group names.
 */
export function renderAlertRules(spec?: Pick<Spec, 'name'>, options: AlertRuleOptions = {}): RuleFile {
  const { etcd, steward } = selectors(options);
  const scrape = options.scrapeIntervalSeconds ?? 30;
  if (!Number.isFinite(scrape) || scrape <= 0) {
    throw new InputError(`scrape interval ${String(scrape)} is not a positive number of seconds`);
  }
  let forOverride: string | undefined;
  if (options.forOverride !== undefined) {
    parseDuration(options.forOverride); // throws a clear InputError when malformed
    forOverride = options.forOverride;
  }
  const peerWindow = `${Math.round(scrape * 4)}s`;
  const rule = (
    alert: (typeof ALERT_NAMES)[number],
    severity: 'warning' | 'critical',
    holdFor: string,
    expr: string,
    summary: string,
    description: string,
    runbook: string,
  ): AlertRule => ({
    alert,
    expr,
    for: forOverride ?? holdFor,
    labels: { severity },
    annotations: {
      summary,
      description,
      runbook,
      runbook_url: `${options.runbookPage ?? RUNBOOK_PAGE}#${runbookAnchor(alert)}`,
    },
  });
  const perMember = 'member {{ $labels.instance }} of etcd job "{{ $labels.job }}"';
  const failedCodes =
    'Unknown|FailedPrecondition|ResourceExhausted|Internal|Unavailable|DataLoss|DeadlineExceeded';
  const failedGrpcPercent = [
    `100 * sum by (job, instance, grpc_service, grpc_method) (rate(grpc_server_handled_total{${etcd}, grpc_code=~${quote(failedCodes)}}[5m]))`,
    `  / sum by (job, instance, grpc_service, grpc_method) (rate(grpc_server_handled_total{${etcd}}[5m]))`,
  ].join('\n');
  const p99 = (metric: string) =>
    `histogram_quantile(0.99, sum by (job, instance, le) (rate(${metric}_bucket{${etcd}}[5m])))`;

  const etcdRules: AlertRule[] = [
    rule(
      'EtcdMembersDown',
      'critical',
      '10m',
      // Members Prometheus cannot scrape; when it scrapes them all, peers that the others fail
      // to reach (a member up for Prometheus can still be cut off from its peers).
      [
        `sum by (job) (up{${etcd}} == bool 0) > 0`,
        'or',
        `count by (job) (count by (job, To) (rate(etcd_network_peer_sent_failures_total{${etcd}}[${peerWindow}]) > 0.01))`,
      ].join('\n'),
      'etcd members are down.',
      'etcd job "{{ $labels.job }}": {{ $value }} member(s) cannot be scraped or are unreachable from their peers.',
      RUNBOOK.status,
    ),
    rule(
      'EtcdInsufficientMembers',
      'critical',
      '3m',
      `sum by (job) (up{${etcd}} == bool 1) < (count by (job) (up{${etcd}}) + 1) / 2`,
      'etcd has lost its quorum.',
      'etcd job "{{ $labels.job }}": only {{ $value }} member(s) are up, fewer than a majority; the cluster refuses writes.',
      `${RUNBOOK.status} Bring members back before anything else; if they are lost, restore with \`etcd-steward restore latest\`.`,
    ),
    rule(
      'EtcdNoLeader',
      'critical',
      '1m',
      `etcd_server_has_leader{${etcd}} == 0`,
      'An etcd member has no leader.',
      `${perMember} has no leader: it serves no writes and no linearizable reads.`,
      RUNBOOK.status,
    ),
    rule(
      'EtcdHighNumberOfLeaderChanges',
      'warning',
      '5m',
      `max by (job) (increase(etcd_server_leader_changes_seen_total{${etcd}}[15m])) >= 4`,
      'etcd elects leaders too often.',
      'etcd job "{{ $labels.job }}": {{ $value }} leader changes in 15 minutes; look for starved CPU or disk, network latency, or too short election timeouts.',
      `${RUNBOOK.disk} Compare etcd.heartbeatMs / electionTimeoutMs with the network's round-trip time.`,
    ),
    rule(
      'EtcdHighNumberOfFailedGRPCRequests',
      'warning',
      '10m',
      `${failedGrpcPercent} > 1`,
      'Many etcd gRPC requests fail.',
      '{{ $value | humanize }}% of {{ $labels.grpc_method }} requests fail on ' + perMember + '.',
      RUNBOOK.status,
    ),
    rule(
      'EtcdHighNumberOfFailedGRPCRequests',
      'critical',
      '5m',
      `${failedGrpcPercent} > 5`,
      'Many etcd gRPC requests fail.',
      '{{ $value | humanize }}% of {{ $labels.grpc_method }} requests fail on ' + perMember + '.',
      RUNBOOK.status,
    ),
    rule(
      'EtcdHighNumberOfFailedProposals',
      'warning',
      '15m',
      `increase(etcd_server_proposals_failed_total{${etcd}}[30m]) > 5`,
      'etcd proposals fail.',
      `{{ $value | humanize }} raft proposals failed in 30 minutes on ${perMember}, usually around leader elections or lost quorum.`,
      RUNBOOK.status,
    ),
    rule(
      'EtcdHighFsyncDurations',
      'warning',
      '10m',
      `${p99('etcd_disk_wal_fsync_duration_seconds')} > 0.5`,
      'etcd WAL fsync is slow.',
      `99th percentile of WAL fsync is {{ $value | humanizeDuration }} on ${perMember}.`,
      RUNBOOK.disk,
    ),
    rule(
      'EtcdHighFsyncDurations',
      'critical',
      '10m',
      `${p99('etcd_disk_wal_fsync_duration_seconds')} > 1`,
      'etcd WAL fsync is very slow.',
      `99th percentile of WAL fsync is {{ $value | humanizeDuration }} on ${perMember}; heartbeats and elections suffer.`,
      RUNBOOK.disk,
    ),
    rule(
      'EtcdHighCommitDurations',
      'warning',
      '10m',
      `${p99('etcd_disk_backend_commit_duration_seconds')} > 0.25`,
      'etcd backend commits are slow.',
      `99th percentile of backend (bbolt) commits is {{ $value | humanizeDuration }} on ${perMember}.`,
      RUNBOOK.disk,
    ),
    rule(
      'EtcdDatabaseQuotaLowSpace',
      'critical',
      '10m',
      `last_over_time(etcd_mvcc_db_total_size_in_bytes{${etcd}}[5m]) / last_over_time(etcd_server_quota_backend_bytes{${etcd}}[5m]) > 0.95`,
      'etcd database is almost full.',
      `The database of ${perMember} uses {{ $value | humanizePercentage }} of its quota; at 100% etcd raises NOSPACE and refuses writes.`,
      RUNBOOK.quota,
    ),
    rule(
      'EtcdExcessiveDatabaseGrowth',
      'warning',
      '10m',
      `predict_linear(etcd_mvcc_db_total_size_in_bytes{${etcd}}[4h], 4 * 3600) > etcd_server_quota_backend_bytes{${etcd}}`,
      'etcd database grows fast.',
      `At the growth of the last 4 hours the database of ${perMember} reaches its quota within 4 hours.`,
      `${RUNBOOK.quota} Find the writer: \`etcd-steward snapshot diff latest\` shows which keys changed.`,
    ),
    rule(
      'EtcdDatabaseHighFragmentationRatio',
      'warning',
      '10m',
      [
        `last_over_time(etcd_mvcc_db_total_size_in_use_in_bytes{${etcd}}[5m]) / last_over_time(etcd_mvcc_db_total_size_in_bytes{${etcd}}[5m]) < 0.5`,
        `and etcd_mvcc_db_total_size_in_use_in_bytes{${etcd}} > 104857600`,
      ].join('\n'),
      'etcd database is mostly free space.',
      `Only {{ $value | humanizePercentage }} of the database file of ${perMember} is in use; a defrag gives the rest back.`,
      'Run `etcd-steward defrag --dry-run`, then `etcd-steward defrag` (followers first, leader last).',
    ),
  ];

  const agent = 'cluster "{{ $labels.cluster }}"';
  const stewardRules: AlertRule[] = [
    rule(
      'EtcdStewardBackupStale',
      'warning',
      '5m',
      // The newest backup's age; with none at all, how long Prometheus has seen the agent's
      // schedule (first sample of the interval gauge within 7 days, at 1-minute steps).
      [
        '(',
        `  time() - etcd_steward_backup_last_success_timestamp_seconds{${steward}}`,
        `    > 2 * etcd_steward_backup_schedule_interval_seconds{${steward}}`,
        '  or',
        `  time() - min_over_time(timestamp(etcd_steward_backup_schedule_interval_seconds{${steward}})[7d:1m])`,
        `    > 2 * etcd_steward_backup_schedule_interval_seconds{${steward}}`,
        `  unless etcd_steward_backup_last_success_timestamp_seconds{${steward}}`,
        ')',
        `and etcd_steward_backup_schedule_interval_seconds{${steward}} > 0`,
      ].join('\n'),
      'The newest etcd backup is older than twice its schedule.',
      `No successful backup of ${agent} for {{ $value | humanizeDuration }}, more than twice the backup schedule's interval.`,
      RUNBOOK.backup,
    ),
    rule(
      'EtcdStewardBackupFailing',
      'warning',
      '0s',
      [
        `increase(etcd_steward_backup_failures_total{${steward}}[1h]) > 0`,
        `unless time() - etcd_steward_backup_last_success_timestamp_seconds{${steward}} < 3600`,
      ].join('\n'),
      'etcd backups fail.',
      `Backups of ${agent} failed {{ $value | humanize }} time(s) in the last hour with no success since.`,
      RUNBOOK.backup,
    ),
    rule(
      'EtcdStewardDrillFailing',
      'warning',
      '0s',
      [
        `etcd_steward_drill_last_success{${steward}} == 0`,
        `and etcd_steward_drill_last_run_timestamp_seconds{${steward}} > 0`,
        'or',
        `increase(etcd_steward_drill_failures_total{${steward}}[1h]) > 0`,
        `unless etcd_steward_drill_last_success{${steward}} == 1`,
      ].join('\n'),
      'A restore drill of an etcd backup failed.',
      `The newest restore drill of ${agent} failed: the backup may not restore.`,
      'Run `etcd-steward backup verify latest --drill` and read its report; take a fresh backup and verify it.',
    ),
    rule(
      'EtcdStewardDefragFailing',
      'warning',
      '0s',
      `increase(etcd_steward_defrag_failures_total{${steward}}[24h]) > 0`,
      'etcd defrag runs fail.',
      `{{ $value | humanize }} defrag run(s) of ${agent} failed in the last 24 hours.`,
      'Run `etcd-steward defrag --dry-run` for the pre-flight checks and the plan; the agent log has the failing step.',
    ),
    rule(
      'EtcdStewardChangeLogGap',
      'critical',
      '0s',
      `increase(etcd_steward_changelog_gaps_total{${steward}}[1h]) > 0`,
      'The etcd change log has a gap: point-in-time recovery is broken for a stretch.',
      `The continuous backup of ${agent} missed revisions (compacted before they were read) {{ $value | humanize }} time(s) in the last hour; restores to points inside the gap are impossible.`,
      'Take a snapshot now (`etcd-steward backup create`) so a new chain starts; lengthen the compaction retention or shorten backup.flushInterval.',
    ),
    rule(
      'EtcdStewardHealFailed',
      'critical',
      '0s',
      `increase(etcd_steward_heal_actions_total{${steward}, result="failed"}[1h]) > 0`,
      'The agent tried to heal an etcd member and failed.',
      `{{ $value | humanize }} self-healing action(s) of ${agent} failed in the last hour; the member is still unhealthy.`,
      'Open the failed `heal` job (`/api/jobs`, dashboard): its error names the step; run `etcd-steward member list`, then `etcd-steward member replace NAME` by hand (it finishes an interrupted replace).',
    ),
    rule(
      'EtcdStewardHealNeedsQuorum',
      'critical',
      '5m',
      `etcd_steward_heal_blocked{${steward}} > 0`,
      'A member needs healing but the cluster has no quorum to heal it.',
      `{{ $value | humanize }} member(s) of ${agent} need replacing, but the healthy voting members are too few for a membership change.`,
      'Bring back the other down members first (healing then goes on by itself); if they are lost, `etcd-steward recover` rebuilds the cluster from the most advanced survivor or backup.',
    ),
    rule(
      'EtcdStewardCertificateExpiring',
      'warning',
      '10m',
      `etcd_steward_tls_cert_expiry_timestamp_seconds{${steward}} - time() < ${30 * 86400}`,
      'An etcd TLS certificate expires within 30 days.',
      `{{ $labels.file }} ({{ $labels.subject }}), used by ${agent}, expires in {{ $value | humanizeDuration }}.`,
      'Renew it: `etcd-steward certs --reuse-ca --force` (then restart members one by one), or check why cert-manager did not renew the Certificate (`kubectl describe certificate`).',
    ),
    // An upgrade moves one member at a time (restart, catch up, gates): minutes per member even
    // with a full 8 GiB database. Two versions for an hour is an upgrade that stopped half-way.
    rule(
      'EtcdStewardMixedVersions',
      'warning',
      '1h',
      `count by (cluster, job, instance) (count by (cluster, job, instance, version) (etcd_steward_member_version_info{${steward}})) > 1`,
      'etcd members have run different versions for an hour.',
      `The members of ${agent} run {{ $value | humanize }} different etcd versions, longer than an upgrade takes: an upgrade or downgrade stopped half-way.`,
      "Run `etcd-steward status` (it names each member's version and the cluster version); finish with `etcd-steward upgrade --to NEW` or go back with `etcd-steward upgrade --to OLD`.",
    ),
  ];

  const suffix = spec?.name ? `-${spec.name}` : '';
  return {
    groups: [
      { name: `etcd${suffix}`, rules: etcdRules },
      { name: `etcd-steward${suffix}`, rules: stewardRules },
    ],
  };
}
