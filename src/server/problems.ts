/**
 * What is wrong right now, for `/api/status` and the dashboard's banner: one entry per kind of
 * problem, critical or warning, with a message that names the members and what to do.
 */
import type { ClusterStatus } from '../engine/status.js';
import { memberName } from './history.js';

export interface Problem {
  readonly id: string;
  readonly severity: 'critical' | 'warning';
  readonly message: string;
}

/** The last run of a kind of job: ok, or the error it failed with. */
export interface LastRun {
  readonly ok: boolean;
  readonly at: number;
  readonly error?: string | undefined;
}

export interface ProblemInput {
  readonly status: ClusterStatus | undefined;
  readonly now: number;
  /** When the agent started (a backup schedule that never ran is stale from here). */
  readonly startedAt: number;
  readonly backupIntervalSeconds?: number | undefined;
  /** When the newest backup finished (ms), from the catalog or the last run. */
  readonly lastBackupAt?: number | undefined;
  readonly lastBackup?: LastRun | undefined;
  readonly lastDrill?: LastRun | undefined;
  readonly lastDefrag?: LastRun | undefined;
}

export function findProblems(input: ProblemInput): Problem[] {
  const problems: Problem[] = [];
  const status = input.status;
  if (status) {
    const answering = status.members.filter((m) => m.id !== undefined);
    if (status.members.length > 0 && !status.members.some((m) => m.isLeader)) {
      problems.push({
        id: 'no-leader',
        severity: 'critical',
        message:
          answering.length === 0
            ? 'no member answers: the cluster is down'
            : 'no leader: the cluster cannot accept writes',
      });
    }
    const down = status.members.filter((m) => !m.health.ok);
    if (down.length > 0) {
      const quorumLost = status.members.length - down.length <= status.members.length / 2;
      problems.push({
        id: 'member-down',
        severity: quorumLost ? 'critical' : 'warning',
        message: `${down.length} of ${status.members.length} members unhealthy: ${down
          .map((m) => `${memberName(m)} (${m.health.error ?? 'unhealthy'})`)
          .join(', ')}`,
      });
    }
    const cut = status.members.filter((m) => m.cutOff !== undefined);
    if (cut.length > 0) {
      problems.push({
        id: 'member-cut-off',
        severity: 'warning',
        message: `cut off from the cluster (a network partition?): ${cut
          .map((m) => `${memberName(m)} ${m.cutOff ?? ''}`)
          .join(', ')}; writes sent to it fail, the others serve on`,
      });
    }
    const alarms = status.members.flatMap((m) => m.alarms.map((a) => `${a} on ${memberName(m)}`));
    if (alarms.length > 0) {
      problems.push({
        id: 'alarm',
        severity: 'critical',
        message: `active alarm: ${alarms.join(', ')}${alarms.some((a) => a.startsWith('NOSPACE')) ? '; free space with a compaction and defrag (`etcd-steward defrag --compact`)' : ''}`,
      });
    }
  }
  const interval = input.backupIntervalSeconds;
  if (interval !== undefined) {
    const since = input.lastBackupAt ?? input.startedAt;
    const ageSeconds = (input.now - since) / 1000;
    if (ageSeconds > 2 * interval) {
      problems.push({
        id: 'backup-stale',
        severity: 'critical',
        message:
          input.lastBackupAt === undefined
            ? `no backup yet, although the schedule runs every ${human(interval)}`
            : `the newest backup is ${human(ageSeconds)} old, more than twice the schedule's ${human(interval)}`,
      });
    }
  }
  if (input.lastBackup && !input.lastBackup.ok) {
    problems.push({
      id: 'backup-failing',
      severity: 'critical',
      message: `the last backup failed: ${input.lastBackup.error ?? 'see /api/jobs'}`,
    });
  }
  if (input.lastDrill && !input.lastDrill.ok) {
    problems.push({
      id: 'drill-failing',
      severity: 'warning',
      message: `the last restore drill failed: ${input.lastDrill.error ?? 'see /api/jobs'}`,
    });
  }
  if (input.lastDefrag && !input.lastDefrag.ok) {
    problems.push({
      id: 'defrag-failing',
      severity: 'warning',
      message: `the last defrag failed: ${input.lastDefrag.error ?? 'see /api/jobs'}`,
    });
  }
  return problems;
}

function human(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} d`;
}
