/** The `status` table for people (also printed by `up`): columns, summary, version warnings. */
import { formatBytes } from '../../config/units.js';
import type { ClusterStatus, MemberStatusRow } from '../../engine/status.js';
import { renderColumns, type Column, type OutputFormat } from '../output.js';

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
    { head: 'CLUSTER VERSION', cell: (m) => m.clusterVersion ?? dash, wide: true },
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

/**
 * The status table (etcdctl's columns plus health, quota use, alarms; -o wide: all), a summary
 * with the cluster version, and a line per version warning (mixed versions, below a floor).
 */
export function formatStatus(status: ClusterStatus, format: OutputFormat = 'table'): string {
  const withNames = status.members.some((m) => m.name !== undefined);
  const warnings = (status.versionWarnings ?? []).map((w) => `\nwarning: ${w}`).join('');
  const version = status.clusterVersion ? `, cluster version ${status.clusterVersion}` : '';
  return `${renderColumns(statusColumns(withNames), status.members, format)}\n${summary(status)}${version}${warnings}`;
}

function summary(status: ClusterStatus): string {
  const failing = status.members.filter((m) => !m.health.ok);
  const id = status.clusterId ? `cluster ${status.clusterId}` : 'cluster';
  const leader = leaderText(status);
  const inCluster = status.membersInCluster ?? status.members.length;
  if (status.healthy) return `${id}: healthy, ${status.members.length} members, ${leader}`;
  const partial =
    status.unasked.length > 0
      ? `${status.membersAsked} of ${inCluster} members asked (not asked: ${status.unasked
          .map((m) => m.name ?? m.id)
          .join(', ')}; --cluster asks every member)`
      : undefined;
  if (failing.length === 0 && partial !== undefined) return `${id}: PARTIAL VIEW: ${partial}, ${leader}`;
  const cut = status.members.filter((m) => m.cutOff !== undefined).map((m) => m.name ?? m.endpoint);
  const failingText = `${failing.length} of ${status.members.length} members failing${cut.length > 0 ? ` (cut off: ${cut.join(', ')})` : ''}`;
  return `${id}: UNHEALTHY: ${[failingText, partial].filter(Boolean).join(', ')}, ${leader}`;
}

/** The leader by id and name, said to be unasked when no row is it (any member's status names it). */
function leaderText(status: ClusterStatus): string {
  if (status.leaderId === undefined) return 'no leader';
  const row = status.members.find((m) => m.id === status.leaderId);
  const notes = [status.leaderName ?? row?.name, row ? undefined : 'not asked'].filter(Boolean);
  return `leader ${status.leaderId}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
}
