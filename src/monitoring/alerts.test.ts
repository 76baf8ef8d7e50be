// The rendered rule file against Debian's real promtool: `promtool check rules` accepts it, and
// `promtool test rules` runs unit tests that make every alert fire on synthetic series and stay
// quiet on healthy ones. Plus the CLI (`render alerts`, its options and its bad input).
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { ALERT_NAMES, RUNBOOK_PAGE, renderAlertRules, type RuleFile } from './alerts.js';
import { fileURLToPath } from 'node:url';
import { Cleanup, runCli, tempDir } from '../testing/harness.js';
import { promtool } from '../testing/prometheus.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

const ETCD = { job: 'etcd' };
const AGENT = { job: 'etcd-steward', instance: '127.0.0.1:9779', cluster: 'etcd' };
const CERT = { ...AGENT, file: '/etc/etcd-steward/tls/ca.crt', subject: 'CN=etcd-steward CA for etcd' };

type Labels = Record<string, string>;
interface Series {
  readonly series: string;
  readonly values: string;
}
interface Case {
  readonly alert: (typeof ALERT_NAMES)[number];
  readonly name: string;
  readonly series: readonly Series[];
  readonly evalTime: string;
  /** The alerts expected firing at evalTime (labels besides alertname); [] = none. */
  readonly firing: readonly Labels[];
}

function series(metric: string, labels: Labels, values: string): Series {
  const text = Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ');
  return { series: `${metric}{${text}}`, values };
}

const member = (instance: string) => ({ ...ETCD, instance });
const up = (instance: string, values: string) => series('up', member(instance), values);
/** A histogram with buckets `les` (ascending, without +Inf) where each minute adds `perMinute` to buckets ≥ `into`. */
function histogram(
  metric: string,
  instance: string,
  les: readonly string[],
  into: string,
  perMinute: number,
): Series[] {
  const all = [...les, '+Inf'];
  const start = all.indexOf(into);
  return all.map((le, i) =>
    series(`${metric}_bucket`, { ...member(instance), le }, i >= start ? `0+${perMinute}x60` : '0x60'),
  );
}
const MiB = 2 ** 20;

