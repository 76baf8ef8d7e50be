/**
 * Which snapshot and which segments a point-in-time restore uses: the newest snapshot at or
 * before the target whose log reaches it.
 */
import { InputError } from '../../errors.js';
import type { BackupManifest } from '../backup/manifest.js';
import { continuation, describeChains, recoveryWindows } from './chains.js';
import type { SegmentRef } from './segment.js';

export type PointInTimeTarget = { readonly revision: number } | { readonly timeMs: number };

export interface PointInTimePlan {
  readonly base: BackupManifest;
  /** The segments to read, in order (the last ones may reach past the target). */
  readonly segments: readonly SegmentRef[];
  /** The revision asked for, or (time target) the last revision the log reaches before it may stop. */
  readonly upToRevision: number;
  readonly target: PointInTimeTarget;
}

function windowsText(backups: readonly BackupManifest[], segments: readonly SegmentRef[]): string {
  const windows = recoveryWindows(describeChains(backups, segments));
  if (windows.length === 0) return 'there are no backups yet';
  return `the backups and change log cover ${windows
    .map((w) => `revisions ${w.fromRevision}..${w.toRevision} (${w.fromTime} .. ${w.toTime})`)
    .join(', ')}`;
}

/**
 * Plans a restore to `target`. `reference` is a backup name to start from, or `latest` to pick
 * the newest fitting one. An InputError names the recovery windows when the target is outside.
 */
export function planPointInTime(
  backups: readonly BackupManifest[],
  segments: readonly SegmentRef[],
  target: PointInTimeTarget,
  reference = 'latest',
): PointInTimePlan {
  const pool = reference === 'latest' ? backups : backups.filter((b) => b.name === reference);
  if (pool.length === 0) {
    throw new InputError(
      backups.length === 0 ? 'there are no backups in this storage yet' : `no backup named '${reference}'`,
      { hint: 'see `etcd-steward backup list` (or use latest)' },
    );
  }
  const outside = (what: string) =>
    new InputError(`${what} is outside what can be restored: ${windowsText(backups, segments)}`, {
      hint: 'pick a target inside a recovery window (`etcd-steward backup list` shows them)',
    });
  if ('revision' in target) {
    const R = target.revision;
    const candidates = pool.filter((b) => b.revision <= R).sort((a, b) => b.revision - a.revision);
    for (const base of candidates) {
      const run = continuation(segments, base.revision);
      if (run.toRevision >= R) {
        return {
          base,
          segments: run.segments.filter((s) => s.firstRevision <= R),
          upToRevision: R,
          target,
        };
      }
    }
    throw outside(`revision ${R}`);
  }
  const T = target.timeMs;
  const base = pool
    .filter((b) => Date.parse(b.createdAt) <= T)
    .sort((a, b) => b.revision - a.revision || b.createdAt.localeCompare(a.createdAt))[0];
  if (!base) throw outside(`time ${new Date(T).toISOString()}`);
  const run = continuation(segments, base.revision);
  const used = run.segments.filter((s) => s.firstTimeMs <= T);
  return {
    base,
    segments: used,
    upToRevision: used.at(-1)?.lastRevision ?? base.revision,
    target,
  };
}
