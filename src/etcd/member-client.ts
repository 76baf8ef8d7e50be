/**
 * A client bound to exactly one etcd member: one channel (channel.ts) and a thin facade per etcd
 * service on it — `kv`, `lease`, `watch`, `auth`, `maintenance`, `cluster`. Every call names
 * that member, carries a deadline and is never retried on another member; the only retry is a
 * fresh auth token on the same member. This is the one door to etcd: the engine never touches
 * gRPC itself. The methods below are the facades' calls, kept on the client so call sites read
 * `client.status()`; the types callers need are exported from here too.
 */
import { AuthService } from './auth.js';
import { MemberChannel } from './channel.js';
import { ClusterService, type ClusterMember } from './cluster.js';
import type { ConnectionOptions } from './credentials.js';
import type { Endpoint } from './endpoint.js';
import { KvService, type TxnCompare, type TxnOp } from './kv.js';
import { LeaseService } from './lease.js';
import { MaintenanceService, type ActiveAlarm, type AlarmKind, type MemberStatus } from './maintenance.js';
import { WatchService, type WatchHandle, type WatchResponse } from './watch.js';
import type { KeyValue } from '../snapshot/etcd-records.js';

export type { ClusterMember } from './cluster.js';
export type { ConnectionOptions } from './credentials.js';
export type { TxnCompare, TxnOp } from './kv.js';
export type { ActiveAlarm, AlarmKind, MemberStatus } from './maintenance.js';
export type { WatchEvent, WatchResponse } from './watch.js';
export type { KeyValue } from '../snapshot/etcd-records.js';

/** One member, one channel; close() when done. */
export class MemberClient {
  readonly endpoint: Endpoint;
  readonly kv: KvService;
  readonly lease: LeaseService;
  readonly watch: WatchService;
  readonly auth: AuthService;
  readonly maintenance: MaintenanceService;
  readonly cluster: ClusterService;
  private readonly channel: MemberChannel;

  /** Checks the TLS files (InputError naming the bad one) and opens a lazy channel to `endpoint`. */
  constructor(endpoint: Endpoint, options: ConnectionOptions) {
    this.endpoint = endpoint;
    this.channel = new MemberChannel(endpoint, options);
    this.kv = new KvService(this.channel);
    this.lease = new LeaseService(this.channel);
    this.watch = new WatchService(this.channel);
    this.auth = new AuthService(this.channel);
    this.maintenance = new MaintenanceService(this.channel);
    this.cluster = new ClusterService(this.channel);
  }

  // Maintenance (maintenance.ts)

  /** Maintenance.Status of this member. */
  status(): Promise<MemberStatus> {
    return this.maintenance.status();
  }

  /** The cluster's active alarms, as this member knows them. */
  alarms(): Promise<ActiveAlarm[]> {
    return this.maintenance.alarms();
  }

  /** Raises `alarm` for the member `memberId` (hex). */
  activateAlarm(memberId: string, alarm: AlarmKind): Promise<void> {
    return this.maintenance.activateAlarm(memberId, alarm);
  }

  /** Disarms `alarm` of the member `memberId` (hex). */
  deactivateAlarm(memberId: string, alarm: AlarmKind): Promise<void> {
    return this.maintenance.deactivateAlarm(memberId, alarm);
  }

  /** A hash of the key bucket up to `revision` (0: now). */
  hashKv(revision = 0): ReturnType<MaintenanceService['hashKv']> {
    return this.maintenance.hashKv(revision);
  }

  /** Defragments this member within `timeoutMs`. */
  defragment(timeoutMs: number): Promise<void> {
    return this.maintenance.defragment(timeoutMs);
  }

  /** Hands leadership from this member (the leader) to `targetId` (hex). */
  moveLeader(targetId: string, timeoutMs: number): Promise<void> {
    return this.maintenance.moveLeader(targetId, timeoutMs);
  }

  /** Maintenance.Downgrade VALIDATE / ENABLE / CANCEL (etcd 3.6+); resolves to the cluster version. */
  downgrade(action: 'VALIDATE' | 'ENABLE' | 'CANCEL', version: string): Promise<string> {
    return this.maintenance.downgrade(action, version);
  }

  /** This member's snapshot as a byte stream (see MaintenanceService.snapshot). */
  snapshot(idleTimeoutMs?: number): ReturnType<MaintenanceService['snapshot']> {
    return this.maintenance.snapshot(idleTimeoutMs);
  }

  // Cluster (cluster.ts)

  /** The members as this member sees them. */
  memberList(): Promise<ClusterMember[]> {
    return this.cluster.memberList();
  }

  /** Adds a member with `peerUrls` (a learner when `isLearner`); the added member and the list after. */
  memberAdd(
    peerUrls: string[],
    isLearner: boolean,
  ): Promise<{ member: ClusterMember; members: ClusterMember[] }> {
    return this.cluster.memberAdd(peerUrls, isLearner);
  }

