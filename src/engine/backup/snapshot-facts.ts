/** What the backup engine needs to know of a snapshot file, read offline (no etcd) by src/snapshot. */
import { StewardError } from '../../errors.js';
import { verifySnapshot, type HashKvValue, type VerifyOptions } from '../../snapshot/index.js';

export interface SnapshotFacts {
  readonly revision: number;
  readonly compactRevision: number | null;
  /** Live keys at the snapshot's revision (latest version of each key, deletions applied). */
  readonly keyCount: number;
  /** etcd's SHA-256 trailer: `absent` for a member's copied `db` file. */
  readonly trailer: 'ok' | 'absent' | 'bad';
  /** Empty when the file is whole; otherwise each problem found (metas, pages, records, trailer). */
  readonly problems: readonly string[];
  /** etcd's HashKV at `revision`, from the same pass (when asked, and the file is whole). */
  readonly hashKv?: HashKvValue | undefined;
  /** The live keys in byte order, from the same pass (when asked, and the file is whole). */
  readonly liveKeys?: (() => Iterable<Buffer>) | undefined;
}

/**
 * Reads and checks a local snapshot file (a sealed spool with `unseal`): both metas, every
 * reachable page, every revision — in one pass that can also give etcd's HashKV and the live keys;
 * and etcd's trailer, unless `trailer` gives the verdict of a stream that wrote exactly this file
 * (then the file is not hashed a second time).
 */
export async function checkSnapshotFile(file: string, options: VerifyOptions = {}): Promise<SnapshotFacts> {
  const report = await verifySnapshot(file, options);
  const summary = report.summary;
  return {
    // A snapshot with no revision records is of a cluster nobody wrote to: etcd starts at
    // revision 1 (and a restore of it comes up there), so a change log continues from 2.
    revision: summary ? Math.max(summary.revision, 1) : 0,
    compactRevision: summary?.compactRevision ? summary.compactRevision : null,
    keyCount: summary?.liveKeys ?? 0,
    trailer: summary?.trailer ?? 'bad',
    problems:
      report.problems.length > 0 || summary ? report.problems : ['the file could not be read as a snapshot'],
    hashKv: report.hashKv,
    liveKeys: report.liveKeys,
  };
}

/** A snapshot file without etcd's SHA-256 trailer, refused as etcdutl refuses it. */
export class MissingTrailerError extends StewardError {}

/**
 * Refuses, as `etcdutl snapshot restore` does, a file without etcd's SHA-256 trailer (a bare
 * `member/snap/db` copied from a data dir, or a snapshot cut by exactly 32 bytes), unless the
 * user said `--skip-hash-check`: without the trailer nothing proves the file is what etcd wrote.
 */
export function requireTrailer(
  file: string,
  facts: Pick<SnapshotFacts, 'trailer'>,
  skipHashCheck: boolean | undefined,
): void {
  if (facts.trailer !== 'absent' || skipHashCheck === true) return;
  throw new MissingTrailerError(
    `${file} has no SHA-256 trailer (etcd's \`snapshot save\` ends every snapshot with one), so its integrity cannot be proved`,
    {
      hint: "if it is a member's data file (member/snap/db) copied on purpose, run again with --skip-hash-check (as etcdutl wants); a snapshot cut short is damaged: use another backup",
    },
  );
}
