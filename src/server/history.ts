/**
 * The status history the dashboard charts: one sample per status poll, kept in memory in a ring
 * buffer that reaches back `historyWindow`.
 */
import type { ClusterStatus, MemberStatusRow } from '../engine/status.js';

export interface HistoryMember {
  readonly name: string;
  readonly dbSize: number | null;
  readonly dbSizeInUse: number | null;
  readonly raftIndex: number | null;
  /** How far this member's applied index is behind the furthest member's. */
  readonly appliedLag: number | null;
  readonly isLeader: boolean;
  readonly healthy: boolean;
}

export interface HistorySample {
  /** When the poll ended, ms since the epoch. */
  readonly t: number;
  readonly members: readonly HistoryMember[];
}

/** A member's label in history, metrics and problems: its name, else its endpoint. */
export function memberName(row: MemberStatusRow): string {
  return row.name ?? row.endpoint;
}

/** How far each member's applied index is behind the highest applied index in the cluster. */
export function appliedLag(status: ClusterStatus, row: MemberStatusRow): number | undefined {
  const applied = status.members.map((m) => m.raftAppliedIndex).filter((v): v is number => v !== undefined);
  if (row.raftAppliedIndex === undefined || applied.length === 0) return undefined;
  return Math.max(...applied) - row.raftAppliedIndex;
}

export class StatusHistory {
  private readonly samples: (HistorySample | undefined)[];
  private next = 0;
  private size = 0;
  readonly windowMs: number;

  constructor(windowMs: number, intervalMs: number) {
    this.windowMs = windowMs;
    this.samples = new Array<HistorySample | undefined>(Math.max(1, Math.ceil(windowMs / intervalMs) + 1));
  }

  add(status: ClusterStatus, t = Date.now()): void {
    const sample: HistorySample = {
      t,
      members: status.members.map((m) => ({
        name: memberName(m),
        dbSize: m.dbSize ?? null,
        dbSizeInUse: m.dbSizeInUse ?? null,
        raftIndex: m.raftIndex ?? null,
        appliedLag: appliedLag(status, m) ?? null,
        isLeader: m.isLeader === true,
        healthy: m.health.ok,
      })),
    };
    this.samples[this.next] = sample;
    this.next = (this.next + 1) % this.samples.length;
    this.size = Math.min(this.size + 1, this.samples.length);
  }

  /** Samples within the window, oldest first. */
  list(now = Date.now()): HistorySample[] {
    const out: HistorySample[] = [];
    for (let i = 0; i < this.size; i += 1) {
      const index = (this.next - this.size + i + this.samples.length) % this.samples.length;
      const sample = this.samples[index];
      if (sample && sample.t >= now - this.windowMs) out.push(sample);
    }
    return out;
  }
}
