/**
 * Point-in-time restore: the newest snapshot at or before the target and its change log, folded
 * offline into a snapshot at the target (fold.ts: no etcd, the base's buckets with the log's
 * revisions appended), checked against the log's own record, and that snapshot restored through
 * the ordinary restore path into the real membership. `method: 'replay'` (the CLI's
 * `--replay-through-etcd`) replays the log into a throwaway member instead (replay-member.ts).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Spec } from '../../config/spec.js';
import type { ConnectionOptions } from '../../etcd/member-client.js';
import { StewardError } from '../../errors.js';
import type { EtcdBinaries } from '../../runtime/etcd-binaries.js';
import type { BackupStorage } from '../../storage/storage.js';
import { readCatalog } from '../backup/catalog.js';
import type { DecryptionKeys } from '../backup/encryption.js';
import { fetchBackup } from '../backup/fetch.js';
import { checkSnapshotFile } from '../backup/snapshot-facts.js';
import { spoolDir } from '../backup/store.js';
import { restoreSnapshot, type RestoreResult, type RestoreTarget } from '../restore.js';
import { NetChanges, expectedDigest, snapshotDigest, type PitrDigest } from './digest.js';
import { foldToSnapshotFile } from './fold-file.js';
import { planPointInTime, type PointInTimeTarget } from './plan.js';
import type { ReplayProgress, ReplayResult } from './replay.js';
import { replayToSnapshotFile } from './replay-member.js';
import { listSegments, readSegment } from './segment.js';

export interface PointInTimeOptions {
  readonly storage: BackupStorage;
  /** A backup name to start from, or `latest` for the newest that fits. */
  readonly reference: string;
  readonly target: PointInTimeTarget;
  readonly spec: Spec;
  readonly binaries: EtcdBinaries;
  readonly connection: ConnectionOptions;
  readonly restoreTarget: RestoreTarget;
  readonly live?:
    { readonly endpoints: readonly string[]; readonly connection: ConnectionOptions } | undefined;
  readonly yes?: boolean;
  /** Identities for encrypted backups and segments. */
  readonly keys?: DecryptionKeys | undefined;
  /** `fold` (default): build the snapshot at the target offline; `replay`: through a throwaway etcd member. */
  readonly method?: 'fold' | 'replay' | undefined;
  readonly onProgress?: (message: string) => void;
  readonly onReplay?: (progress: ReplayProgress & { total: number }) => void;
  readonly signal?: AbortSignal;
}

export interface PointInTimeResult extends RestoreResult {
  readonly pointInTime: {
    readonly base: { readonly backup: string; readonly revision: number; readonly createdAt: string };
    readonly requested: { readonly revision: number | null; readonly time: string | null };
    /** The revision restored, and when the change log saw it committed. */
    readonly revision: number;
    readonly committedAt: string | null;
    readonly segments: number;
    /** How the snapshot at the target was built (see `method`). */
    readonly method: 'fold' | 'replay';
    readonly replay: ReplayResult & { readonly revisionsPerSecond: number };
    readonly expected: PitrDigest;
    readonly replayed: PitrDigest;
    readonly verified: boolean;
    /** Time target beyond the log's end: the log's last revision (what was restored). */
    readonly logEndsBeforeTarget: boolean;
  };
}

