// The rules and the dashboard against a real Prometheus (Debian's package) on loopback scraping a
// real local 3-member cluster of every etcd line, with a 1 s scrape and evaluation interval:
// every dashboard query parses and every metric it names is one the members expose; then SIGKILL
// one member (EtcdMembersDown fires, quorum holds) and a second (EtcdInsufficientMembers and
// EtcdNoLeader fire), all read from Prometheus' /api/v1/alerts. The rules are rendered with
// `forOverride: '0s'` (the documented test option) so alerts fire on the first evaluation.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { renderAlertRules } from './alerts.js';
import { dashboardQueries, renderGrafanaDashboard } from './grafana.js';
import type { LocalClusterState } from '../runtime/local/state.js';
import {
  binariesFor,
  Cleanup,
  etcdctl,
  tempDir,
  testLines,
  upDetached,
  writeSpec,
} from '../testing/harness.js';
import { startPrometheus, type PrometheusAlert, type PrometheusTestServer } from '../testing/prometheus.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

/** The agent's metric names (CONTRACT.md), the only `etcd_steward_*` names the dashboard may use. */
export const STEWARD_METRICS = [
  'etcd_steward_member_up',
  'etcd_steward_member_healthy',
  'etcd_steward_member_db_size_bytes',
  'etcd_steward_member_db_size_in_use_bytes',
  'etcd_steward_member_db_quota_bytes',
  'etcd_steward_member_is_leader',
  'etcd_steward_member_has_leader',
  'etcd_steward_member_raft_index',
  'etcd_steward_member_raft_applied_lag',
  'etcd_steward_member_alarm',
  'etcd_steward_backup_last_success_timestamp_seconds',
  'etcd_steward_backup_last_duration_seconds',
  'etcd_steward_backup_last_size_bytes',
  'etcd_steward_backup_failures_total',
  'etcd_steward_backup_count',
  'etcd_steward_backup_newest_revision',
  'etcd_steward_backup_schedule_interval_seconds',
  'etcd_steward_defrag_last_run_timestamp_seconds',
  'etcd_steward_defrag_reclaimed_bytes_total',
  'etcd_steward_defrag_failures_total',
  'etcd_steward_drill_last_success',
  'etcd_steward_drill_last_run_timestamp_seconds',
  'etcd_steward_drill_failures_total',
  'etcd_steward_job_runs_total',
  'etcd_steward_job_failures_total',
  'etcd_steward_changelog_lag_seconds',
  'etcd_steward_changelog_lag_revisions',
  'etcd_steward_changelog_segments_written_total',
  'etcd_steward_changelog_gaps_total',
];

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring']);

/** The metric names a PromQL expression selects (strings, label matchers, ranges and groupings left out). */
export function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/(?<![\w:])\d[\d.]*(?:e[+-]?\d+)?/gi, ' ');
  const names = new Set<string>();
  for (const match of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const rest = bare.slice((match.index ?? 0) + match[0].length).trimStart();
    if (rest.startsWith('(') || KEYWORDS.has(match[0])) continue;
    names.add(match[0]);
  }
  return [...names];
}

/** A dashboard query as Grafana would send it for the jobs `etcd` and `etcd-steward`. */
export function asGrafanaSendsIt(expr: string): string {
  return expr
    .replaceAll('$etcd_job', 'etcd')
    .replaceAll('$steward_job', 'etcd-steward')
    .replaceAll('$__rate_interval', '1m');
}

function firing(alerts: readonly PrometheusAlert[], name: string, labels: Record<string, string> = {}) {
  return alerts.filter(
    (a) =>
      a.state === 'firing' &&
      a.labels['alertname'] === name &&
      Object.entries(labels).every(([k, v]) => a.labels[k] === v),
  );
}

async function waitForFiring(
  prometheus: PrometheusTestServer,
  name: string,
  labels: Record<string, string> = {},
): Promise<PrometheusAlert[]> {
  return prometheus.waitFor(`alert ${name} ${JSON.stringify(labels)} firing`, async () => {
    const found = firing(await prometheus.alerts(), name, labels);
    return found.length > 0 ? found : undefined;
  });
}

describe('metricNamesIn', () => {
  it('finds the selected metrics and nothing else', () => {
    assert.deepEqual(
      metricNamesIn(
        'histogram_quantile(0.99, sum by (instance, le) (rate(etcd_disk_wal_fsync_duration_seconds_bucket{job=~"$etcd_job"}[$__rate_interval]))) / on (instance) up and time() - foo_total > 1e3',
      ),
      ['etcd_disk_wal_fsync_duration_seconds_bucket', 'up', 'foo_total'],
    );
  });
});

