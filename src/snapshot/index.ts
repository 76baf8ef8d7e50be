/**
 * Reading etcd snapshots with no etcd running: open, summarise, verify, list the key space.
 * `openSnapshot(path)` → `Snapshot`; `summarizeSnapshot(snapshot)`; `verifySnapshot(path)`.
 */
export { SnapshotCorruptError, SnapshotRevisionError } from './errors.js';
export { type BoltMeta } from './bbolt-format.js';
export { type BoltDatabase } from './bbolt-database.js';
export {
  type BoltEntry,
  type BucketRef,
  type TreeWalk,
  type WalkOptions,
  type WalkStats,
} from './bbolt-walk.js';
export { type EtcdClusterInfo, type EtcdMetaInfo, type SnapshotMember } from './etcd-buckets.js';
export { type DecodedLease, type KeyValue, type RevisionKey } from './etcd-records.js';
export {
  summarizeSnapshot,
  verifySnapshot,
  type SnapshotSummary,
  type VerifyOptions,
  type VerifyReport,
} from './inspect.js';
export { HashKvUnavailableError, hashKvCompactRevision, snapshotHashKv, type HashKvValue } from './hashkv.js';
export { Snapshot, openSnapshot, type KeyValueOptions, type RevisionRecord } from './snapshot.js';
export { hasTrailer, type TrailerCheck, type TrailerStatus } from './trailer.js';
export { type OpenOptions, type Unseal } from './positional-file.js';