export async function restorePointInTime(options: PointInTimeOptions): Promise<PointInTimeResult> {
  const say = options.onProgress ?? (() => undefined);
  const [catalog, segments] = await Promise.all([
    readCatalog(options.storage, { signal: options.signal }),
    listSegments(options.storage, { signal: options.signal }),
  ]);
  const plan = planPointInTime(catalog.backups, segments, options.target, options.reference);
  const target = options.target;
  say(
    `point in time: ${'revision' in target ? `revision ${target.revision}` : new Date(target.timeMs).toISOString()} from ${plan.base.name} (revision ${plan.base.revision}) + ${plan.segments.length} change-log segments`,
  );
  // Encrypted segments: prove the identity fits the first and last before anything is created.
  for (const ref of new Set([plan.segments[0], plan.segments.at(-1)]))
    if (ref) await readSegment(options.storage, ref, { signal: options.signal, keys: options.keys });
  const baseFile = await fetchBackup(options.storage, plan.base, {
    signal: options.signal,
    keys: options.keys,
  });
  await mkdir(spoolDir(), { recursive: true });
  const work = await mkdtemp(path.join(spoolDir(), 'pitr-'));
  const replayed = path.join(work, 'at-target.db');
  const method = options.method ?? 'fold';
  try {
    const changes = new NetChanges();
    const total = plan.upToRevision - plan.base.revision;
    let replay: ReplayResult;
    if (method === 'replay') {
      replay = await replayToSnapshotFile(options, plan, baseFile, work, replayed, (r) => changes.apply(r));
    } else {
      say(`folding ${plan.base.name} and the change log into a snapshot at the target (offline)`);
      const folded = await foldToSnapshotFile({
        storage: options.storage,
        baseFile,
        baseRevision: plan.base.revision,
        segments: plan.segments,
        upTo: target,
        out: replayed,
        keys: options.keys,
        onRevision: (r) => changes.apply(r),
        onProgress: (p) => options.onReplay?.({ ...p, total }),
        signal: options.signal,
      });
      replay = { ...folded, resent: 0 };
      if ('revision' in target && replay.lastRevision !== target.revision) {
        throw new StewardError(
          `the fold reached revision ${replay.lastRevision}, not ${target.revision}: the change log ends early`,
          { hint: 'pick a revision inside the recovery window (`etcd-steward backup list`)' },
        );
      }
      say(
        `folded ${replay.revisions} revisions (${replay.events} events) in ${(replay.durationMs / 1000).toFixed(1)} s: ${folded.bytes} bytes`,
      );
    }
    const facts = await checkSnapshotFile(replayed);
    const [expected, actual] = await Promise.all([
      expectedDigest(baseFile, changes),
      snapshotDigest(replayed),
    ]);
    const verified =
      facts.problems.length === 0 &&
      facts.revision === replay.lastRevision &&
      expected.sha256 === actual.sha256 &&
      expected.keyCount === actual.keyCount;
    if (!verified) {
      throw new StewardError(
        `the keyspace built at the target is not what the change log records: revision ${facts.revision} (expected ${replay.lastRevision}), ${actual.keyCount} keys (expected ${expected.keyCount}), digest ${actual.sha256 === expected.sha256 ? 'equal' : 'different'}`,
        {
          hint: 'nothing was restored; report this with the backup list (`etcd-steward backup list -o json`)',
        },
      );
    }
    say(`check ok: ${actual.keyCount} keys at revision ${replay.lastRevision} match the log's record`);
    const result = await restoreSnapshot({
      file: replayed,
      spec: options.spec,
      binaries: options.binaries,
      connection: options.connection,
      target: options.restoreTarget,
      live: options.live,
      yes: options.yes,
      onProgress: say,
      signal: options.signal,
    });
    const lastSegment = plan.segments.at(-1);
    return {
      ...result,
      pointInTime: {
        base: { backup: plan.base.name, revision: plan.base.revision, createdAt: plan.base.createdAt },
        requested: {
          revision: 'revision' in target ? target.revision : null,
          time: 'timeMs' in target ? new Date(target.timeMs).toISOString() : null,
        },
        revision: replay.lastRevision,
        committedAt: replay.lastTimeMs === null ? null : new Date(replay.lastTimeMs).toISOString(),
        segments: plan.segments.length,
        method,
        replay: {
          ...replay,
          revisionsPerSecond: Math.round(replay.revisions / Math.max(0.001, replay.durationMs / 1000)),
        },
        expected,
        replayed: actual,
        verified,
        logEndsBeforeTarget: 'timeMs' in target && (lastSegment?.lastTimeMs ?? 0) < target.timeMs,
      },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(baseFile, { force: true });
  }
}