const cases: Case[] = [
  // Members down: a failed scrape, or peers that cannot reach a member.
  {
    alert: 'EtcdMembersDown',
    name: 'one member not scraped for 15 minutes',
    series: [up('a', '1x30'), up('b', '1x30'), up('c', '1 1 1 1 1 0x25')],
    evalTime: '20m',
    firing: [{ job: 'etcd', severity: 'critical' }],
  },
  {
    alert: 'EtcdMembersDown',
    name: 'every member scraped, but two peers fail to send to c',
    series: [
      up('a', '1x30'),
      up('b', '1x30'),
      up('c', '1x30'),
      series('etcd_network_peer_sent_failures_total', { ...member('a'), To: 'c' }, '0+60x30'),
      series('etcd_network_peer_sent_failures_total', { ...member('b'), To: 'c' }, '0+60x30'),
    ],
    evalTime: '20m',
    firing: [{ job: 'etcd', severity: 'critical' }],
  },
  {
    alert: 'EtcdMembersDown',
    name: 'all up, no peer failures',
    series: [
      up('a', '1x30'),
      up('b', '1x30'),
      up('c', '1x30'),
      series('etcd_network_peer_sent_failures_total', { ...member('a'), To: 'c' }, '3x30'),
    ],
    evalTime: '20m',
    firing: [],
  },
  {
    alert: 'EtcdMembersDown',
    name: 'a member down for less than 10 minutes',
    series: [up('a', '1x30'), up('b', '1x30'), up('c', '1x15 0x15')],
    evalTime: '20m',
    firing: [],
  },
  // Quorum.
  {
    alert: 'EtcdInsufficientMembers',
    name: 'two of three down',
    series: [up('a', '1x30'), up('b', '1 1 0x28'), up('c', '1 1 0x28')],
    evalTime: '10m',
    firing: [{ job: 'etcd', severity: 'critical' }],
  },
  {
    alert: 'EtcdInsufficientMembers',
    name: 'one of three down',
    series: [up('a', '1x30'), up('b', '1x30'), up('c', '1 1 0x28')],
    evalTime: '10m',
    firing: [],
  },
  // Leader.
  {
    alert: 'EtcdNoLeader',
    name: 'a member without a leader',
    series: [
      series('etcd_server_has_leader', member('a'), '1 1 0x20'),
      series('etcd_server_has_leader', member('b'), '1x22'),
    ],
    evalTime: '10m',
    firing: [{ job: 'etcd', instance: 'a', severity: 'critical' }],
  },
  {
    alert: 'EtcdNoLeader',
    name: 'every member has a leader',
    series: [series('etcd_server_has_leader', member('a'), '1x20')],
    evalTime: '10m',
    firing: [],
  },
  {
    alert: 'EtcdHighNumberOfLeaderChanges',
    name: 'an election every minute',
    series: [series('etcd_server_leader_changes_seen_total', member('a'), '0+1x60')],
    evalTime: '30m',
    firing: [{ job: 'etcd', severity: 'warning' }],
  },
  {
    alert: 'EtcdHighNumberOfLeaderChanges',
    name: 'two elections in an hour',
    series: [series('etcd_server_leader_changes_seen_total', member('a'), '1x20 2x20 3x20')],
    evalTime: '50m',
    firing: [],
  },
  // gRPC failures: 10% fires both severities, 2% only the warning, 0.5% none.
  ...[
    { percent: 10, firing: ['warning', 'critical'] },
    { percent: 2, firing: ['warning'] },
    { percent: 0.5, firing: [] },
  ].map(({ percent, firing }): Case => ({
    alert: 'EtcdHighNumberOfFailedGRPCRequests',
    name: `${percent}% of Range calls fail`,
    series: [
      ['OK', 6000 - 60 * percent],
      ['Unavailable', 60 * percent],
    ].map(([code, perMinute]) =>
      series(
        'grpc_server_handled_total',
        {
          ...member('a'),
          grpc_service: 'etcdserverpb.KV',
          grpc_method: 'Range',
          grpc_type: 'unary',
          grpc_code: String(code),
        },
        `0+${perMinute}x60`,
      ),
    ),
    evalTime: '30m',
    firing: firing.map((severity) => ({
      job: 'etcd',
      instance: 'a',
      grpc_service: 'etcdserverpb.KV',
      grpc_method: 'Range',
      severity,
    })),
  })),
  {
    alert: 'EtcdHighNumberOfFailedProposals',
    name: 'a failed proposal every minute',
    series: [series('etcd_server_proposals_failed_total', member('a'), '0+1x80')],
    evalTime: '60m',
    firing: [{ job: 'etcd', instance: 'a', severity: 'warning' }],
  },
  {
    alert: 'EtcdHighNumberOfFailedProposals',
    name: 'three failed proposals in an hour',
    series: [series('etcd_server_proposals_failed_total', member('a'), '0x20 1x20 3x40')],
    evalTime: '60m',
    firing: [],
  },
  // Disk latency: p99 interpolated inside the bucket that holds the observations.
  {
    alert: 'EtcdHighFsyncDurations',
    name: 'fsyncs of 1–2 s',
    series: histogram('etcd_disk_wal_fsync_duration_seconds', 'a', ['0.5', '1', '2'], '2', 10),
    evalTime: '30m',
    firing: [
      { job: 'etcd', instance: 'a', severity: 'warning' },
      { job: 'etcd', instance: 'a', severity: 'critical' },
    ],
  },
  {
    alert: 'EtcdHighFsyncDurations',
    name: 'fsyncs of 0.5–1 s',
    series: histogram('etcd_disk_wal_fsync_duration_seconds', 'a', ['0.5', '1', '2'], '1', 10),
    evalTime: '30m',
    firing: [{ job: 'etcd', instance: 'a', severity: 'warning' }],
  },
  {
    alert: 'EtcdHighFsyncDurations',
    name: 'fsyncs under 0.5 s',
    series: histogram('etcd_disk_wal_fsync_duration_seconds', 'a', ['0.5', '1', '2'], '0.5', 10),
    evalTime: '30m',
    firing: [],
  },
  {
    alert: 'EtcdHighCommitDurations',
    name: 'commits of 0.1–0.5 s',
    series: histogram('etcd_disk_backend_commit_duration_seconds', 'a', ['0.1', '0.5'], '0.5', 10),
    evalTime: '30m',
    firing: [{ job: 'etcd', instance: 'a', severity: 'warning' }],
  },
  {
    alert: 'EtcdHighCommitDurations',
    name: 'commits under 0.1 s',
    series: histogram('etcd_disk_backend_commit_duration_seconds', 'a', ['0.1', '0.5'], '0.1', 10),
    evalTime: '30m',
    firing: [],
  },
  // Space.
  {
    alert: 'EtcdDatabaseQuotaLowSpace',
    name: '97% of the quota',
    series: [
      series('etcd_mvcc_db_total_size_in_bytes', member('a'), '97x30'),
      series('etcd_server_quota_backend_bytes', member('a'), '100x30'),
    ],
    evalTime: '20m',
    firing: [{ job: 'etcd', instance: 'a', severity: 'critical' }],
  },
  {
    alert: 'EtcdDatabaseQuotaLowSpace',
    name: 'half of the quota',
    series: [
      series('etcd_mvcc_db_total_size_in_bytes', member('a'), '50x30'),
      series('etcd_server_quota_backend_bytes', member('a'), '100x30'),
    ],
    evalTime: '20m',
    firing: [],
  },
  {
    alert: 'EtcdExcessiveDatabaseGrowth',
    name: '1 MB a minute towards a 300 MB quota',
    series: [
      series('etcd_mvcc_db_total_size_in_bytes', member('a'), '0+1000000x300'),
      series('etcd_server_quota_backend_bytes', member('a'), '300000000x300'),
    ],
    evalTime: '250m',
    firing: [{ job: 'etcd', instance: 'a', severity: 'warning' }],
  },
  {
    alert: 'EtcdExcessiveDatabaseGrowth',
    name: 'a flat database',
    series: [
      series('etcd_mvcc_db_total_size_in_bytes', member('a'), '100000000x300'),
      series('etcd_server_quota_backend_bytes', member('a'), '300000000x300'),
    ],
    evalTime: '250m',
    firing: [],
  },
  {
    alert: 'EtcdDatabaseHighFragmentationRatio',
    name: '200 MiB in use of a 1 GiB file',
    series: [
      series('etcd_mvcc_db_total_size_in_use_in_bytes', member('a'), `${200 * MiB}x30`),
      series('etcd_mvcc_db_total_size_in_bytes', member('a'), `${1024 * MiB}x30`),
    ],
    evalTime: '20m',
    firing: [{ job: 'etcd', instance: 'a', severity: 'warning' }],
  },
  ...[
    ['50 MiB in use of a 1 GiB file (too small to matter)', 50, 1024],
    ['900 MiB in use of a 1 GiB file', 900, 1024],
  ].map(([name, inUse, total]): Case => ({
    alert: 'EtcdDatabaseHighFragmentationRatio',
    name: String(name),
    series: [
      series('etcd_mvcc_db_total_size_in_use_in_bytes', member('a'), `${Number(inUse) * MiB}x30`),
      series('etcd_mvcc_db_total_size_in_bytes', member('a'), `${Number(total) * MiB}x30`),
    ],
    evalTime: '20m',
    firing: [],
  })),
  // The agent's alerts. promtool's clock starts at 0, so time() at 30m is 1800.
  {
    alert: 'EtcdStewardBackupStale',
    name: 'last success at 5 min, schedule every minute',
    series: [
      series('etcd_steward_backup_last_success_timestamp_seconds', AGENT, '300x60'),
      series('etcd_steward_backup_schedule_interval_seconds', AGENT, '60x60'),
    ],
    evalTime: '30m',
    firing: [{ ...AGENT, severity: 'warning' }],
  },
  {
    alert: 'EtcdStewardBackupStale',
    name: 'a schedule every minute and never a backup',
    series: [series('etcd_steward_backup_schedule_interval_seconds', AGENT, '60x60')],
    evalTime: '30m',
    firing: [{ ...AGENT, severity: 'warning' }],
  },
  {
    alert: 'EtcdStewardBackupStale',
    name: 'a schedule every hour, agent seen for 30 minutes, no backup yet',
    series: [series('etcd_steward_backup_schedule_interval_seconds', AGENT, '3600x60')],
    evalTime: '30m',
    firing: [],
  },
  {
    alert: 'EtcdStewardBackupStale',
    name: 'a backup every minute',
    series: [
      series('etcd_steward_backup_last_success_timestamp_seconds', AGENT, '0+60x60'),
      series('etcd_steward_backup_schedule_interval_seconds', AGENT, '60x60'),
    ],
    evalTime: '30m',
    firing: [],
  },
  {
    alert: 'EtcdStewardBackupStale',
    name: 'an old backup and no schedule',
    series: [
      series('etcd_steward_backup_last_success_timestamp_seconds', AGENT, '300x60'),
      series('etcd_steward_backup_schedule_interval_seconds', AGENT, '0x60'),
    ],
    evalTime: '30m',
    firing: [],
  },
  {
    alert: 'EtcdStewardBackupFailing',
    name: 'a failure every minute, no success ever (timestamp 0)',
    series: [
      series('etcd_steward_backup_failures_total', AGENT, '0+1x120'),
      series('etcd_steward_backup_last_success_timestamp_seconds', AGENT, '0x120'),
    ],
    evalTime: '90m',
    firing: [{ ...AGENT, severity: 'warning' }],
  },
  {
    alert: 'EtcdStewardBackupFailing',
    name: 'failures, and no success series at all',
    series: [series('etcd_steward_backup_failures_total', AGENT, '0+1x60')],
    evalTime: '30m',
    firing: [{ ...AGENT, severity: 'warning' }],
  },
  {
    alert: 'EtcdStewardBackupFailing',
    name: 'one failure, then successes',
    series: [
      series('etcd_steward_backup_failures_total', AGENT, '0 1x60'),
      series('etcd_steward_backup_last_success_timestamp_seconds', AGENT, '0+60x60'),
    ],
    evalTime: '30m',
    firing: [],
  },
  {
    alert: 'EtcdStewardDrillFailing',
    name: 'the last drill failed',
    series: [
      series('etcd_steward_drill_last_success', AGENT, '1x5 0x30'),
      series('etcd_steward_drill_last_run_timestamp_seconds', AGENT, '100x5 400x30'),
    ],
    evalTime: '10m',
    firing: [{ ...AGENT, severity: 'warning' }],
  },
  {
    alert: 'EtcdStewardDrillFailing',
    name: 'the last drill passed',
    series: [
      series('etcd_steward_drill_last_success', AGENT, '1x30'),
      series('etcd_steward_drill_last_run_timestamp_seconds', AGENT, '100x30'),
      series('etcd_steward_drill_failures_total', AGENT, '0x30'),
    ],
    evalTime: '10m',
    firing: [],
  },
  {
    alert: 'EtcdStewardDrillFailing',
    name: 'no drill has run yet',
    series: [
      series('etcd_steward_drill_last_success', AGENT, '0x30'),
      series('etcd_steward_drill_last_run_timestamp_seconds', AGENT, '0x30'),
      series('etcd_steward_drill_failures_total', AGENT, '0x30'),
    ],
    evalTime: '10m',
    firing: [],
  },
  {
    alert: 'EtcdStewardDefragFailing',
    name: 'a defrag failed',
    series: [series('etcd_steward_defrag_failures_total', AGENT, '0x5 1x30')],
    evalTime: '10m',
    firing: [{ ...AGENT, severity: 'warning' }],
  },
  {
    alert: 'EtcdStewardDefragFailing',
    name: 'no defrag failed',
    series: [series('etcd_steward_defrag_failures_total', AGENT, '0x30')],
    evalTime: '10m',
    firing: [],
  },
  {
    alert: 'EtcdStewardChangeLogGap',
    name: 'a gap in the change log',
    series: [series('etcd_steward_changelog_gaps_total', AGENT, '0x5 1x30')],
    evalTime: '10m',
    firing: [{ ...AGENT, severity: 'critical' }],
  },
  {
    alert: 'EtcdStewardChangeLogGap',
    name: 'no gap',
    series: [series('etcd_steward_changelog_gaps_total', AGENT, '0x30')],
    evalTime: '10m',
    firing: [],
  },
  {
    alert: 'EtcdStewardHealFailed',
    name: 'a replace by the agent failed',
    series: [
      series(
        'etcd_steward_heal_actions_total',
        { ...AGENT, action: 'replace', result: 'failed' },
        '0x5 1x30',
      ),
    ],
    evalTime: '10m',
    firing: [{ ...AGENT, action: 'replace', result: 'failed', severity: 'critical' }],
  },
  {
    alert: 'EtcdStewardHealFailed',
    name: 'healing succeeded',
    series: [
      series('etcd_steward_heal_actions_total', { ...AGENT, action: 'replace', result: 'failed' }, '0x30'),
      series(
        'etcd_steward_heal_actions_total',
        { ...AGENT, action: 'replace', result: 'succeeded' },
        '0x5 1x30',
      ),
    ],
    evalTime: '10m',
    firing: [],
  },
  {
    alert: 'EtcdStewardHealNeedsQuorum',
    name: 'a member to replace without quorum for 10 minutes',
    series: [series('etcd_steward_heal_blocked', AGENT, '1x30')],
    evalTime: '10m',
    firing: [{ ...AGENT, severity: 'critical' }],
  },
  {
    alert: 'EtcdStewardHealNeedsQuorum',
    name: 'blocked only for a moment',
    series: [series('etcd_steward_heal_blocked', AGENT, '0x7 1 0x20')],
    evalTime: '10m',
    firing: [],
  },
  // promtool's clock starts at 0: a certificate expiring at day 29 is inside the 30 days.
  {
    alert: 'EtcdStewardCertificateExpiring',
    name: 'expires in 29 days',
    series: [series('etcd_steward_tls_cert_expiry_timestamp_seconds', CERT, `${29 * 86400}x60`)],
    evalTime: '30m',
    firing: [{ ...CERT, severity: 'warning' }],
  },
  {
    alert: 'EtcdStewardMixedVersions',
    name: 'one member on 3.6 and two on 3.5 for two hours',
    series: [
      series('etcd_steward_member_version_info', { ...AGENT, member: 'etcd-0', version: '3.5.36' }, '1x130'),
      series('etcd_steward_member_version_info', { ...AGENT, member: 'etcd-1', version: '3.6.16' }, '1x130'),
      series('etcd_steward_member_version_info', { ...AGENT, member: 'etcd-2', version: '3.5.36' }, '1x130'),
    ],
    evalTime: '2h',
    firing: [{ ...AGENT, severity: 'warning' }],
  },
  {
    alert: 'EtcdStewardMixedVersions',
    name: 'a rolling upgrade 44 minutes in (it takes 40)',
    series: [
      series('etcd_steward_member_version_info', { ...AGENT, member: 'etcd-0', version: '3.5.36' }, '1x40'),
      series(
        'etcd_steward_member_version_info',
        { ...AGENT, member: 'etcd-0', version: '3.6.16' },
        '_x40 1x90',
      ),
      series('etcd_steward_member_version_info', { ...AGENT, member: 'etcd-1', version: '3.6.16' }, '1x130'),
    ],
    evalTime: '44m',
    firing: [],
  },
  {
    alert: 'EtcdStewardCertificateExpiring',
    name: 'expires in 31 days',
    series: [series('etcd_steward_tls_cert_expiry_timestamp_seconds', CERT, `${31 * 86400}x60`)],
    evalTime: '30m',
    firing: [],
  },
];