for (const line of testLines()) {
  describe(`Prometheus with the rendered rules, scraping a 3-member etcd ${line} cluster`, () => {
    it('dashboard queries parse and name real metrics; killing members fires the alerts', async () => {
      const dir = await tempDir(cleanup, `prom-${line}`);
      const spec = await writeSpec(dir, { etcd: { version: line } });
      const up = await upDetached(cleanup, spec);
      // Some traffic, so the client-traffic and request metrics have series.
      const binaries = await binariesFor(line);
      for (let i = 0; i < 5; i++) await etcdctl(binaries, up.endpoints, ['put', `/prom-test/${i}`, 'x']);

      const targets = up.endpoints.map((e) => new URL(e).host);
      const prometheus = await startPrometheus(cleanup, {
        jobs: [{ job: 'etcd', targets }],
        rules: renderAlertRules(undefined, { forOverride: '0s', scrapeIntervalSeconds: 1 }),
        intervalSeconds: 1,
      });
      await prometheus.waitForTargetsUp();

      // The dashboard: every query parses in Prometheus; every etcd metric it names is exposed by
      // these members (some appear only after peers have talked, hence the wait), every agent
      // metric is one of the contract's names.
      const queries = dashboardQueries(renderGrafanaDashboard());
      assert.ok(queries.length > 20, `only ${queries.length} queries`);
      const wanted = new Set(queries.flatMap((q) => metricNamesIn(q.expr)));
      const etcdNames = [...wanted].filter((n) => !n.startsWith('etcd_steward_'));
      const missing = await prometheus
        .waitFor(
          `every dashboard metric exposed by etcd ${line}`,
          async () => {
            const exposed = new Set(await prometheus.metricNames('etcd'));
            const absent = etcdNames.filter((n) => !exposed.has(n));
            return absent.length === 0 ? absent : undefined;
          },
          60_000,
        )
        .catch(async () => {
          const exposed = new Set(await prometheus.metricNames('etcd'));
          return etcdNames.filter((n) => !exposed.has(n));
        });
      assert.deepEqual(missing, [], `etcd ${line} does not expose: ${missing.join(', ')}`);
      for (const name of [...wanted].filter((n) => n.startsWith('etcd_steward_')))
        assert.ok(STEWARD_METRICS.includes(name), `${name} is not an agent metric of the contract`);
      for (const { panel, expr } of queries) {
        const response = await prometheus.query(asGrafanaSendsIt(expr));
        assert.equal(response.status, 'success', `panel "${panel}": ${expr}\n${response.error ?? ''}`);
      }
      // The dashboard's stat for members up reads 3 right now.
      const upNow = await prometheus.query('sum(up{job="etcd"})');
      assert.equal((upNow.data?.result as { value: [number, string] }[])[0]?.value[1], '3');

      // Kill one member: EtcdMembersDown fires; a majority is still up, so no quorum alert.
      const state = JSON.parse(
        await readFile(path.join(dir, 'data', 'state.json'), 'utf8'),
      ) as LocalClusterState;
      const [first, second, survivor] = state.members as [
        LocalClusterState['members'][number],
        LocalClusterState['members'][number],
        LocalClusterState['members'][number],
      ];
      process.kill(first.pid!, 'SIGKILL');
      const down = await waitForFiring(prometheus, 'EtcdMembersDown', { job: 'etcd' });
      assert.equal(down[0]?.labels['severity'], 'critical');
      assert.match(down[0]?.annotations['description'] ?? '', /etcd job "etcd": 1 member\(s\)/);
      assert.deepEqual(firing(await prometheus.alerts(), 'EtcdInsufficientMembers'), []);

      // Kill a second: quorum is lost, and the survivor has no leader.
      process.kill(second.pid!, 'SIGKILL');
      const quorum = await waitForFiring(prometheus, 'EtcdInsufficientMembers', { job: 'etcd' });
      assert.match(quorum[0]?.annotations['description'] ?? '', /only 1 member\(s\) are up/);
      const instance = `127.0.0.1:${survivor.clientPort}`;
      const noLeader = await waitForFiring(prometheus, 'EtcdNoLeader', { job: 'etcd', instance });
      assert.match(
        noLeader[0]?.annotations['description'] ?? '',
        new RegExp(`member ${instance} .* has no leader`),
      );
      // The killed members cannot report anything; only the survivor's alert is there.
      assert.deepEqual(
        firing(await prometheus.alerts(), 'EtcdNoLeader').map((a) => a.labels['instance']),
        [instance],
      );
    });
  });
}
