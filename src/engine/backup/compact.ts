/**
 * `backup compact`: folds a chain — a full snapshot and the change-log segments that continue it
 * — into a new full snapshot at the log's end, offline (the live cluster is never asked for
 * anything), checks it, and stores it as a backup from which the log goes on: a new chain, so a
 * later restore reads a short log instead of a long one.
 *
 * The new backup is named and dated after the commit time of the last revision folded (not the
 * time of the compaction), so a restore `--to-time` picks it only for times it really covers.
 */
import { mkdir, mkdtemp, rm, utimes } from 'node:fs/promises';
import path from 'node:path';
import { StewardError } from '../../errors.js';
import type { BackupStorage } from '../../storage/storage.js';
import { continuation } from '../pitr/chains.js';
import { NetChanges, expectedDigest, snapshotDigest, type PitrDigest } from '../pitr/digest.js';
import { foldToSnapshotFile } from '../pitr/fold-file.js';
import type { FoldProgress } from '../pitr/fold.js';
import { listSegments } from '../pitr/segment.js';
import { findBackup, readCatalog, writeManifest, type Catalog } from './catalog.js';
import type { DecryptionKeys, EncryptionSettings } from './encryption.js';
import { fetchBackup } from './fetch.js';
import { importBackup } from './import.js';
import type { BackupManifest } from './manifest.js';
import { checkSnapshotFile } from './snapshot-facts.js';
import { spoolDir } from './store.js';

