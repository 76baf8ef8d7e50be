/**
 * The Grafana dashboard etcd-steward ships: the panels people know from the community etcd
 * dashboard (Grafana 15308) on etcd's own metric names, plus a row over the agent's
 * `etcd_steward_*` metrics. The datasource and the scrape jobs are template variables, so one
 * JSON file imports into any Grafana.
 */
import type { Spec } from '../config/spec.js';
import { DEFAULT_ETCD_JOB, DEFAULT_STEWARD_JOB } from './alerts.js';

/** Knobs for the rendered dashboard. */
export interface DashboardOptions {
  /** Regex that filters the etcd job variable's choices (the jobs of `etcd_server_has_leader`). */
  readonly etcdJob?: string;
  /** Regex that filters the agent job variable's choices (the jobs of `etcd_steward_backup_count`). */
  readonly stewardJob?: string;
}

/** A Grafana dashboard: only the fields this module writes, loosely typed for the JSON file. */
export interface GrafanaDashboard {
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly GrafanaPanel[];
  readonly templating: { readonly list: readonly Record<string, unknown>[] };
  readonly [key: string]: unknown;
}

export interface GrafanaPanel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { x: number; y: number; w: number; h: number };
  readonly targets?: readonly { refId: string; expr: string; legendFormat: string }[];
  readonly [key: string]: unknown;
}

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;
/** Selectors in panel queries: the jobs come from the dashboard's variables. */
const ETCD = 'job=~"$etcd_job"';
const STEWARD = 'job=~"$steward_job"';

interface Query {
  readonly expr: string;
  readonly legend: string;
}

interface PanelSpec {
  readonly title: string;
  readonly kind: 'timeseries' | 'stat';
  readonly w: number;
  readonly h?: number;
  readonly unit?: string;
  readonly description?: string;
  readonly queries: readonly Query[];
  /** Stat panels: value → text, e.g. 1 → "yes". */
  readonly mappings?: Readonly<Record<string, { text: string; color: string }>>;
  /** Stat panels: threshold steps (first has no value = base colour). */
  readonly thresholds?: readonly { value: number | null; color: string }[];
}

const q = (expr: string, legend = ''): Query => ({ expr, legend });
const rate = (metric: string, selector = ETCD) => `rate(${metric}{${selector}}[$__rate_interval])`;
const p99 = (metric: string) =>
  `histogram_quantile(0.99, sum by (instance, le) (rate(${metric}_bucket{${ETCD}}[$__rate_interval])))`;

