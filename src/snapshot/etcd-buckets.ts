/**
 * What etcd keeps outside the key space, decoded from the small buckets: `meta` (raft position,
 * compaction, storage version), `members` / `members_removed`, `cluster` and `auth`. Each decoder
 * takes the bucket's entries (name → value) and reads what exists, so older and newer etcd lines
 * (3.5 has no storageVersion; 3.6 adds it) decode alike.
 */
import { parseRevisionKey, parseU64BE } from './etcd-records.js';

/** A small bucket's entries, keyed by the entry's key as latin1 text. */
export type BucketEntries = ReadonlyMap<string, Buffer>;

/** The `meta` bucket. Absent values are undefined (e.g. a never-compacted store has no compact revisions). */
export interface EtcdMetaInfo {
  /** The raft index of the last applied entry (`consistent_index`). */
  readonly consistentIndex: number | undefined;
  /** The raft term of that entry (`term`, etcd 3.5+). */
  readonly term: number | undefined;
  /** The last compaction that completed (`finishedCompactRev`). */
  readonly finishedCompactRevision: number | undefined;
  /** The last compaction that was started (`scheduledCompactRev`); above the finished one if interrupted. */
  readonly scheduledCompactRevision: number | undefined;
  /** The storage schema version (`storageVersion`, etcd 3.6+), e.g. "3.6.0". */
  readonly storageVersion: string | undefined;
  /** Voters and learners of the raft configuration (`confState`), member ids in hex. */
  readonly confState: { readonly voters: string[]; readonly learners: string[] } | undefined;
  /** Every key the bucket holds, including ones not decoded here. */
  readonly keys: string[];
}

/** A member as recorded in the `members` bucket; ids in hex as etcdctl prints them. */
export interface SnapshotMember {
  readonly id: string;
  /** Empty when the member never started (added but not yet joined). */
  readonly name: string;
  readonly peerUrls: string[];
  readonly clientUrls: string[];
  readonly isLearner: boolean;
}

/** The `cluster` bucket. */
export interface EtcdClusterInfo {
  /** The cluster version the members agreed on (`clusterVersion`), e.g. "3.6.0". */
  readonly clusterVersion: string | undefined;
  /** A downgrade in progress, if any (`downgrade`). */
  readonly downgrade: { readonly targetVersion: string; readonly enabled: boolean } | undefined;
}

function text(value: Buffer | undefined): string | undefined {
  return value === undefined ? undefined : value.toString('utf8');
}

function compactRevision(value: Buffer | undefined): number | undefined {
  return value === undefined ? undefined : parseRevisionKey(value)?.main;
}

/** Decimal uint64 ids in a JSON array (JSON.parse would round them) as hex. */
function idsIn(json: string, field: string): string[] {
  const match = new RegExp(`"${field}"\\s*:\\s*\\[([0-9,\\s]*)\\]`).exec(json);
  return (match?.[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => BigInt(s).toString(16));
}

/** Decodes the `meta` bucket. */
export function decodeMeta(entries: BucketEntries): EtcdMetaInfo {
  const confState = text(entries.get('confState'));
  const index = entries.get('consistent_index');
  const term = entries.get('term');
  return {
    consistentIndex: index === undefined ? undefined : parseU64BE(index),
    term: term === undefined ? undefined : parseU64BE(term),
    finishedCompactRevision: compactRevision(entries.get('finishedCompactRev')),
    scheduledCompactRevision: compactRevision(entries.get('scheduledCompactRev')),
    storageVersion: text(entries.get('storageVersion')),
    confState:
      confState === undefined
        ? undefined
        : { voters: idsIn(confState, 'voters'), learners: idsIn(confState, 'learners') },
    keys: [...entries.keys()],
  };
}

/** Decodes the `members` bucket (key: member id in hex; value: JSON). Unreadable JSON keeps the id. */
export function decodeMembers(entries: BucketEntries): SnapshotMember[] {
  return [...entries].map(([id, value]) => {
    let json: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(value.toString('utf8'));
      if (parsed && typeof parsed === 'object') json = parsed as Record<string, unknown>;
    } catch {
      // keep the id; the fields stay empty
    }
    const strings = (v: unknown) =>
      Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
    return {
      id,
      name: typeof json['name'] === 'string' ? json['name'] : '',
      peerUrls: strings(json['peerURLs']),
      clientUrls: strings(json['clientURLs']),
      isLearner: json['isLearner'] === true,
    };
  });
}

/** Decodes the `cluster` bucket. */
export function decodeCluster(entries: BucketEntries): EtcdClusterInfo {
  let downgrade: EtcdClusterInfo['downgrade'];
  const raw = text(entries.get('downgrade'));
  if (raw !== undefined) {
    try {
      const d = JSON.parse(raw) as Record<string, unknown>;
      downgrade = {
        targetVersion: typeof d['target-version'] === 'string' ? d['target-version'] : '',
        enabled: d['enabled'] === true,
      };
    } catch {
      downgrade = undefined;
    }
  }
  return { clusterVersion: text(entries.get('clusterVersion')), downgrade };
}

/** Whether authentication is on, from the `auth` bucket's `authEnabled` flag (false when absent). */
export function decodeAuthEnabled(entries: BucketEntries | undefined): boolean {
  return entries?.get('authEnabled')?.[0] === 1;
}
