/**
 * `backup verify`: re-read a stored backup end to end — the SHA-256 of the stored object against
 * its manifest, etcd's trailer, the bolt file (metas, every page), the revision, key count and
 * etcd's HashKV (recorded when the manifest lacks it) — and record the verdict in the manifest. An encrypted backup without its identity: the stored
 * bytes only (scope `stored`); with it, everything plus the plaintext's SHA-256.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { BackupStorage } from '../../storage/storage.js';
import { writeManifest } from './catalog.js';
import { explainDecryptError, WrongIdentityError, type DecryptionKeys } from './encryption.js';
import { storedPlaintext } from './fetch.js';
import type { BackupManifest } from './manifest.js';
import { SpoolSeal } from './sealed-spool.js';
import { checkSnapshotFile } from './snapshot-facts.js';
import { spoolDir } from './store.js';
import { SnapshotChecker, StoredHasher } from './stream-checks.js';

export interface VerifyResult {
  readonly name: string;
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly manifest: BackupManifest;
}

export async function verifyBackup(options: {
  storage: BackupStorage;
  manifest: BackupManifest;
  onBytes?: (storedBytes: number, total: number) => void;
  /** Identities for an encrypted backup: without them only its stored bytes are checked. */
  keys?: DecryptionKeys | undefined;
  signal?: AbortSignal;
  now?: () => Date;
}): Promise<VerifyResult> {
  const { manifest } = options;
  if (manifest.encryption && !options.keys) return verifyStoredBytes(options);
  const { storage } = options;
  const problems: string[] = [];
  let hashKv: BackupManifest['hashKv'];
  const dir = spoolDir();
  await mkdir(dir, { recursive: true });
  const spoolFile = path.join(dir, `verify-${process.pid}-${randomBytes(4).toString('hex')}.db`);
  try {
    const stored = new StoredHasher();
    stored.on('data', () => options.onBytes?.(stored.bytes, manifest.storedSize));
    const seal = new SpoolSeal();
    const checker = new SnapshotChecker({ spool: seal.writer(spoolFile) });
    const plain = new StoredHasher();
    const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    try {
      await pipeline(
        [
          ...(await storedPlaintext(storage, manifest, stored, options)),
          ...(manifest.compression === 'gzip' ? [createGunzip()] : []),
          plain,
          checker,
          sink,
        ],
        { signal: options.signal },
      );
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      const explained =
        manifest.encryption && options.keys
          ? explainDecryptError(error, `backup ${manifest.name}`, manifest.encryption, options.keys)
          : error;
      // A key that does not fit says nothing about the backup: refuse, record nothing.
      if (explained instanceof WrongIdentityError) throw explained;
      problems.push(`reading the stored object failed: ${(explained as Error).message}`);
    }
    if (problems.length === 0) {
      if (stored.digest() !== manifest.sha256)
        problems.push(
          `SHA-256 of the stored object is ${stored.digest()}, the manifest says ${manifest.sha256}`,
        );
      if (stored.bytes !== manifest.storedSize)
        problems.push(
          `the stored object has ${stored.bytes} bytes, the manifest says ${manifest.storedSize}`,
        );
      if (manifest.encryption && plain.digest() !== manifest.encryption.plaintextSha256)
        problems.push(
          `SHA-256 of the decrypted snapshot is ${plain.digest()}, the manifest says ${manifest.encryption.plaintextSha256}`,
        );
      if (checker.bytes !== manifest.size)
        problems.push(`the snapshot has ${checker.bytes} bytes, the manifest says ${manifest.size}`);
      const trailer = checker.trailer();
      if (trailer.state === 'bad') problems.push("etcd's SHA-256 trailer does not match the snapshot");
      if (trailer.state === 'absent' && manifest.etcdSha256 !== null)
        problems.push("etcd's SHA-256 trailer is missing");
      const facts = await checkSnapshotFile(spoolFile, { unseal: seal.unseal, hashKv: true });
      problems.push(...facts.problems);
      if (facts.problems.length === 0) {
        hashKv = facts.hashKv;
        if (manifest.hashKv && hashKv && manifest.hashKv.hash !== hashKv.hash)
          problems.push(
            `etcd's HashKV of the snapshot is ${hashKv.hash}, the manifest recorded ${manifest.hashKv.hash} when the backup was made`,
          );
        if (facts.keyCount !== manifest.keyCount)
          problems.push(`the snapshot holds ${facts.keyCount} keys, the manifest says ${manifest.keyCount}`);
        if (facts.revision !== manifest.revision)
          problems.push(
            `the snapshot is at revision ${facts.revision}, the manifest says ${manifest.revision}`,
          );
      }
    }
  } finally {
    await rm(spoolFile, { force: true });
  }
  // A backup made before HashKV was recorded gets it now, once the snapshot checked out whole.
  return record(options, problems, undefined, problems.length === 0 && !manifest.hashKv ? hashKv : undefined);
}

/** Records the verdict in the manifest. */
async function record(
  options: { storage: BackupStorage; manifest: BackupManifest; signal?: AbortSignal; now?: () => Date },
  problems: string[],
  scope: 'stored' | undefined,
  hashKv?: BackupManifest['hashKv'],
): Promise<VerifyResult> {
  const { manifest } = options;
  const at = (options.now ?? (() => new Date()))().toISOString();
  const updated: BackupManifest = {
    ...manifest,
    ...(hashKv ? { hashKv } : {}),
    lastVerification: { at, ok: problems.length === 0, by: 'verify', problems, ...(scope ? { scope } : {}) },
  };
  await writeManifest(options.storage, updated, { signal: options.signal });
  return { name: manifest.name, ok: problems.length === 0, problems, manifest: updated };
}

/**
 * An encrypted backup checked without its identity: the stored bytes against the manifest's
 * SHA-256 and size (what anyone holding the storage can prove); the contents need the identity.
 */
async function verifyStoredBytes(options: {
  storage: BackupStorage;
  manifest: BackupManifest;
  onBytes?: (storedBytes: number, total: number) => void;
  signal?: AbortSignal;
  now?: () => Date;
}): Promise<VerifyResult> {
  const { manifest } = options;
  const problems: string[] = [];
  const stored = new StoredHasher();
  stored.on('data', () => options.onBytes?.(stored.bytes, manifest.storedSize));
  const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  try {
    await pipeline([await options.storage.read(manifest.object, { signal: options.signal }), stored, sink], {
      signal: options.signal,
    });
    if (stored.digest() !== manifest.sha256)
      problems.push(
        `SHA-256 of the stored object is ${stored.digest()}, the manifest says ${manifest.sha256}`,
      );
    if (stored.bytes !== manifest.storedSize)
      problems.push(`the stored object has ${stored.bytes} bytes, the manifest says ${manifest.storedSize}`);
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    problems.push(`reading the stored object failed: ${(error as Error).message}`);
  }
  return record(options, problems, 'stored');
}