/** The rows and panels, top to bottom; widths are out of Grafana's 24 columns. */
function layout(): readonly { row: string; panels: readonly PanelSpec[] }[] {
  const failedCodes =
    'Unknown|FailedPrecondition|ResourceExhausted|Internal|Unavailable|DataLoss|DeadlineExceeded';
  return [
    {
      row: 'Cluster',
      panels: [
        {
          title: 'Members up',
          kind: 'stat',
          w: 4,
          description: 'Members whose /metrics Prometheus scraped, of all members of the job.',
          queries: [q(`sum(up{${ETCD}})`, 'up'), q(`count(up{${ETCD}})`, 'members')],
        },
        {
          title: 'Has leader',
          kind: 'stat',
          w: 4,
          description: 'Whether every member sees a leader (0 on any member means no).',
          queries: [q(`min(etcd_server_has_leader{${ETCD}})`)],
          mappings: { '0': { text: 'NO', color: 'red' }, '1': { text: 'YES', color: 'green' } },
        },
        {
          title: 'Leader changes (24 h)',
          kind: 'stat',
          w: 4,
          queries: [q(`max(increase(etcd_server_leader_changes_seen_total{${ETCD}}[1d]))`)],
          thresholds: [
            { value: null, color: 'green' },
            { value: 4, color: 'orange' },
            { value: 20, color: 'red' },
          ],
        },
        {
          title: 'Quota use (largest member)',
          kind: 'stat',
          w: 4,
          unit: 'percentunit',
          queries: [
            q(`max(etcd_mvcc_db_total_size_in_bytes{${ETCD}} / etcd_server_quota_backend_bytes{${ETCD}})`),
          ],
          thresholds: [
            { value: null, color: 'green' },
            { value: 0.8, color: 'orange' },
            { value: 0.95, color: 'red' },
          ],
        },
        {
          title: 'Keys',
          kind: 'stat',
          w: 4,
          description: 'Live keys (etcd_debugging_mvcc_keys_total), largest member.',
          queries: [q(`max(etcd_debugging_mvcc_keys_total{${ETCD}})`)],
        },
        {
          title: 'Leader',
          kind: 'stat',
          w: 4,
          description: 'The member that is leader now.',
          queries: [q(`max by (instance) (etcd_server_is_leader{${ETCD}}) == 1`, '{{instance}}')],
        },
      ],
    },
    {
      row: 'Requests',
      panels: [
        {
          title: 'RPC rate',
          kind: 'timeseries',
          w: 8,
          unit: 'ops',
          queries: [
            q(
              `sum(rate(grpc_server_started_total{${ETCD}, grpc_type="unary"}[$__rate_interval]))`,
              'RPC rate',
            ),
            q(
              `sum(rate(grpc_server_handled_total{${ETCD}, grpc_type="unary", grpc_code=~"${failedCodes}"}[$__rate_interval]))`,
              'failed RPC rate',
            ),
          ],
        },
        {
          title: 'Active streams',
          kind: 'timeseries',
          w: 8,
          queries: ['Watch', 'Lease'].map((service) =>
            q(
              `sum(grpc_server_started_total{${ETCD}, grpc_service="etcdserverpb.${service}", grpc_type="bidi_stream"}) - sum(grpc_server_handled_total{${ETCD}, grpc_service="etcdserverpb.${service}", grpc_type="bidi_stream"})`,
              `${service.toLowerCase()} streams`,
            ),
          ),
        },
        {
          title: 'Raft proposals',
          kind: 'timeseries',
          w: 8,
          description: 'Committed and failed proposals per second, and proposals waiting to commit.',
          queries: [
            q(`sum(${rate('etcd_server_proposals_committed_total')})`, 'committed'),
            q(`sum(${rate('etcd_server_proposals_failed_total')})`, 'failed'),
            q(`sum(etcd_server_proposals_pending{${ETCD}})`, 'pending'),
          ],
        },
      ],
    },
    {
      row: 'Database',
      panels: [
        {
          title: 'DB size and in use',
          kind: 'timeseries',
          w: 12,
          unit: 'bytes',
          queries: [
            q(`etcd_mvcc_db_total_size_in_bytes{${ETCD}}`, '{{instance}} size'),
            q(`etcd_mvcc_db_total_size_in_use_in_bytes{${ETCD}}`, '{{instance}} in use'),
            q(`max(etcd_server_quota_backend_bytes{${ETCD}})`, 'quota'),
          ],
        },
        {
          title: 'Failed proposals',
          kind: 'timeseries',
          w: 12,
          unit: 'ops',
          queries: [q(`sum by (instance) (${rate('etcd_server_proposals_failed_total')})`, '{{instance}}')],
        },
      ],
    },
    {
      row: 'Disk',
      panels: [
        {
          title: 'WAL fsync p99',
          kind: 'timeseries',
          w: 12,
          unit: 's',
          queries: [q(p99('etcd_disk_wal_fsync_duration_seconds'), '{{instance}} WAL fsync')],
        },
        {
          title: 'Backend commit p99',
          kind: 'timeseries',
          w: 12,
          unit: 's',
          queries: [q(p99('etcd_disk_backend_commit_duration_seconds'), '{{instance}} backend commit')],
        },
      ],
    },
    {
      row: 'Network',
      panels: [
        {
          title: 'Client gRPC traffic',
          kind: 'timeseries',
          w: 8,
          unit: 'Bps',
          queries: [
            q(rate('etcd_network_client_grpc_received_bytes_total'), '{{instance}} in'),
            q(rate('etcd_network_client_grpc_sent_bytes_total'), '{{instance}} out'),
          ],
        },
        {
          title: 'Peer traffic',
          kind: 'timeseries',
          w: 8,
          unit: 'Bps',
          queries: [
            q(`sum by (instance) (${rate('etcd_network_peer_received_bytes_total')})`, '{{instance}} in'),
            q(`sum by (instance) (${rate('etcd_network_peer_sent_bytes_total')})`, '{{instance}} out'),
          ],
        },
        {
          title: 'Peer round trip p99',
          kind: 'timeseries',
          w: 8,
          unit: 's',
          queries: [q(p99('etcd_network_peer_round_trip_time_seconds'), '{{instance}}')],
        },
      ],
    },
    {
      row: 'Process',
      panels: [
        {
          title: 'Memory (resident)',
          kind: 'timeseries',
          w: 12,
          unit: 'bytes',
          queries: [q(`process_resident_memory_bytes{${ETCD}}`, '{{instance}}')],
        },
        {
          title: 'CPU',
          kind: 'timeseries',
          w: 12,
          unit: 'percentunit',
          queries: [q(rate('process_cpu_seconds_total'), '{{instance}}')],
        },
      ],
    },
    {
      row: 'etcd-steward',
      panels: [
        {
          title: 'Backup age',
          kind: 'stat',
          w: 4,
          unit: 's',
          description: 'Time since the last successful backup (the agent alerts above 2× the schedule).',
          queries: [q(`time() - max(etcd_steward_backup_last_success_timestamp_seconds{${STEWARD}})`)],
          thresholds: [{ value: null, color: 'green' }],
        },
        {
          title: 'Last backup size',
          kind: 'stat',
          w: 4,
          unit: 'bytes',
          queries: [q(`max(etcd_steward_backup_last_size_bytes{${STEWARD}})`)],
        },
        {
          title: 'Last backup duration',
          kind: 'stat',
          w: 4,
          unit: 's',
          queries: [q(`max(etcd_steward_backup_last_duration_seconds{${STEWARD}})`)],
        },
        {
          title: 'Backups in catalog',
          kind: 'stat',
          w: 4,
          queries: [q(`max(etcd_steward_backup_count{${STEWARD}})`)],
        },
        {
          title: 'Last restore drill',
          kind: 'stat',
          w: 4,
          queries: [q(`min(etcd_steward_drill_last_success{${STEWARD}})`)],
          mappings: { '0': { text: 'FAILED', color: 'red' }, '1': { text: 'PASSED', color: 'green' } },
        },
        {
          title: 'Defrag reclaimed (24 h)',
          kind: 'stat',
          w: 4,
          unit: 'bytes',
          queries: [q(`sum(increase(etcd_steward_defrag_reclaimed_bytes_total{${STEWARD}}[1d]))`)],
        },
        {
          title: 'Failures (per hour)',
          kind: 'timeseries',
          w: 12,
          description: 'Failed backups, drills and defrags (each is retried on its next schedule tick).',
          queries: ['backup', 'drill', 'defrag'].map((kind) =>
            q(`sum(increase(etcd_steward_${kind}_failures_total{${STEWARD}}[1h]))`, `${kind} failures`),
          ),
        },
        {
          title: 'Change log lag (PITR)',
          kind: 'timeseries',
          w: 12,
          unit: 's',
          description: 'How far the continuous backup trails the cluster, and gaps in it.',
          queries: [
            q(`max(etcd_steward_changelog_lag_seconds{${STEWARD}})`, 'lag (seconds)'),
            q(`sum(increase(etcd_steward_changelog_gaps_total{${STEWARD}}[1h]))`, 'gaps (per hour)'),
          ],
        },
      ],
    },
  ];
}

