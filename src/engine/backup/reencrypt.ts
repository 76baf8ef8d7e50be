/**
 * `backup reencrypt`: rewrite stored backups (and change-log segments) for the spec's current
 * recipients, e.g. after one was added or one left. Each snapshot is decrypted with the
 * identities given (a plain one needs none), re-encrypted in the stream, written under a new
 * object key, and only then is its manifest switched to it and the old object removed: a crash
 * leaves either the old backup or the new one listed, never a half one. Segments are small and
 * rewritten whole. Runs under the cluster's backup lock, so no create or prune interleaves.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { StewardError } from '../../errors.js';
import type { BackupStorage } from '../../storage/storage.js';
import { listSegments, readSegment, writeSegment } from '../pitr/segment.js';
import { readCatalog, writeManifest } from './catalog.js';
import {
  encryptingStream,
  explainDecryptError,
  recordFor,
  type DecryptionKeys,
  type EncryptionSettings,
} from './encryption.js';
import { storedPlaintext } from './fetch.js';
import { withStorageLock } from './lock.js';
import { objectKeys, type BackupManifest } from './manifest.js';
import { StoredHasher } from './stream-checks.js';

export type ReencryptOutcome = 'reencrypted' | 'skipped:current' | 'failed';

export interface ReencryptResult {
  readonly backups: readonly { name: string; outcome: ReencryptOutcome; detail: string }[];
  readonly segments: { reencrypted: number; current: number; failed: number; firstProblem: string | null };
}

/** True when `manifest` is already encrypted to exactly `settings`' recipients. */
function isCurrent(
  record: { recipients: readonly string[]; passphrase: boolean } | null | undefined,
  settings: EncryptionSettings,
): boolean {
  if (!record) return false;
  if (settings.passphrase !== undefined) return record.passphrase;
  const want = [...settings.recipients].sort().join(',');
  return !record.passphrase && [...record.recipients].sort().join(',') === want;
}

/** Rewrites one backup for `settings`; returns its new manifest. */
async function reencryptBackup(
  storage: BackupStorage,
  manifest: BackupManifest,
  settings: EncryptionSettings,
  keys: DecryptionKeys | undefined,
  signal: AbortSignal,
): Promise<BackupManifest> {
  // The plaintext's SHA-256 (of the raw snapshot): from the manifest, or hashed from a plain backup.
  const plaintextSha256 =
    manifest.encryption?.plaintextSha256 ?? (await plaintextOf(storage, manifest, signal));
  const stored = new StoredHasher();
  const written = new StoredHasher();
  const key = objectKeys(manifest.name, manifest.compression, true).snapshot.replace(
    /\.age$/,
    `.${randomBytes(4).toString('hex')}.age`,
  );
  try {
    const stages = await storedPlaintext(storage, manifest, stored, { keys, signal });
    const body = new PassThrough();
    const [, result] = await Promise.all([
      pipeline([...stages, await encryptingStream(settings), written, body], { signal }),
      storage.write(key, body, { signal }),
    ]);
    if (stored.digest() !== manifest.sha256)
      throw new StewardError(`backup ${manifest.name} is damaged: its stored SHA-256 is not the manifest's`, {
        hint: 'it was left as it was; run `etcd-steward backup verify` on it',
      });
    const updated: BackupManifest = {
      ...manifest,
      object: key,
      storedSize: result.size,
      sha256: written.digest(),
      encryption: recordFor(settings, plaintextSha256),
    };
    await writeManifest(storage, updated, { signal });
    if (updated.object !== manifest.object) await storage.delete(manifest.object, { signal });
    return updated;
  } catch (error) {
    await storage.delete(key).catch(() => undefined);
    throw manifest.encryption && keys
      ? explainDecryptError(error, `backup ${manifest.name}`, manifest.encryption, keys)
      : error;
  }
}

/** The SHA-256 of an unencrypted backup's raw snapshot (decompressed from its stored bytes). */
async function plaintextOf(
  storage: BackupStorage,
  manifest: BackupManifest,
  signal: AbortSignal,
): Promise<string> {
  const raw = new StoredHasher();
  await pipeline(
    [
      await storage.read(manifest.object, { signal }),
      ...(manifest.compression === 'gzip' ? [createGunzip()] : []),
      raw,
      new Writable({ write: (_c, _e, callback) => callback() }),
    ],
    { signal },
  );
  return raw.digest();
}

/**
 * Rewrites `names` (or every backup) and every change-log segment not yet encrypted to
 * `settings`. Per-item outcomes; a failure of one does not stop the others.
 */
export async function reencryptBackups(options: {
  storage: BackupStorage;
  clusterName: string;
  settings: EncryptionSettings;
  keys: DecryptionKeys | undefined;
  names?: readonly string[] | undefined;
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
}): Promise<ReencryptResult> {
  const { storage, settings, keys } = options;
  return withStorageLock(
    storage,
    `backup/${options.clusterName}`,
    async (signal) => {
      const catalog = await readCatalog(storage, { signal });
      const chosen = options.names
        ? catalog.backups.filter((b) => options.names?.includes(b.name))
        : catalog.backups;
      const backups: ReencryptResult['backups'][number][] = [];
      for (const manifest of chosen) {
        if (isCurrent(manifest.encryption, settings)) {
          backups.push({
            name: manifest.name,
            outcome: 'skipped:current',
            detail: 'already encrypted to these recipients',
          });
          continue;
        }
        options.onProgress?.(`re-encrypting ${manifest.name}`);
        try {
          const updated = await reencryptBackup(storage, manifest, settings, keys, signal);
          backups.push({ name: manifest.name, outcome: 'reencrypted', detail: updated.object });
        } catch (error) {
          if (signal.aborted) throw error;
          backups.push({ name: manifest.name, outcome: 'failed', detail: (error as Error).message });
        }
      }
      const segments = { reencrypted: 0, current: 0, failed: 0, firstProblem: null as string | null };
      if (!options.names) {
        for (const ref of await listSegments(storage, { signal })) {
          try {
            const { manifest, revisions } = await readSegment(storage, ref, { signal, keys });
            if (isCurrent(manifest.encryption, settings)) {
              segments.current += 1;
              continue;
            }
            const written = await writeSegment(storage, manifest.cluster, revisions, manifest.leases, {
              signal,
              encryption: settings,
              now: new Date(manifest.createdAt),
            });
            if (written.object !== ref.object) await storage.delete(ref.object, { signal });
            segments.reencrypted += 1;
          } catch (error) {
            if (signal.aborted) throw error;
            segments.failed += 1;
            segments.firstProblem ??= `${ref.object}: ${(error as Error).message}`;
          }
        }
      }
      return { backups, segments };
    },
    options.signal,
  );
}
