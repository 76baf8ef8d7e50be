/**
 * `backup create`: stream a snapshot from one healthy member (a follower if there is one) into
 * storage in one pass, check it (etcd's trailer, the bolt file, key count) before the object
 * becomes visible, and only then write its manifest.
 * One run at a time per cluster, through a lock in the backup storage (lock.ts): the cluster
 * itself is only read. A failed run leaves nothing listed, and the next run removes any debris.
 */
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../../etcd/member-client.js';
import { StewardError } from '../../errors.js';
import type { BackupStorage } from '../../storage/storage.js';
import { clusterStatus } from '../status.js';
import { takenNames, writeManifest } from './catalog.js';
import { withStorageLock, type LockOptions } from './lock.js';
import {
  MANIFEST_FORMAT,
  objectKeys,
  snapshotFields,
  uniqueBackupName,
  type BackupManifest,
} from './manifest.js';
import { checkSnapshotFile, type SnapshotFacts } from './snapshot-facts.js';
import { chooseSourceMember } from './source-member.js';
import type { EncryptionSettings } from './encryption.js';
import { storeSnapshot, type RawSnapshot } from './store.js';

export type BackupProgress =
  | {
      readonly phase: 'snapshot';
      readonly member: string;
      readonly bytes: number;
      readonly total: number | undefined;
    }
  | { readonly phase: 'check'; readonly bytes: number }
  | { readonly phase: 'done' };

export interface CreateBackupOptions {
  readonly clusterName: string;
  readonly endpoints: readonly string[];
  readonly names?: ReadonlyMap<string, string> | undefined;
  readonly connection: ConnectionOptions;
  readonly storage: BackupStorage;
  readonly compression: 'gzip' | 'none';
  /** Encrypt the snapshot (after compression) to these recipients; undefined: stored as is. */
  readonly encryption?: EncryptionSettings | undefined;
  /** A member name or endpoint to snapshot from. */
  readonly member?: string | undefined;
  readonly specQuota?: number | undefined;
  readonly onProgress?: (progress: BackupProgress) => void;
  readonly signal?: AbortSignal | undefined;
  /** Clock for names and ages (tests). */
  readonly now?: () => Date;
  /** The run's lock in the storage (tests shorten its time to live). */
  readonly lock?: LockOptions | undefined;
}

/** A snapshot that failed its checks; nothing of it was stored. */
export class SnapshotCheckError extends StewardError {}

/**
 * Everything a backup's snapshot must pass before it is stored: etcd's SHA-256 trailer (present
 * and matching) and the offline check of the bolt file (both metas, every reachable page, the
 * freelist's accounting, every revision decoded); `from` names the source in messages.
 */
export async function checkRawSnapshot(raw: RawSnapshot, from: string): Promise<SnapshotFacts> {
  if (raw.trailer !== 'ok') {
    throw new SnapshotCheckError(
      `the snapshot from ${from} ${raw.trailer === 'absent' ? 'ended without' : 'has a wrong'} SHA-256 trailer (${raw.size} bytes): the stream was cut or damaged`,
      {
        hint: 'nothing was cataloged; run the backup again, and check the member with `etcd-steward status`',
      },
    );
  }
  // The stream's hash already proved the trailer over exactly these bytes: no second SHA-256 pass.
  // etcd's HashKV comes out of the same pass; a restore compares the members with it instead of
  // reading the snapshot again.
  const facts = await checkSnapshotFile(raw.file, { unseal: raw.unseal, trailer: raw.trailer, hashKv: true });
  if (facts.problems.length > 0) {
    throw new SnapshotCheckError(`the snapshot from ${from} is damaged: ${facts.problems.join('; ')}`, {
      hint: 'nothing was cataloged; run the backup again from another member (--member)',
    });
  }
  return facts;
}

export async function createBackup(options: CreateBackupOptions): Promise<BackupManifest> {
  const now = options.now ?? (() => new Date());
  const status = await clusterStatus({
    endpoints: [...options.endpoints],
    connection: options.connection,
    specQuota: options.specQuota,
    names: options.names,
  });
  const source = chooseSourceMember(status, options.member);
  await options.storage.ensureLocation({ signal: options.signal });
  const client = new MemberClient(parseEndpoint(source.endpoint), options.connection);
  try {
    return await withStorageLock(
      options.storage,
      `backup/${options.clusterName}`,
      async (signal) => {
        await options.storage.cleanup({ signal });
        const started = now();
        const existing = await takenNames(options.storage, { signal });
        const name = uniqueBackupName(existing, options.clusterName, started);
        const keys = objectKeys(name, options.compression, options.encryption !== undefined);
        const memberLabel = source.name ?? source.endpoint;
        const snapshot = await client.snapshot();
        let facts: SnapshotFacts | undefined;
        const stored = await storeSnapshot({
          source: snapshot.bytes,
          storage: options.storage,
          key: keys.snapshot,
          compression: options.compression,
          encryption: options.encryption,
          onBytes: (bytes) =>
            options.onProgress?.({ phase: 'snapshot', member: memberLabel, bytes, total: source.dbSize }),
          // Before the object becomes visible: a snapshot that fails is never stored at all.
          check: async (raw) => {
            options.onProgress?.({ phase: 'check', bytes: raw.size });
            facts = await checkRawSnapshot(raw, memberLabel);
          },
          signal,
        });
        if (!facts) throw new Error('unreachable: the snapshot was stored without its check');
        try {
          const manifest: BackupManifest = {
            format: MANIFEST_FORMAT,
            name,
            object: keys.snapshot,
            source: 'snapshot',
            cluster: { name: options.clusterName, id: status.clusterId ?? null },
            member: { id: source.id ?? null, name: source.name ?? null, endpoint: source.endpoint },
            etcdVersion: source.version ?? null,
            storageVersion: (await snapshot.version) ?? source.storageVersion ?? null,
            raftIndex: source.raftIndex ?? null,
            raftTerm: source.raftTerm ?? null,
            ...snapshotFields(stored, facts, options.compression),
            createdAt: started.toISOString(),
            durationMs: now().getTime() - started.getTime(),
            importedFrom: null,
            lastVerification: { at: now().toISOString(), ok: true, by: 'create', problems: [] },
            drill: null,
          };
          await writeManifest(options.storage, manifest, { signal });
          options.onProgress?.({ phase: 'done' });
          return manifest;
        } catch (error) {
          await options.storage.delete(keys.snapshot).catch(() => undefined);
          throw error;
        }
      },
      options.signal,
      options.lock,
    );
  } finally {
    client.close();
  }
}
