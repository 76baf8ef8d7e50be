/** What the backup engine needs to know of a snapshot file, read offline (no etcd) by src/snapshot. */
import { verifySnapshot } from '../../snapshot/index.js';

export interface SnapshotFacts {
  readonly revision: number;
  readonly compactRevision: number | null;
  /** Live keys at the snapshot's revision (latest version of each key, deletions applied). */
  readonly keyCount: number;
  /** etcd's SHA-256 trailer: `absent` for a member's copied `db` file. */
  readonly trailer: 'ok' | 'absent' | 'bad';
  /** Empty when the file is whole; otherwise each problem found (metas, pages, records, trailer). */
  readonly problems: readonly string[];
}

/** Reads and checks a local snapshot file: both metas, every reachable page, every revision. */
export async function checkSnapshotFile(file: string): Promise<SnapshotFacts> {
  const report = await verifySnapshot(file);
  const summary = report.summary;
  return {
    revision: summary?.revision ?? 0,
    compactRevision: summary?.compactRevision ? summary.compactRevision : null,
    keyCount: summary?.liveKeys ?? 0,
    trailer: summary?.trailer ?? 'bad',
    problems:
      report.problems.length > 0 || summary ? report.problems : ['the file could not be read as a snapshot'],
  };
}