/**
 * promtool compares annotations exactly, so the unit tests run on a copy without annotations
 * (their templates are checked by `promtool check rules`, and rendered by the Prometheus
 * integration test).
 */
function withoutAnnotations(rules: RuleFile): object {
  return {
    groups: rules.groups.map((group) => ({
      ...group,
      rules: group.rules.map(({ annotations: _annotations, ...rule }) => rule),
    })),
  };
}

function unitTestFile(ruleFile: string, of: readonly Case[] = cases): object {
  return {
    rule_files: [ruleFile],
    evaluation_interval: '1m',
    tests: of.map((c) => ({
      name: `${c.alert}: ${c.name}`,
      interval: '1m',
      input_series: c.series,
      alert_rule_test: [
        {
          eval_time: c.evalTime,
          alertname: c.alert,
          exp_alerts: c.firing.map((labels) => ({ exp_labels: labels })),
        },
      ],
    })),
  };
}

describe('render alerts', () => {
  it('writes a rule file that promtool check rules accepts, with every alert of the contract', async () => {
    const dir = await tempDir(cleanup, 'alerts');
    const file = path.join(dir, 'etcd-alerts.yaml');
    const r = await runCli(['render', 'alerts', '--output-file', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    const check = await promtool(['check', 'rules', file], dir);
    assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
    assert.match(check.stdout, /SUCCESS: 22 rules found/);
    const rules = parse(await readFile(file, 'utf8')) as RuleFile;
    const names = new Set(rules.groups.flatMap((g) => g.rules.map((rule) => rule.alert)));
    assert.deepEqual([...names].sort(), [...ALERT_NAMES].sort());
    for (const rule of rules.groups.flatMap((g) => g.rules)) {
      assert.ok(
        rule.annotations['summary'] &&
          rule.annotations['description'] &&
          rule.annotations['runbook'] &&
          rule.annotations['runbook_url'],
        rule.alert,
      );
      assert.match(rule.labels['severity'] ?? '', /^(warning|critical)$/);
    }
  });

  it("every rule's runbook_url points at its own heading of docs/alerts.md", async () => {
    const page = await readFile(fileURLToPath(new URL('../../docs/alerts.md', import.meta.url)), 'utf8');
    // GitHub's anchors: the heading in lower case, spaces to '-', other punctuation dropped.
    const anchors = new Set(
      [...page.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
        (m[1] ?? '')
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 _-]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    const rules = renderAlertRules().groups.flatMap((g) => g.rules);
    assert.equal(rules.length, 22);
    for (const rule of rules) {
      const url = rule.annotations['runbook_url'] ?? '';
      assert.equal(url, `${RUNBOOK_PAGE}#${rule.alert.toLowerCase()}`, rule.alert);
      assert.ok(anchors.has(url.split('#')[1] ?? ''), `docs/alerts.md has no heading for ${rule.alert}`);
    }
    const own = renderAlertRules(undefined, { runbookPage: 'https://wiki.example/etcd' });
    assert.equal(
      own.groups[0]?.rules[0]?.annotations['runbook_url'],
      'https://wiki.example/etcd#etcdmembersdown',
    );
  });

  it('every alert fires on synthetic series and stays quiet on healthy ones (promtool test rules)', async () => {
    const dir = await tempDir(cleanup, 'alerts-unit');
    for (const alert of ALERT_NAMES) {
      assert.ok(
        cases.some((c) => c.alert === alert && c.firing.length > 0),
        `no firing case for ${alert}`,
      );
      assert.ok(
        cases.some((c) => c.alert === alert && c.firing.length === 0),
        `no quiet case for ${alert}`,
      );
    }
    await writeFile(path.join(dir, 'rules.yaml'), stringify(withoutAnnotations(renderAlertRules())));
    await writeFile(path.join(dir, 'tests.yaml'), stringify(unitTestFile('rules.yaml')));
    const result = await promtool(['test', 'rules', 'tests.yaml'], dir);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /SUCCESS/);
  });

  it('a unit test that expects the wrong alert fails (the harness can fail)', async () => {
    const dir = await tempDir(cleanup, 'alerts-unit-neg');
    await writeFile(path.join(dir, 'rules.yaml'), stringify(withoutAnnotations(renderAlertRules())));
    const quiet = cases.find((c) => c.alert === 'EtcdInsufficientMembers' && c.firing.length === 0)!;
    const wrong: Case = { ...quiet, firing: [{ job: 'etcd', severity: 'critical' }] };
    await writeFile(path.join(dir, 'tests.yaml'), stringify(unitTestFile('rules.yaml', [wrong])));
    const result = await promtool(['test', 'rules', 'tests.yaml'], dir);
    assert.notEqual(result.code, 0, result.stdout);
  });

  it('--etcd-job / --steward-job / --for / --scrape-interval change the selectors and hold times', async () => {
    const r = await runCli([
      'render',
      'alerts',
      '-o',
      'json',
      '--etcd-job',
      'greptime/etcd',
      '--steward-job',
      'greptime/etcd-agent',
      '--for',
      '5s',
      '--scrape-interval',
      '10s',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rules = r.json<RuleFile>().groups.flatMap((g) => g.rules);
    const noLeader = rules.find((rule) => rule.alert === 'EtcdNoLeader')!;
    assert.equal(
      noLeader.expr,
      'etcd_server_has_leader{job=~"greptime/etcd", job!~"greptime/etcd-agent"} == 0',
    );
    assert.ok(rules.every((rule) => rule.for === '5s'));
    assert.match(rules.find((rule) => rule.alert === 'EtcdMembersDown')!.expr, /\[40s\]/);
    assert.match(
      rules.find((rule) => rule.alert === 'EtcdStewardBackupStale')!.expr,
      /job=~"greptime\/etcd-agent"/,
    );
  });

  it('bad options are exit 2 with the problem named', async () => {
    const badRegex = await runCli(['render', 'alerts', '--etcd-job', '(etcd']);
    assert.equal(badRegex.code, 2);
    assert.match(badRegex.stderr, /--etcd-job '\(etcd' is not a regular expression/);
    const badFor = await runCli(['render', 'alerts', '--for', 'soon']);
    assert.equal(badFor.code, 2);
    assert.match(badFor.stderr, /'soon' is not a duration/);
  });
});
