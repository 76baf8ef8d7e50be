/**
 * A chain folded into an ordinary etcd snapshot file: the base snapshot (a local file) and the
 * change-log segments that continue it, up to a target, written by the bulk writer with etcd's
 * SHA-256 trailer — a file `etcdutl snapshot restore` takes without `--skip-hash-check`.
 */
import type { BackupStorage } from '../../storage/storage.js';
import { Snapshot } from '../../snapshot/index.js';
import { writeEtcdSnapshotFile } from '../../snapshot/etcd-snapshot-writer.js';
import type { DecryptionKeys } from '../backup/encryption.js';
import { foldBuckets, type FoldProgress, type FoldResult } from './fold.js';
import { logRevisions } from './log-source.js';
import type { LoggedRevision, SegmentRef } from './segment.js';

export interface FoldFileOptions {
  readonly storage: BackupStorage;
  /** The base snapshot, fetched (plain) into a local file. */
  readonly baseFile: string;
  readonly baseRevision: number;
  /** The segments that continue the base, in order. */
  readonly segments: readonly SegmentRef[];
  /** Fold up to this revision, or the last revision committed at or before this time; absent: the whole log. */
  readonly upTo?: { readonly revision: number } | { readonly timeMs: number } | undefined;
  /** Where to write the snapshot. */
  readonly out: string;
  readonly keys?: DecryptionKeys | undefined;
  readonly onRevision?: ((revision: LoggedRevision) => void) | undefined;
  readonly onProgress?: ((progress: FoldProgress) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface FoldFileResult extends FoldResult {
  /** Size of the written snapshot (bbolt file + trailer) and its trailer's SHA-256. */
  readonly bytes: number;
  readonly sha256: string;
}

/** Folds the base and its log into `out`; see fold.ts for what the buckets hold and what is refused. */
export async function foldToSnapshotFile(options: FoldFileOptions): Promise<FoldFileResult> {
  const base = await Snapshot.open(options.baseFile);
  try {
    const leaseTtls = new Map<string, number>();
    const upTo = options.upTo;
    const folded = await foldBuckets({
      base,
      baseRevision: options.baseRevision,
      source: logRevisions(options.storage, options.segments, leaseTtls, options.signal, options.keys),
      stop:
        upTo === undefined
          ? undefined
          : 'revision' in upTo
            ? (r) => r.r > upTo.revision
            : (r) => r.t > upTo.timeMs,
      leaseTtls,
      onRevision: options.onRevision,
      onProgress: options.onProgress,
      signal: options.signal,
    });
    const written = await writeEtcdSnapshotFile(options.out, folded.buckets, {
      pageSize: base.meta.pageSize,
      signal: options.signal,
    });
    const result = await folded.result;
    return { ...result, bytes: written.bytes, sha256: written.sha256 };
  } finally {
    await base.close();
  }
}
