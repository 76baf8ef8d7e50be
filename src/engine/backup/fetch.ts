/**
 * A snapshot as a local file, whatever it was given as: a path to a snapshot file, or the name
 * of a cataloged backup (or `latest`), fetched from storage — decompressed, and checked against
 * its manifest's SHA-256 on the way.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InputError, StewardError } from '../../errors.js';
import type { BackupStorage } from '../../storage/storage.js';
import { findBackup, readCatalog } from './catalog.js';
import { decryptingStream, explainDecryptError, type DecryptionKeys } from './encryption.js';
import type { BackupManifest } from './manifest.js';
import { spoolDir } from './store.js';
import { StoredHasher } from './stream-checks.js';

export interface LocalSnapshot {
  /** A local snapshot file (the raw bolt file + etcd's trailer). */
  readonly file: string;
  /** The manifest, when it came from the catalog. */
  readonly manifest: BackupManifest | undefined;
  /** Removes the file if it was fetched (a user's own file is left alone). */
  dispose(): Promise<void>;
}

/** True when `reference` names an existing file (rather than a backup). */
export async function isFile(reference: string): Promise<boolean> {
  return stat(reference).then(
    (s) => s.isFile(),
    () => false,
  );
}

/**
 * `reference` as a local snapshot file: an existing file is used in place; otherwise it is a
 * backup name (or `latest`) in `storage`, downloaded into the spool dir.
 */
export async function localSnapshot(
  reference: string,
  storage: (() => Promise<BackupStorage>) | undefined,
  options: FetchOptions = {},
): Promise<LocalSnapshot> {
  if (await isFile(reference))
    return { file: path.resolve(reference), manifest: undefined, dispose: () => Promise.resolve() };
  if (!storage) {
    throw new InputError(`'${reference}' is not a file, and there is no backup storage to look it up in`, {
      hint: 'give a snapshot file path, or a backup name with --storage URL (or a spec with backup.storage)',
    });
  }
  const store = await storage();
  const manifest = findBackup(await readCatalog(store, options), reference);
  const file = await fetchBackup(store, manifest, options);
  return { file, manifest, dispose: () => rm(file, { force: true }) };
}

export interface FetchOptions {
  readonly signal?: AbortSignal | undefined;
  readonly onBytes?: ((bytes: number, total: number) => void) | undefined;
  /** Identities for an encrypted backup (without them, an encrypted backup is refused, naming its recipients). */
  readonly keys?: DecryptionKeys | undefined;
}

/**
 * The stored object of `manifest`, counted and hashed as stored by `hasher`, then decrypted when
 * the backup is encrypted: the stages to put first in a pipeline (still compressed). Rejects,
 * before any byte reaches the caller, when the identities do not match the backup's recipients.
 */
export async function storedPlaintext(
  storage: BackupStorage,
  manifest: BackupManifest,
  hasher: StoredHasher,
  options: FetchOptions = {},
): Promise<Readable[]> {
  const raw = await storage.read(manifest.object, { signal: options.signal });
  if (!manifest.encryption) return [raw, hasher];
  // Its errors reach the caller through the decrypted stream (the hasher is destroyed with them).
  pipeline(raw, hasher).catch(() => undefined);
  return [await decryptingStream(hasher, options.keys, `backup ${manifest.name}`, manifest.encryption)];
}

/**
 * Downloads a backup's snapshot into the spool dir (decrypted: etcdutl needs a plain file; mode
 * 0600, removed by the caller), failing if the stored bytes or the plaintext are not what the
 * manifest says.
 */
export async function fetchBackup(
  storage: BackupStorage,
  manifest: BackupManifest,
  options: FetchOptions = {},
): Promise<string> {
  const dir = spoolDir();
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `fetch-${manifest.name}-${randomBytes(4).toString('hex')}.db`);
  const hasher = new StoredHasher();
  const plain = new StoredHasher();
  hasher.on('data', () => options.onBytes?.(hasher.bytes, manifest.storedSize));
  try {
    await pipeline(
      [
        ...(await storedPlaintext(storage, manifest, hasher, options)),
        ...(manifest.compression === 'gzip' ? [createGunzip()] : []),
        plain,
        createWriteStream(file, { mode: 0o600 }),
      ],
      { signal: options.signal },
    );
  } catch (error) {
    await rm(file, { force: true });
    if (error instanceof StewardError || (error as Error).name === 'AbortError') throw error;
    if (manifest.encryption && options.keys)
      throw explainDecryptError(error, `backup ${manifest.name}`, manifest.encryption, options.keys);
    if ((error as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw new StewardError(
        `backup ${manifest.name} is damaged: the stored object does not decompress (${(error as Error).message})`,
        {
          hint: 'use another backup (`etcd-steward backup list`); nothing was changed',
          cause: error,
        },
      );
    }
    throw new StewardError(
      `backup ${manifest.name} could not be read from ${storage.displayUrl}: ${(error as Error).message}`,
      {
        hint: 'run `etcd-steward backup verify` on it; use another backup',
        cause: error,
      },
    );
  }
  if (hasher.digest() !== manifest.sha256) {
    await rm(file, { force: true });
    throw new StewardError(
      `backup ${manifest.name} is damaged: its SHA-256 is ${hasher.digest()}, the manifest says ${manifest.sha256}`,
      {
        hint: 'use another backup (`etcd-steward backup list`); nothing was changed',
      },
    );
  }
  if (manifest.encryption && plain.digest() !== manifest.encryption.plaintextSha256) {
    await rm(file, { force: true });
    throw new StewardError(
      `backup ${manifest.name} is damaged: the SHA-256 of its decrypted snapshot is ${plain.digest()}, the manifest says ${manifest.encryption.plaintextSha256}`,
      { hint: 'use another backup (`etcd-steward backup list`); nothing was changed' },
    );
  }
  return file;
}
