/**
 * Reading a chain's change log in order: the revisions of its segments one after the other,
 * the next segment read while the current one is used, and the granted TTL of every lease the
 * segments' manifests name.
 */
import type { BackupStorage } from '../../storage/storage.js';
import type { DecryptionKeys } from '../backup/encryption.js';
import { readSegment, type LoggedRevision, type SegmentRef } from './segment.js';

/**
 * The revisions of `segments` in order. `leases` is filled as segments are read: lease id →
 * granted TTL (0 when it had already expired when first logged; a later positive TTL wins).
 */
export async function* logRevisions(
  storage: BackupStorage,
  segments: readonly SegmentRef[],
  leases: Map<string, number>,
  signal: AbortSignal | undefined,
  keys: DecryptionKeys | undefined,
): AsyncGenerator<LoggedRevision> {
  let next = segments[0] ? readSegment(storage, segments[0], { signal, keys }) : undefined;
  for (let i = 0; i < segments.length; i += 1) {
    const current = await (next as ReturnType<typeof readSegment>);
    const following = segments[i + 1];
    next = following ? readSegment(storage, following, { signal, keys }) : undefined;
    next?.catch(() => undefined);
    for (const [id, ttl] of Object.entries(current.manifest.leases ?? {}))
      if (!leases.has(id) || ttl > 0) leases.set(id, ttl);
    yield* current.revisions;
  }
}
