/** `etcd-steward status`: one row per member; exit 0 when every member is healthy, else 1. */
import { formatBytes } from '../../config/units.js';
import { clusterStatus, type ClusterStatus, type MemberStatusRow } from '../../engine/status.js';
import { clusterTarget, connectionFor, type GlobalOptions } from '../context.js';
import { printJson, renderColumns, type Column, type OutputFormat } from '../output.js';

export async function statusCommand(options: GlobalOptions): Promise<number> {
  const { spec, endpoints, names, runtime } = await clusterTarget(options);
  const status = await clusterStatus({
    endpoints,
    connection: connectionFor(options, spec),
    specQuota: spec?.etcd.quotaBackendBytes,
    names,
  }).finally(() => runtime?.close());
  if (options.output === 'json') printJson(status);
  else process.stdout.write(`${formatStatus(status, options.output)}\n`);
  return status.healthy ? 0 : 1;
}

const dash = '-';

function cell<T>(value: T | undefined, show: (v: T) => string): string {
  return value === undefined ? dash : show(value);
}

/** The status columns: compact by default (fits 100 columns), every one with `-o wide`. */
function statusColumns(withNames: boolean): Column<MemberStatusRow>[] {
  return [
    // One column names the member: its name when known, else its endpoint (both with -o wide).
    withNames ? { head: 'NAME', cell: (m) => m.name ?? dash } : { head: 'ENDPOINT', cell: (m) => m.endpoint },
    ...(withNames ? [{ head: 'ENDPOINT', cell: (m: MemberStatusRow) => m.endpoint, wide: true }] : []),
    { head: 'ID', cell: (m) => m.id ?? dash, wide: true },
    { head: 'VERSION', cell: (m) => m.version ?? dash },
    { head: 'DB SIZE', cell: (m) => cell(m.dbSize, formatBytes) },
    { head: 'IN USE', cell: (m) => cell(m.dbSizeInUse, formatBytes) },
    { head: 'FRAG', cell: (m) => cell(m.fragmentationPercent, (v) => `${v}%`), wide: true },
    { head: 'QUOTA USE', cell: (m) => cell(m.quotaUsePercent, (v) => `${v}%`) },
    { head: 'QUOTA', cell: (m) => formatBytes(m.quota), wide: true },
    { head: 'LEADER', cell: (m) => cell(m.isLeader, (v) => (v ? 'yes' : 'no')) },
    { head: 'LEARNER', cell: (m) => cell(m.isLearner, String), wide: true },
    { head: 'TERM', cell: (m) => cell(m.raftTerm, String), wide: true },
    { head: 'INDEX', cell: (m) => cell(m.raftIndex, String), wide: true },
    { head: 'APPLIED', cell: (m) => cell(m.raftAppliedIndex, String), wide: true },
    {
      head: 'HEALTH',
      cell: (m) =>
        m.health.ok
          ? `ok${m.health.tookMs === undefined ? '' : ` (${m.health.tookMs} ms)`}`
          : (m.health.error ?? 'unhealthy'),
    },
    { head: 'ALARMS', cell: (m) => m.alarms.join(', ') || dash },
    {
      head: 'ERRORS',
      cell: (m) => m.errors.filter((e) => e !== m.health.error).join('; ') || dash,
      wide: true,
    },
  ];
}

/** The status table (etcdctl's columns plus health, quota use, alarms; -o wide: all) and a summary. */
export function formatStatus(status: ClusterStatus, format: OutputFormat = 'table'): string {
  const withNames = status.members.some((m) => m.name !== undefined);
  return `${renderColumns(statusColumns(withNames), status.members, format)}\n${summary(status)}`;
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
