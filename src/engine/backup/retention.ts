/**
 * Which backups a retention rule removes. A backup is kept when it is among the newest
 * `keepLast` (if set) and younger than `maxAge` (if set). Whatever the rule says, the newest
 * verified backup is always kept.
 */
import type { BackupManifest } from './manifest.js';
import { isVerified } from './manifest.js';

export interface RetentionRule {
  readonly keepLast?: number | undefined;
  readonly maxAgeMs?: number | undefined;
}

export interface PrunePlan {
  readonly keep: readonly { name: string; reason: string }[];
  readonly remove: readonly { name: string; reason: string }[];
}

/** The plan for `backups` (any order) at time `now`. */
export function planPrune(backups: readonly BackupManifest[], rule: RetentionRule, now: Date): PrunePlan {
  const newestFirst = [...backups].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const newestVerified = newestFirst.find(isVerified)?.name;
  const keep: { name: string; reason: string }[] = [];
  const remove: { name: string; reason: string }[] = [];
  newestFirst.forEach((backup, index) => {
    const ageMs = now.getTime() - Date.parse(backup.createdAt);
    const beyondCount = rule.keepLast !== undefined && index >= rule.keepLast;
    const tooOld = rule.maxAgeMs !== undefined && ageMs > rule.maxAgeMs;
    if (backup.name === newestVerified && (beyondCount || tooOld)) {
      keep.push({ name: backup.name, reason: 'the newest verified backup is always kept' });
    } else if (beyondCount) {
      remove.push({ name: backup.name, reason: `beyond the newest ${rule.keepLast ?? 0}` });
    } else if (tooOld) {
      remove.push({ name: backup.name, reason: `older than the maximum age` });
    } else {
      keep.push({ name: backup.name, reason: 'within the retention rule' });
    }
  });
  return { keep, remove };
}
