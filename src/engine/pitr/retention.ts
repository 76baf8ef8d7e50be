/** Retention of the change log: whole chains go with their snapshots, never a segment a kept snapshot needs. */
import type { BackupStorage } from '../../storage/storage.js';
import { unneededSegments } from './chains.js';
import { deleteSegment, listSegments } from './segment.js';

/**
 * Removes the segments that no kept backup needs (they end at or before the oldest kept
 * backup's revision); returns how many went. With no backup kept, nothing is removed.
 */
export async function pruneChangeLog(
  storage: BackupStorage,
  keptBackups: readonly { revision: number }[],
  signal?: AbortSignal,
): Promise<number> {
  const unneeded = unneededSegments(await listSegments(storage, { signal }), keptBackups);
  for (const segment of unneeded) await deleteSegment(storage, segment, { signal });
  return unneeded.length;
}
