/**
 * The catalog entry of one backup: a JSON manifest stored beside the snapshot object. A backup
 * exists only when its manifest does, and the manifest is written last, after the snapshot is
 * complete and checked — so a partial snapshot is never listed.
 */
import { z } from 'zod';
import { encryptionRecord } from './encryption-record.js';

export const MANIFEST_FORMAT = 1;

const verification = z.object({
  at: z.string(),
  ok: z.boolean(),
  by: z.enum(['create', 'verify', 'import', 'compact']),
  problems: z.array(z.string()).default([]),
  /** `stored`: an encrypted backup checked without its identity (stored bytes only); absent: everything. */
  scope: z.enum(['full', 'stored']).optional(),
});

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  name: z.string(),
  /** Key of the snapshot object in the storage. */
  object: z.string(),
  /** `compact`: folded offline from a chain's snapshot and change log (`backup compact`), see `compactedFrom`. */
  source: z.enum(['snapshot', 'import', 'compact']),
  cluster: z.object({ name: z.string(), id: z.string().nullable() }),
  member: z.object({
    id: z.string().nullable(),
    name: z.string().nullable(),
    endpoint: z.string().nullable(),
  }),
  etcdVersion: z.string().nullable(),
  storageVersion: z.string().nullable(),
  revision: z.number(),
  compactRevision: z.number().nullable(),
  raftIndex: z.number().nullable(),
  raftTerm: z.number().nullable(),
  /** Bytes of the snapshot itself (bolt file + etcd's trailer), before compression. */
  size: z.number(),
  /** Bytes of the stored object. */
  storedSize: z.number(),
  keyCount: z.number(),
  /** SHA-256 (hex) of the stored object, as written. */
  sha256: z.string(),
  /** etcd's own trailer: SHA-256 of the bolt file, or null when the snapshot has none. */
  etcdSha256: z.string().nullable(),
  compression: z.enum(['gzip', 'none']),
  createdAt: z.string(),
  durationMs: z.number(),
  importedFrom: z.string().nullable().default(null),
  /** `backup compact`: the backup and change-log revisions it was folded from. */
  compactedFrom: z
    .object({ backup: z.string(), fromRevision: z.number(), toRevision: z.number(), segments: z.number() })
    .optional(),
  lastVerification: verification,
  /** Result of the last restore drill (restore issue); null until one ran. */
  drill: z.object({ at: z.string(), ok: z.boolean(), detail: z.string() }).nullable().default(null),
  /** How the stored object is encrypted (age recipients' public keys, plaintext SHA-256); null when it is not. */
  encryption: encryptionRecord.nullable().default(null),
  /**
   * etcd's HashKV of the snapshot at `revision`, computed offline when the backup was checked
   * (create or verify): what every member of a restored cluster must answer. Absent in older
   * manifests and where it cannot be computed offline (an unfinished compaction).
   */
  hashKv: z.object({ hash: z.number(), revision: z.number(), compactRevision: z.number() }).optional(),
});

export type BackupManifest = z.infer<typeof manifestSchema>;

/** Storage keys of a backup: `NAME.db[.gz][.age]` and `NAME.json`. */
export function objectKeys(
  name: string,
  compression: 'gzip' | 'none',
  encrypted = false,
): { snapshot: string; manifest: string } {
  return {
    snapshot: `${name}.db${compression === 'gzip' ? '.gz' : ''}${encrypted ? '.age' : ''}`,
    manifest: `${name}.json`,
  };
}

/** A backup name from the cluster name and a time: `etcd-20261125T103000Z`. */
export function backupName(cluster: string, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${cluster}-${stamp}`;
}

/** True when the manifest says the backup passed its last check. */
export function isVerified(manifest: BackupManifest): boolean {
  return manifest.lastVerification.ok;
}

/** A name not yet in `existing`: `backupName`, with `-2`, `-3`… appended on a clash. */
export function uniqueBackupName(existing: ReadonlySet<string>, cluster: string, at: Date): string {
  const base = backupName(cluster, at);
  let name = base;
  for (let n = 2; existing.has(name); n += 1) name = `${base}-${n}`;
  return name;
}

/** The manifest fields that describe the stored snapshot itself, the same for every source. */
export function snapshotFields(
  stored: {
    size: number;
    storedSize: number;
    sha256: string;
    etcdSha256: string | null;
    encryption?: BackupManifest['encryption'];
  },
  facts: {
    revision: number;
    compactRevision: number | null;
    keyCount: number;
    hashKv?: BackupManifest['hashKv'];
  },
  compression: 'gzip' | 'none',
): Pick<
  BackupManifest,
  | 'revision'
  | 'compactRevision'
  | 'size'
  | 'storedSize'
  | 'keyCount'
  | 'sha256'
  | 'etcdSha256'
  | 'compression'
  | 'encryption'
  | 'hashKv'
> {
  return {
    revision: facts.revision,
    compactRevision: facts.compactRevision,
    size: stored.size,
    storedSize: stored.storedSize,
    keyCount: facts.keyCount,
    sha256: stored.sha256,
    etcdSha256: stored.etcdSha256,
    compression,
    encryption: stored.encryption ?? null,
    ...(facts.hashKv ? { hashKv: facts.hashKv } : {}),
  };
}
