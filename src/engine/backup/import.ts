/**
 * `backup import FILE`: adopt a snapshot made elsewhere (plain `etcdctl snapshot save`, the
 * Bitnami chart's `db-…` files on an NFS volume): check it first, then store and catalog it.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../errors.js';
import type { BackupStorage } from '../../storage/storage.js';
import { takenNames, writeManifest } from './catalog.js';
import {
  MANIFEST_FORMAT,
  objectKeys,
  snapshotFields,
  uniqueBackupName,
  type BackupManifest,
} from './manifest.js';
import { checkSnapshotFile, requireTrailer } from './snapshot-facts.js';
import type { EncryptionSettings } from './encryption.js';
import { storeSnapshot } from './store.js';

export async function importBackup(options: {
  file: string;
  storage: BackupStorage;
  clusterName: string;
  compression: 'gzip' | 'none';
  /** Encrypt the stored snapshot to these recipients. */
  encryption?: EncryptionSettings | undefined;
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal;
  now?: () => Date;
  /** Accept a file without etcd's SHA-256 trailer (a member's db), as etcdutl's flag does. */
  skipHashCheck?: boolean | undefined;
}): Promise<BackupManifest> {
  const now = options.now ?? (() => new Date());
  let info;
  try {
    info = await stat(options.file);
  } catch {
    throw new InputError(`${options.file}: no such file`, {
      hint: 'give the path of a snapshot file (etcdctl snapshot save)',
    });
  }
  const facts = await checkSnapshotFile(options.file, { hashKv: true });
  if (facts.problems.length > 0) {
    throw new InputError(`${options.file} is not a whole etcd snapshot: ${facts.problems.join('; ')}`, {
      hint: 'nothing was imported; take a new snapshot',
    });
  }
  requireTrailer(options.file, facts, options.skipHashCheck);
  // Named after when the snapshot was taken (the file's time), so the catalog sorts right.
  const takenAt = info.mtime;
  await options.storage.ensureLocation({ signal: options.signal });
  const existing = await takenNames(options.storage);
  const name = uniqueBackupName(existing, options.clusterName, takenAt);
  const keys = objectKeys(name, options.compression, options.encryption !== undefined);
  const started = now();
  const stored = await storeSnapshot({
    source: createReadStream(options.file, { highWaterMark: 1 << 20 }),
    storage: options.storage,
    key: keys.snapshot,
    compression: options.compression,
    encryption: options.encryption,
    onBytes: options.onBytes,
    signal: options.signal,
  });
  if (stored.trailer === 'bad') {
    await options.storage.delete(keys.snapshot);
    throw new InputError(`${options.file}: etcd's SHA-256 trailer does not match its contents`, {
      hint: 'the file is damaged; nothing was imported',
    });
  }
  const manifest: BackupManifest = {
    format: MANIFEST_FORMAT,
    name,
    object: keys.snapshot,
    source: 'import',
    cluster: { name: options.clusterName, id: null },
    member: { id: null, name: null, endpoint: null },
    etcdVersion: null,
    storageVersion: null,
    raftIndex: null,
    raftTerm: null,
    ...snapshotFields(stored, facts, options.compression),
    createdAt: takenAt.toISOString(),
    durationMs: now().getTime() - started.getTime(),
    importedFrom: path.resolve(options.file),
    lastVerification: { at: now().toISOString(), ok: true, by: 'import', problems: [] },
    drill: null,
  };
  await writeManifest(options.storage, manifest, { signal: options.signal });
  return manifest;
}