export interface CompactOptions {
  readonly storage: BackupStorage;
  readonly clusterName: string;
  /** The chain's snapshot: a backup name, or `latest` (the newest backup with a log after it). */
  readonly reference?: string | undefined;
  readonly compression: 'gzip' | 'none';
  /** Encrypt the new backup to these recipients (spec backup.encryption). */
  readonly encryption?: EncryptionSettings | undefined;
  /** Identities to read encrypted backups and segments. */
  readonly keys?: DecryptionKeys | undefined;
  readonly onProgress?: ((message: string) => void) | undefined;
  readonly onFold?: ((progress: FoldProgress & { readonly total: number }) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface CompactResult {
  /** The chain folded: its snapshot, and the log revisions after it. */
  readonly from: { readonly backup: string; readonly revision: number };
  readonly log: {
    readonly fromRevision: number;
    readonly toRevision: number;
    readonly segments: number;
    readonly storedBytes: number;
  } | null;
  /** The new backup; null when the chain has no log yet (nothing to fold). */
  readonly backup: BackupManifest | null;
  readonly fold: {
    readonly revisions: number;
    readonly events: number;
    readonly durationMs: number;
    readonly revisionsPerSecond: number;
    /** Size of the folded snapshot before compression. */
    readonly bytes: number;
  } | null;
  /** The check: the keyspace the log records against the folded snapshot's (equal, or no backup). */
  readonly expected: PitrDigest | null;
  readonly folded: PitrDigest | null;
  readonly durationMs: number;
}

/** The chain to fold: the named backup's, or the newest backup with a log after it. */
function pickChain(catalog: Catalog, segments: Parameters<typeof continuation>[0], reference: string) {
  const backups = catalog.backups;
  if (reference !== 'latest') {
    const base = findBackup(catalog, reference);
    return { base, run: continuation(segments, base.revision) };
  }
  const newest = [...backups].sort(
    (a, b) => b.revision - a.revision || b.createdAt.localeCompare(a.createdAt),
  );
  if (newest.length === 0)
    throw new StewardError('there are no backups to compact', {
      hint: 'take one first: `etcd-steward backup create`',
    });
  // The newest backup starts the chain that is still growing; if it has no log yet, nothing to do.
  const base = newest[0] as BackupManifest;
  return { base, run: continuation(segments, base.revision) };
}

/** Folds a chain into a new backup (see the module comment); nothing is stored unless every check passes. */
export async function compactChain(options: CompactOptions): Promise<CompactResult> {
  const started = Date.now();
  const say = options.onProgress ?? (() => undefined);
  const [catalog, segments] = await Promise.all([
    readCatalog(options.storage, { signal: options.signal }),
    listSegments(options.storage, { signal: options.signal }),
  ]);
  const { base, run } = pickChain(catalog, segments, options.reference ?? 'latest');
  const from = { backup: base.name, revision: base.revision };
  if (run.segments.length === 0 || run.toRevision <= base.revision) {
    say(`${base.name} (revision ${base.revision}) has no change log after it: nothing to compact`);
    return {
      from,
      log: null,
      backup: null,
      fold: null,
      expected: null,
      folded: null,
      durationMs: Date.now() - started,
    };
  }
  const log = {
    fromRevision: base.revision + 1,
    toRevision: run.toRevision,
    segments: run.segments.length,
    storedBytes: run.segments.reduce((sum, s) => sum + s.storedSize, 0),
  };
  say(
    `compacting ${base.name} (revision ${base.revision}) + ${log.segments} change-log segments (revisions ${log.fromRevision}..${log.toRevision})`,
  );
  const baseFile = await fetchBackup(options.storage, base, { signal: options.signal, keys: options.keys });
  await mkdir(spoolDir(), { recursive: true });
  const work = await mkdtemp(path.join(spoolDir(), 'compact-'));
  const out = path.join(work, 'compacted.db');
  try {
    const changes = new NetChanges();
    const total = log.toRevision - base.revision;
    const folded = await foldToSnapshotFile({
      storage: options.storage,
      baseFile,
      baseRevision: base.revision,
      segments: run.segments,
      out,
      keys: options.keys,
      onRevision: (r) => changes.apply(r),
      onProgress: (p) => options.onFold?.({ ...p, total }),
      signal: options.signal,
    });
    say(`folded ${folded.revisions} revisions in ${(folded.durationMs / 1000).toFixed(1)} s; checking`);
    const facts = await checkSnapshotFile(out);
    const [expected, actual] = await Promise.all([expectedDigest(baseFile, changes), snapshotDigest(out)]);
    const problems = [...facts.problems];
    if (facts.trailer !== 'ok') problems.push(`its SHA-256 trailer is ${facts.trailer}`);
    if (facts.revision !== folded.lastRevision)
      problems.push(`its revision is ${facts.revision}, the log's last is ${folded.lastRevision}`);
    if (expected.sha256 !== actual.sha256 || expected.keyCount !== actual.keyCount)
      problems.push(
        `its keyspace (${actual.keyCount} keys) is not what the log records (${expected.keyCount} keys, digest ${expected.sha256 === actual.sha256 ? 'equal' : 'different'})`,
      );
    if (problems.length > 0) {
      throw new StewardError(`the compacted snapshot fails its check: ${problems.join('; ')}`, {
        hint: 'nothing was stored; the chain is unchanged (report this with `etcd-steward backup list -o json`)',
      });
    }
    // Dated by the last revision's commit time: the state it holds, not when it was built.
    const at = new Date(folded.lastTimeMs ?? Date.now());
    await utimes(out, at, at);
    const stored = await importBackup({
      file: out,
      storage: options.storage,
      clusterName: options.clusterName,
      compression: options.compression,
      encryption: options.encryption,
      signal: options.signal,
    });
    const manifest: BackupManifest = {
      ...stored,
      source: 'compact',
      cluster: base.cluster,
      etcdVersion: base.etcdVersion,
      storageVersion: base.storageVersion,
      importedFrom: null,
      compactedFrom: {
        backup: base.name,
        fromRevision: log.fromRevision,
        toRevision: log.toRevision,
        segments: log.segments,
      },
      durationMs: Date.now() - started,
      lastVerification: { ...stored.lastVerification, by: 'compact' },
    };
    await writeManifest(options.storage, manifest, { signal: options.signal });
    say(`stored ${manifest.name} at revision ${manifest.revision}: the log goes on from it (a new chain)`);
    return {
      from,
      log,
      backup: manifest,
      fold: {
        revisions: folded.revisions,
        events: folded.events,
        durationMs: folded.durationMs,
        revisionsPerSecond: Math.round(folded.revisions / Math.max(0.001, folded.durationMs / 1000)),
        bytes: folded.bytes,
      },
      expected,
      folded: actual,
      durationMs: Date.now() - started,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(baseFile, { force: true });
  }
}
