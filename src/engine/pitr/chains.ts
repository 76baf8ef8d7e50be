/**
 * Chains: a full snapshot plus the change-log segments that continue it without a hole. Restore
 * to revision R needs a snapshot at or before R and a log that reaches R from that snapshot's
 * revision + 1; retention removes whole chains, and never a segment a kept snapshot needs.
 */
import type { BackupManifest } from '../backup/manifest.js';
import type { SegmentRef } from './segment.js';

export interface ChainInfo {
  readonly backup: string;
  readonly revision: number;
  readonly createdAt: string;
  /** The log that continues this snapshot, or null when none does (yet). */
  readonly log: {
    readonly fromRevision: number;
    readonly toRevision: number;
    readonly fromTime: string;
    readonly toTime: string;
    readonly segments: number;
    readonly storedBytes: number;
  } | null;
  /** What a restore from this chain can reach: the snapshot's revision up to the log's end. */
  readonly window: {
    readonly fromRevision: number;
    readonly toRevision: number;
    readonly fromTime: string;
    readonly toTime: string;
  };
}

/** The segments that continue `revision` without a hole, in order, and the last revision they reach. */
export function continuation(
  segments: readonly SegmentRef[],
  revision: number,
): { segments: SegmentRef[]; toRevision: number } {
  const used: SegmentRef[] = [];
  let reached = revision;
  for (const s of [...segments].sort((a, b) => a.firstRevision - b.firstRevision)) {
    if (s.lastRevision <= reached) continue;
    if (s.firstRevision > reached + 1) break;
    used.push(s);
    reached = s.lastRevision;
  }
  return { segments: used, toRevision: reached };
}

/** One chain per backup (oldest first): the log that continues it and the window it reaches. */
export function describeChains(
  backups: readonly BackupManifest[],
  segments: readonly SegmentRef[],
): ChainInfo[] {
  return [...backups]
    .sort((a, b) => a.revision - b.revision || a.createdAt.localeCompare(b.createdAt))
    .map((b) => {
      const run = continuation(segments, b.revision);
      const first = run.segments[0];
      const last = run.segments.at(-1);
      const log =
        first && last
          ? {
              fromRevision: b.revision + 1,
              toRevision: run.toRevision,
              fromTime: new Date(first.firstTimeMs).toISOString(),
              toTime: new Date(last.lastTimeMs).toISOString(),
              segments: run.segments.length,
              storedBytes: run.segments.reduce((sum, s) => sum + s.storedSize, 0),
            }
          : null;
      return {
        backup: b.name,
        revision: b.revision,
        createdAt: b.createdAt,
        log,
        window: {
          fromRevision: b.revision,
          toRevision: log?.toRevision ?? b.revision,
          fromTime: b.createdAt,
          toTime: log?.toTime ?? b.createdAt,
        },
      };
    });
}

/** The recovery windows over all chains, merged where they touch: every revision a restore can reach. */
export function recoveryWindows(chains: readonly ChainInfo[]): ChainInfo['window'][] {
  const merged: ChainInfo['window'][] = [];
  for (const c of [...chains].sort((a, b) => a.window.fromRevision - b.window.fromRevision)) {
    const last = merged.at(-1);
    if (last && c.window.fromRevision <= last.toRevision) {
      if (c.window.toRevision > last.toRevision)
        merged[merged.length - 1] = { ...last, toRevision: c.window.toRevision, toTime: c.window.toTime };
    } else merged.push({ ...c.window });
  }
  return merged;
}

/**
 * Segments no kept snapshot needs: those that end at or before the oldest kept snapshot's
 * revision (a restore from any kept snapshot starts after them). With no snapshot kept, none.
 */
export function unneededSegments(
  segments: readonly SegmentRef[],
  keptBackups: readonly { revision: number }[],
): SegmentRef[] {
  if (keptBackups.length === 0) return [];
  const oldest = Math.min(...keptBackups.map((b) => b.revision));
  return segments.filter((s) => s.lastRevision <= oldest);
}