function statOptions(spec: PanelSpec): Record<string, unknown> {
  const mappings = spec.mappings
    ? [
        {
          type: 'value',
          options: Object.fromEntries(
            Object.entries(spec.mappings).map(([value, m], index) => [value, { ...m, index }]),
          ),
        },
      ]
    : [];
  return {
    fieldConfig: {
      defaults: {
        ...(spec.unit ? { unit: spec.unit } : {}),
        mappings,
        thresholds: { mode: 'absolute', steps: spec.thresholds ?? [{ value: null, color: 'blue' }] },
      },
      overrides: [],
    },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: spec.mappings || spec.thresholds ? 'background' : 'value',
      graphMode: 'none',
      textMode: 'auto',
      orientation: 'auto',
    },
  };
}

function timeseriesOptions(spec: PanelSpec): Record<string, unknown> {
  return {
    fieldConfig: {
      defaults: { ...(spec.unit ? { unit: spec.unit } : {}), custom: { lineWidth: 1, fillOpacity: 10 } },
      overrides: [],
    },
    options: {
      legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  };
}

function jobVariable(name: string, label: string, metric: string, regex: string): Record<string, unknown> {
  return {
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    definition: `label_values(${metric}, job)`,
    query: { query: `label_values(${metric}, job)`, refId: `${name}-values` },
    refresh: 2,
    // Only jobs matching this are offered; "All" is every one of them (no catch-all regex, so
    // the agent's job never counts as an etcd member in `up`).
    regex: `/^(?:${regex})$/`,
    includeAll: true,
    multi: true,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    sort: 1,
  };
}

/**
 * The dashboard JSON (Grafana 10+ schema): import it in Grafana (Dashboards → New → Import) and
 * pick the Prometheus datasource. `spec`, when given, names the cluster in the title.
 */
export function renderGrafanaDashboard(
  spec?: Pick<Spec, 'name'>,
  options: DashboardOptions = {},
): GrafanaDashboard {
  const panels: GrafanaPanel[] = [];
  let id = 1;
  let y = 0;
  for (const { row, panels: specs } of layout()) {
    panels.push({
      id: id++,
      type: 'row',
      title: row,
      collapsed: false,
      gridPos: { x: 0, y, w: 24, h: 1 },
      panels: [],
    });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const spec of specs) {
      const h = spec.h ?? (spec.kind === 'stat' ? 4 : 8);
      if (x + spec.w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      panels.push({
        id: id++,
        type: spec.kind,
        title: spec.title,
        ...(spec.description ? { description: spec.description } : {}),
        datasource: DATASOURCE,
        gridPos: { x, y, w: spec.w, h },
        targets: spec.queries.map((query, index) => ({
          refId: String.fromCharCode(65 + index),
          datasource: DATASOURCE,
          expr: query.expr,
          legendFormat: query.legend,
          range: true,
        })),
        ...(spec.kind === 'stat' ? statOptions(spec) : timeseriesOptions(spec)),
      });
      x += spec.w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }
  return {
    uid: spec?.name ? `etcd-steward-${spec.name}`.slice(0, 40) : 'etcd-steward',
    title: spec?.name ? `etcd: ${spec.name} (etcd-steward)` : 'etcd (etcd-steward)',
    description: "etcd's metrics (the panels of the community etcd dashboard) and the etcd-steward agent's.",
    tags: ['etcd', 'etcd-steward'],
    editable: true,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    timezone: 'browser',
    graphTooltip: 1,
    annotations: { list: [] },
    links: [],
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          refresh: 1,
          hide: 0,
        },
        jobVariable('etcd_job', 'etcd job', 'etcd_server_has_leader', options.etcdJob ?? DEFAULT_ETCD_JOB),
        jobVariable(
          'steward_job',
          'agent job',
          'etcd_steward_backup_count',
          options.stewardJob ?? DEFAULT_STEWARD_JOB,
        ),
      ],
    },
    panels,
  };
}

/** Every PromQL expression of the dashboard, with the panel it belongs to (for tests and docs). */
export function dashboardQueries(dashboard: GrafanaDashboard): { panel: string; expr: string }[] {
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })),
  );
}