  /** Removes the member `id` (hex); the list after. */
  memberRemove(id: string): Promise<ClusterMember[]> {
    return this.cluster.memberRemove(id);
  }

  /** Promotes the learner `id` (hex); `LearnerNotReadyError` while it has not caught up. */
  memberPromote(id: string): Promise<ClusterMember[]> {
    return this.cluster.memberPromote(id);
  }

  /** Sets the peer URLs of the member `id` (hex); the list after. */
  memberUpdate(id: string, peerUrls: string[]): Promise<ClusterMember[]> {
    return this.cluster.memberUpdate(id, peerUrls);
  }

  // KV (kv.ts)

  /** etcdctl's health probe: a linearizable read through this member. */
  healthRead(): Promise<void> {
    return this.kv.healthRead();
  }

  /** Writes one key. */
  put(key: string, value: string | Buffer): Promise<{ revision: number }> {
    return this.kv.put(key, value);
  }

  /** Deletes one key, or every key under `key` with `prefix`. */
  delete(key: string, options: { prefix?: boolean } = {}): Promise<{ deleted: number; revision: number }> {
    return this.kv.delete(key, options);
  }

  /** Reads one key, or every key under `key` with `prefix`. */
  get(key: string, options: { prefix?: boolean; revision?: number } = {}): Promise<KeyValue[]> {
    return this.kv.get(key, options);
  }

  /** How many keys exist at `revision` (0: now). */
  countKeys(revision = 0): Promise<{ count: number; revision: number }> {
    return this.kv.countKeys(revision);
  }

  /** How many keys were created or changed after `revision`. */
  countChangedSince(revision: number): Promise<number> {
    return this.kv.countChangedSince(revision);
  }

  /** Every key (or every key under `prefix`) in key order, at one revision. */
  scan(options: { prefix?: string; pageSize?: number; keysOnly?: boolean } = {}): AsyncGenerator<KeyValue> {
    return this.kv.scan(options);
  }

  /** One transaction: `ops` as one revision if every `compare` holds. */
  txn(
    compare: readonly TxnCompare[],
    ops: readonly TxnOp[],
  ): Promise<{ succeeded: boolean; revision: number }> {
    return this.kv.txn(compare, ops);
  }

  /** Compacts up to `revision` (`physical`: wait until this member has removed them). */
  compact(revision: number, physical: boolean, timeoutMs: number): Promise<void> {
    return this.kv.compact(revision, physical, timeoutMs);
  }

  // Lease (lease.ts)

  /**
   * Creates `key` = `value` attached to a new lease of `ttlSeconds`, only if `key` does not exist;
   * returns the lease id, or undefined when the key is already there (held by someone else).
   */
  async createWithLease(key: string, value: string, ttlSeconds: number): Promise<string | undefined> {
    const lease = await this.lease.grant(ttlSeconds);
    if (await this.kv.putIfAbsent(Buffer.from(key), Buffer.from(value), lease)) return lease;
    await this.lease.revoke(lease);
    return undefined;
  }

  /** Grants a lease of `ttlSeconds` (with the id `id` when given); returns its id. */
  grantLease(ttlSeconds: number, id?: string): Promise<string> {
    return this.lease.grant(ttlSeconds, id);
  }

  /** Revokes a lease; an unknown lease is not an error. */
  revokeLease(id: string): Promise<void> {
    return this.lease.revoke(id);
  }

  /** A lease's granted and remaining TTL in seconds (-1: gone). */
  leaseTimeToLive(id: string): Promise<{ granted: number; remaining: number }> {
    return this.lease.timeToLive(id);
  }

  /** Every lease id the cluster holds. */
  leaseIds(): Promise<string[]> {
    return this.lease.ids();
  }

  /** Keeps a lease alive until `stop()`; `onLost` once if it expires or the stream fails. */
  keepAlive(id: string, everyMs: number, onLost: (reason: string) => void): { stop: () => void } {
    return this.lease.keepAlive(id, everyMs, onLost);
  }

  // Watch and Auth (watch.ts, auth.ts)

  /** A watch on the whole keyspace from `startRevision` (see WatchService.watchAll). */
  watchAll(
    startRevision: number,
    handlers: { onResponse: (response: WatchResponse) => void; onEnd: (error: Error | undefined) => void },
  ): WatchHandle {
    return this.watch.watchAll(startRevision, handlers);
  }

  /** Turns authentication on with a root user of `password`. */
  enableAuthWithRoot(password: string): Promise<void> {
    return this.auth.enableWithRoot(password);
  }

  /** Closes the channel: every call and stream on it ends. */
  close(): void {
    this.channel.close();
  }
}
