/** `etcd-steward status`: one row per member; exit 0 when every member is healthy, else 1. */
import { formatBytes } from '../../config/units.js';
import { clusterStatus, type ClusterStatus, type MemberStatusRow } from '../../engine/status.js';
import { clusterTarget, connectionFor, type GlobalOptions } from '../context.js';
import { printJson, renderTable } from '../output.js';

export async function statusCommand(options: GlobalOptions): Promise<number> {
  const { spec, endpoints, names, runtime } = await clusterTarget(options);
  const status = await clusterStatus({
    endpoints,
    connection: connectionFor(options, spec),
    specQuota: spec?.etcd.quotaBackendBytes,
    names,
  }).finally(() => runtime?.close());
  if (options.output === 'json') printJson(status);
  else process.stdout.write(`${formatStatus(status)}\n`);
  return status.healthy ? 0 : 1;
}

const dash = '-';

function cell<T>(value: T | undefined, show: (v: T) => string): string {
  return value === undefined ? dash : show(value);
}

/** The status table (etcdctl's columns plus health, fragmentation, quota use, alarms) and a summary. */
export function formatStatus(status: ClusterStatus): string {
  const withNames = status.members.some((m) => m.name !== undefined);
  const head = [
    'ENDPOINT',
    ...(withNames ? ['NAME'] : []),
    'ID',
    'VERSION',
    'DB SIZE',
    'IN USE',
    'FRAG',
    'QUOTA USE',
    'LEADER',
    'LEARNER',
    'TERM',
    'INDEX',
    'APPLIED',
    'HEALTH',
    'ALARMS',
    'ERRORS',
  ];
  const rows = status.members.map((m) => [
    m.endpoint,
    ...(withNames ? [m.name ?? dash] : []),
    m.id ?? dash,
    m.version ?? dash,
    cell(m.dbSize, formatBytes),
    cell(m.dbSizeInUse, formatBytes),
    cell(m.fragmentationPercent, (v) => `${v}%`),
    cell(m.quotaUsePercent, (v) => `${v}% of ${formatBytes(m.quota)}`),
    cell(m.isLeader, String),
    cell(m.isLearner, String),
    cell(m.raftTerm, String),
    cell(m.raftIndex, String),
    cell(m.raftAppliedIndex, String),
    m.health.ok
      ? `ok${m.health.tookMs === undefined ? '' : ` (${m.health.tookMs} ms)`}`
      : (m.health.error ?? 'unhealthy'),
    m.alarms.join(', ') || dash,
    m.errors.filter((e) => e !== m.health.error).join('; ') || dash,
  ]);
  return `${renderTable(head, rows)}\n${summary(status)}`;
}

function summary(status: ClusterStatus): string {
  const failing = status.members.filter((m) => !m.health.ok);
  const leader = status.members.find((m: MemberStatusRow) => m.isLeader);
  const leaderText = leader
    ? `leader ${leader.id ?? '?'}${leader.name ? ` (${leader.name})` : ''}`
    : 'no leader';
  const id = status.clusterId ? `cluster ${status.clusterId}` : 'cluster';
  if (status.healthy) return `${id}: healthy, ${status.members.length} members, ${leaderText}`;
  return `${id}: UNHEALTHY: ${failing.length} of ${status.members.length} members failing, ${leaderText}`;
}
