/**
 * `backup verify`: re-read a stored backup end to end — the SHA-256 of the stored object against
 * its manifest, etcd's trailer, the bolt file (metas, every page), the revision and key count —
 * and record the verdict in the manifest.
 */
import { rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { BackupStorage } from '../../storage/storage.js';
import { writeManifest } from './catalog.js';
import type { BackupManifest } from './manifest.js';
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
  signal?: AbortSignal;
  now?: () => Date;
}): Promise<VerifyResult> {
  const { manifest, storage } = options;
  const problems: string[] = [];
  const dir = spoolDir();
  await mkdir(dir, { recursive: true });
  const spoolFile = path.join(dir, `verify-${process.pid}-${randomBytes(4).toString('hex')}.db`);
  try {
    const stored = new StoredHasher();
    stored.on('data', () => options.onBytes?.(stored.bytes, manifest.storedSize));
    const checker = new SnapshotChecker({ spool: createWriteStream(spoolFile) });
    const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    try {
      await pipeline(
        [
          await storage.read(manifest.object, { signal: options.signal }),
          stored,
          ...(manifest.compression === 'gzip' ? [createGunzip()] : []),
          checker,
          sink,
        ],
        { signal: options.signal },
      );
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      problems.push(`reading the stored object failed: ${(error as Error).message}`);
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
      if (checker.bytes !== manifest.size)
        problems.push(`the snapshot has ${checker.bytes} bytes, the manifest says ${manifest.size}`);
      const trailer = checker.trailer();
      if (trailer.state === 'bad') problems.push("etcd's SHA-256 trailer does not match the snapshot");
      if (trailer.state === 'absent' && manifest.etcdSha256 !== null)
        problems.push("etcd's SHA-256 trailer is missing");
      const facts = await checkSnapshotFile(spoolFile);
      problems.push(...facts.problems);
      if (facts.problems.length === 0) {
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
  const at = (options.now ?? (() => new Date()))().toISOString();
  const updated: BackupManifest = {
    ...manifest,
    lastVerification: { at, ok: problems.length === 0, by: 'verify', problems },
  };
  await writeManifest(storage, updated, { signal: options.signal });
  return { name: manifest.name, ok: problems.length === 0, problems, manifest: updated };
}
