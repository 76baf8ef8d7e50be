/**
 * A client bound to exactly one etcd member. Every call names that member, carries a deadline and
 * is never retried on another member; the only retry is a fresh auth token on the same member.
 * This is the one door to etcd: the engine never touches gRPC itself.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import {
  Metadata,
  credentials,
  type Client,
  type ChannelCredentials,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { InputError } from '../errors.js';
import { type Endpoint } from './endpoint.js';
import { MemberRequestError, toMemberError } from './errors.js';
import { etcdServices } from './proto.js';

/** How to reach and authenticate to members (etcdctl's global flags). */
export interface ConnectionOptions {
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly insecureSkipTlsVerify?: boolean | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  /** How long to wait for a connection before a call fails (etcdctl --dial-timeout, 2 s). */
  readonly dialTimeoutMs: number;
  /** How long one call may take once connected (etcdctl --command-timeout, 5 s). */
  readonly commandTimeoutMs: number;
}

/** What Maintenance.Status reports, with 64-bit ids as hex strings and sizes as numbers. */
export interface MemberStatus {
  readonly clusterId: string;
  readonly memberId: string;
  readonly leaderId: string;
  readonly version: string;
  /** etcd 3.6+; undefined on older members. */
  readonly storageVersion: string | undefined;
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  /** The member's --quota-backend-bytes (etcd 3.6+); undefined when the member does not say. */
  readonly dbSizeQuota: number | undefined;
  readonly raftTerm: number;
  readonly raftIndex: number;
  readonly raftAppliedIndex: number;
  readonly isLearner: boolean;
  readonly errors: readonly string[];
}

/** etcd's alarm name: `NOSPACE`, `CORRUPT`, or one a newer etcd adds. */
export type AlarmKind = string;

export interface ActiveAlarm {
  readonly memberId: string;
  readonly alarm: AlarmKind;
}

export interface ClusterMember {
  readonly id: string;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

export interface KeyValue {
  /** The key as UTF-8 text (lossy for keys that are not UTF-8; `rawKey` has the bytes). */
  readonly key: string;
  readonly rawKey: Buffer;
  readonly value: Buffer;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: string;
}

/** One condition of a `txn`: the key's mod revision or version equals `value`. */
export interface TxnCompare {
  readonly key: Buffer;
  readonly target: 'MOD' | 'VERSION';
  readonly value: number;
}

/** One operation of a `txn`. `lease` is a decimal lease id, '0' for none. */
export type TxnOp =
  | { readonly type: 'put'; readonly key: Buffer; readonly value: Buffer; readonly lease: string }
  | { readonly type: 'delete'; readonly key: Buffer };

/** One change a watch reports: a put (with the key's new state) or a delete. */
export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly key: Buffer;
  readonly value: Buffer;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** Decimal lease id, '0' for none. */
  readonly lease: string;
}

/** One watch response: events (maybe none: created, progress, canceled) and the cluster's revision. */
export interface WatchResponse {
  /** The cluster's revision when etcd sent this response. */
  readonly revision: number;
  readonly created: boolean;
  readonly canceled: boolean;
  /** Set when the start revision was compacted away: the oldest revision still available. */
  readonly compactRevision: number;
  readonly cancelReason: string;
  readonly events: readonly WatchEvent[];
}

type Callback<T> = (error: ServiceError | null, response: T) => void;
type UnaryMethod = (
  request: object,
  metadata: Metadata,
  options: { deadline: number },
  callback: Callback<unknown>,
) => void;

/** Hex form of a uint64 that arrived as a decimal string, as etcdctl prints member ids. */
export function hexId(decimal: string | undefined): string {
  return BigInt(decimal ?? '0').toString(16);
}

/** Decimal form of a hex member id (as `hexId` gives them), the way uint64 fields are sent. */
export function decimalId(hex: string): string {
  return BigInt(`0x${hex}`).toString(10);
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new InputError(
      `${flag} ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      {
        hint: `point ${flag} at a PEM file that exists and is readable`,
      },
    );
  }
}

/** Builds gRPC channel credentials, checking each TLS file so a wrong file is named before any call. */
export function channelCredentials(endpoint: Endpoint, options: ConnectionOptions): ChannelCredentials {
  const wantsTls =
    endpoint.secure ?? Boolean(options.caFile || options.certFile || options.insecureSkipTlsVerify);
  if (!wantsTls) return credentials.createInsecure();
  if (Boolean(options.certFile) !== Boolean(options.keyFile)) {
    throw new InputError('a client certificate needs both --cert and --key', {
      hint: 'pass both, or neither',
    });
  }
  const ca = options.caFile ? readPem(options.caFile, '--cacert') : null;
  if (ca) parseCertificate(ca, options.caFile as string, '--cacert');
  let cert: Buffer | null = null;
  let key: Buffer | null = null;
  if (options.certFile && options.keyFile) {
    cert = readPem(options.certFile, '--cert');
    key = readPem(options.keyFile, '--key');
    const certificate = parseCertificate(cert, options.certFile, '--cert');
    let privateKey;
    try {
      privateKey = createPrivateKey(key);
    } catch {
      throw new InputError(`--key ${options.keyFile}: not a PEM private key`, {
        hint: 'pass the private key that belongs to --cert',
      });
    }
    if (!certificate.checkPrivateKey(privateKey)) {
      throw new InputError(`--key ${options.keyFile} does not belong to --cert ${options.certFile}`, {
        hint: 'pass the key that was generated with that certificate',
      });
    }
  }
  const skipVerify = options.insecureSkipTlsVerify === true;
  return credentials.createSsl(
    ca,
    key,
    cert,
    skipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {},
  );
}

function parseCertificate(pem: Buffer, file: string, flag: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new InputError(`${flag} ${file}: not a PEM certificate`, {
      hint: `point ${flag} at a PEM-encoded X.509 certificate`,
    });
  }
}

/** One member, one channel; close() when done. */
export class MemberClient {
  readonly endpoint: Endpoint;
  private readonly options: ConnectionOptions;
  private readonly kv: Client;
  private readonly maintenance: Client;
  private readonly cluster: Client;
  private readonly auth: Client;
  private readonly lease: Client;
  private readonly watcher: Client;
  private token: string | undefined;

  constructor(endpoint: Endpoint, options: ConnectionOptions) {
    this.endpoint = endpoint;
    this.options = options;
    const services = etcdServices();
    const creds = channelCredentials(endpoint, options);
    const channelOptions = {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      'grpc.enable_retries': 0,
      // HTTP/2 flow control: the 64 KiB default window caps a snapshot stream far below what
      // loopback or a LAN carries; 8 MiB lets etcd keep sending while we process a chunk.
      'grpc-node.flow_control_window': 8 << 20,
    };
    this.kv = new services.KV(endpoint.address, creds, channelOptions);
    this.maintenance = new services.Maintenance(endpoint.address, creds, channelOptions);
    this.cluster = new services.Cluster(endpoint.address, creds, channelOptions);
    this.auth = new services.Auth(endpoint.address, creds, channelOptions);
    this.lease = new services.Lease(endpoint.address, creds, channelOptions);
    this.watcher = new services.Watch(endpoint.address, creds, channelOptions);
  }

  /** Maintenance.Status of this member. */
  async status(): Promise<MemberStatus> {
    const r = await this.call<StatusWire>(this.maintenance, 'status', {});
    const quota = Number(r.dbSizeQuota ?? 0);
    return {
      clusterId: hexId(r.header?.clusterId),
      memberId: hexId(r.header?.memberId),
      leaderId: hexId(r.leader),
      version: r.version,
      storageVersion: r.storageVersion || undefined,
      dbSize: Number(r.dbSize),
      dbSizeInUse: Number(r.dbSizeInUse),
      dbSizeQuota: quota > 0 ? quota : undefined,
      raftTerm: Number(r.raftTerm),
      raftIndex: Number(r.raftIndex),
      raftAppliedIndex: Number(r.raftAppliedIndex),
      isLearner: r.isLearner,
      errors: r.errors ?? [],
    };
  }

  /** The cluster's active alarms, as this member knows them. */
  async alarms(): Promise<ActiveAlarm[]> {
    const r = await this.call<{ alarms: { memberID: string; alarm: string }[] }>(this.maintenance, 'alarm', {
      action: 'GET',
    });
    return r.alarms.map((a) => ({ memberId: hexId(a.memberID), alarm: a.alarm }));
  }

  /**
   * etcdctl's health probe: a linearizable read of the key `health` through this member. A
   * permission error still proves the member serves consensus reads, as etcdctl counts it.
   */
  async healthRead(): Promise<void> {
    try {
      await this.call(this.kv, 'range', { key: Buffer.from('health'), countOnly: true });
    } catch (error) {
      if (error instanceof Error && /permission denied/i.test(error.message)) return;
      throw error;
    }
  }

  /** Cluster.MemberList as this member sees it. */
  async memberList(): Promise<ClusterMember[]> {
    const r = await this.call<{ members: MemberWire[] }>(this.cluster, 'memberList', { linearizable: false });
    return r.members.map(toClusterMember);
  }

  /**
   * Cluster.MemberAdd: a member with `peerUrls`, as a learner when `isLearner`. The new member has
   * no name and no client URLs until it starts. Returns it and the member list after the change.
   */
  async memberAdd(
    peerUrls: string[],
    isLearner: boolean,
  ): Promise<{ member: ClusterMember; members: ClusterMember[] }> {
    const r = await this.call<{ member: MemberWire; members: MemberWire[] }>(this.cluster, 'memberAdd', {
      peerURLs: peerUrls,
      isLearner,
    });
    return { member: toClusterMember(r.member), members: r.members.map(toClusterMember) };
  }

  /** Cluster.MemberRemove of the member `id` (hex); returns the member list after the change. */
  async memberRemove(id: string): Promise<ClusterMember[]> {
    const r = await this.call<{ members: MemberWire[] }>(this.cluster, 'memberRemove', { ID: decimalId(id) });
    return r.members.map(toClusterMember);
  }

  /** Cluster.MemberPromote: the learner `id` (hex) becomes a voting member; etcd refuses one not in sync. */
  async memberPromote(id: string): Promise<ClusterMember[]> {
    const r = await this.call<{ members: MemberWire[] }>(this.cluster, 'memberPromote', {
      ID: decimalId(id),
    });
    return r.members.map(toClusterMember);
  }

  /** Cluster.MemberUpdate: new peer URLs for the member `id` (hex); returns the member list after it. */
  async memberUpdate(id: string, peerUrls: string[]): Promise<ClusterMember[]> {
    const r = await this.call<{ members: MemberWire[] }>(this.cluster, 'memberUpdate', {
      ID: decimalId(id),
      peerURLs: peerUrls,
    });
    return r.members.map(toClusterMember);
  }

  /** Writes one key. */
  async put(key: string, value: string | Buffer): Promise<{ revision: number }> {
    const r = await this.call<{ header: { revision: string } }>(this.kv, 'put', {
      key: Buffer.from(key),
      value: Buffer.from(value),
    });
    return { revision: Number(r.header.revision) };
  }

  /** Deletes one key, or every key starting with `key` when `prefix` is set; returns how many went. */
  async delete(
    key: string,
    options: { prefix?: boolean } = {},
  ): Promise<{ deleted: number; revision: number }> {
    const keyBytes = Buffer.from(key);
    const request: Record<string, unknown> = { key: keyBytes };
    if (options.prefix) request['rangeEnd'] = prefixEnd(keyBytes);
    const r = await this.call<{ deleted: string; header: { revision: string } }>(
      this.kv,
      'deleteRange',
      request,
    );
    return { deleted: Number(r.deleted), revision: Number(r.header.revision) };
  }

  /** Reads one key, or every key starting with `key` when `prefix` is set. */
  async get(key: string, options: { prefix?: boolean; revision?: number } = {}): Promise<KeyValue[]> {
    const keyBytes = Buffer.from(key);
    const request: Record<string, unknown> = { key: keyBytes, revision: options.revision ?? 0 };
    if (options.prefix) request['rangeEnd'] = prefixEnd(keyBytes);
    const r = await this.call<{ kvs: KeyValueWire[] }>(this.kv, 'range', request);
    return r.kvs.map(toKeyValue);
  }

  /** How many keys exist at `revision` (0: now), without reading them. */
  async countKeys(revision = 0): Promise<{ count: number; revision: number }> {
    const r = await this.call<{ count: string; header: { revision: string } }>(this.kv, 'range', {
      key: Buffer.from([0]),
      rangeEnd: Buffer.from([0]),
      countOnly: true,
      revision,
    });
    return { count: Number(r.count), revision: Number(r.header.revision) };
  }

  /**
   * How many keys were created or changed after `revision` (their mod revision is higher).
   * etcd applies the mod-revision filter only to returned keys (not to count_only, nor before a
   * limit), so this reads the matching keys — keys only — and counts them.
   */
  async countChangedSince(revision: number): Promise<number> {
    const r = await this.call<{ kvs: unknown[] }>(this.kv, 'range', {
      key: Buffer.from([0]),
      rangeEnd: Buffer.from([0]),
      keysOnly: true,
      minModRevision: revision + 1,
    });
    return r.kvs.length;
  }

  /**
   * Every key (or every key under `prefix`) in key order, read in pages of `pageSize` at one
   * revision (the first page's), so the view is consistent however long the walk takes.
   */
  async *scan(
    options: { prefix?: string; pageSize?: number; keysOnly?: boolean } = {},
  ): AsyncGenerator<KeyValue> {
    const pageSize = options.pageSize ?? 5000;
    const prefix = options.prefix ? Buffer.from(options.prefix) : undefined;
    const end = prefix ? prefixEnd(prefix) : Buffer.from([0]);
    let from = prefix ?? Buffer.from([0]);
    let revision = 0;
    for (;;) {
      const r = await this.call<{ kvs: KeyValueWire[]; more: boolean; header: { revision: string } }>(
        this.kv,
        'range',
        {
          key: from,
          rangeEnd: end,
          limit: pageSize,
          revision,
          keysOnly: options.keysOnly ?? false,
        },
      );
      revision = Number(r.header.revision);
      for (const kv of r.kvs) yield toKeyValue(kv);
      const last = r.kvs.at(-1);
      if (!r.more || !last) return;
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  /** Maintenance.HashKV: a hash of the key bucket up to `revision` (0: now). */
  async hashKv(
    revision = 0,
  ): Promise<{ hash: number; compactRevision: number; hashRevision: number; revision: number }> {
    const r = await this.call<{
      hash: number;
      compactRevision: string;
      hashRevision: string;
      header: { revision: string };
    }>(this.maintenance, 'HashKV', { revision });
    return {
      hash: r.hash,
      compactRevision: Number(r.compactRevision),
      hashRevision: Number(r.hashRevision),
      revision: Number(r.header.revision),
    };
  }

  /**
   * Creates `key` = `value` attached to a new lease of `ttlSeconds`, only if `key` does not exist;
   * returns the lease id, or undefined when the key is already there (held by someone else).
   */
  async createWithLease(key: string, value: string, ttlSeconds: number): Promise<string | undefined> {
    const grant = await this.call<{ ID: string }>(this.lease, 'leaseGrant', { TTL: ttlSeconds });
    const keyBytes = Buffer.from(key);
    const r = await this.call<{ succeeded: boolean }>(this.kv, 'txn', {
      compare: [{ result: 'EQUAL', target: 'CREATE', key: keyBytes, createRevision: 0 }],
      success: [{ requestPut: { key: keyBytes, value: Buffer.from(value), lease: grant.ID } }],
      failure: [],
    });
    if (r.succeeded) return grant.ID;
    await this.revokeLease(grant.ID);
    return undefined;
  }

  /**
   * Grants a lease of `ttlSeconds` with no key attached; returns its id (revoke it with
   * `revokeLease`). `id` asks for that lease id (point-in-time replay re-creates leases by id).
   */
  async grantLease(ttlSeconds: number, id?: string): Promise<string> {
    const r = await this.call<{ ID: string }>(this.lease, 'leaseGrant', { TTL: ttlSeconds, ID: id ?? '0' });
    return r.ID;
  }

  /** A lease's granted and remaining TTL in seconds; `remaining` is -1 when the lease is gone. */
  async leaseTimeToLive(id: string): Promise<{ granted: number; remaining: number }> {
    const r = await this.call<{ TTL: string; grantedTTL: string }>(this.lease, 'leaseTimeToLive', {
      ID: id,
      keys: false,
    });
    return { granted: Number(r.grantedTTL), remaining: Number(r.TTL) };
  }

  /** Every lease id the cluster holds (LeaseLeases, etcd 3.3+). */
  async leaseIds(): Promise<string[]> {
    const r = await this.call<{ leases: { ID: string }[] }>(this.lease, 'leaseLeases', {});
    return r.leases.map((l) => l.ID);
  }

  /**
   * One KV.Txn: if every `compare` holds, apply `ops` (puts with their lease, single-key
   * deletes) as one revision. Returns whether it applied and the revision after it.
   */
  async txn(
    compare: readonly TxnCompare[],
    ops: readonly TxnOp[],
  ): Promise<{ succeeded: boolean; revision: number }> {
    const r = await this.call<{ succeeded: boolean; header: { revision: string } }>(this.kv, 'txn', {
      compare: compare.map((c) =>
        c.target === 'MOD'
          ? { result: 'EQUAL', target: 'MOD', key: c.key, modRevision: c.value }
          : { result: 'EQUAL', target: 'VERSION', key: c.key, version: c.value },
      ),
      success: ops.map((op) =>
        op.type === 'put'
          ? { requestPut: { key: op.key, value: op.value, lease: op.lease } }
          : { requestDeleteRange: { key: op.key } },
      ),
      failure: [],
    });
    return { succeeded: r.succeeded, revision: Number(r.header.revision) };
  }

  /**
   * A watch on the whole keyspace from `startRevision`, on this member only. Every response is
   * handed to `onResponse` in order (events of one revision always arrive together); `onEnd` is
   * called once when the stream fails or ends, with the reason. `requestProgress()` asks etcd for
   * the current revision (a response with no events); `cancel()` ends the watch.
   */
  watchAll(
    startRevision: number,
    handlers: { onResponse: (response: WatchResponse) => void; onEnd: (error: Error | undefined) => void },
  ): { requestProgress: () => void; cancel: () => void } {
    let ended = false;
    let call: WatchCall | undefined;
    const end = (error: Error | undefined) => {
      if (ended) return;
      ended = true;
      call?.cancel();
      handlers.onEnd(error);
    };
    const open = async () => {
      if (this.options.user && this.token === undefined) await this.authenticate();
      if (ended) return;
      const metadata = new Metadata();
      if (this.token) metadata.set('token', this.token);
      const fn = (this.watcher as unknown as Record<string, (m: Metadata) => WatchCall>)['watch'];
      call = (fn as (m: Metadata) => WatchCall).call(this.watcher, metadata);
      call.on('data', (r: WatchResponseWire) => {
        if (ended) return;
        handlers.onResponse({
          revision: Number(r.header?.revision ?? 0),
          created: r.created,
          canceled: r.canceled,
          compactRevision: Number(r.compactRevision ?? 0),
          cancelReason: r.cancelReason ?? '',
          events: (r.events ?? []).map((e) => ({
            type: e.type === 'DELETE' ? 'delete' : 'put',
            key: e.kv.key,
            value: e.kv.value,
            createRevision: Number(e.kv.createRevision),
            modRevision: Number(e.kv.modRevision),
            version: Number(e.kv.version),
            lease: e.kv.lease,
          })),
        });
      });
      call.on('error', (error: Error) =>
        end(toMemberError(this.endpoint.display, 'Watch', error, this.options.commandTimeoutMs)),
      );
      call.on('end', () => end(new Error(`${this.endpoint.display}: the watch stream ended`)));
      call.write({
        createRequest: {
          key: Buffer.from([0]),
          rangeEnd: Buffer.from([0]),
          startRevision,
          progressNotify: true,
        },
      });
    };
    open().catch((error: unknown) => end(error instanceof Error ? error : new Error(String(error))));
    return {
      requestProgress: () => {
        if (!ended) call?.write({ progressRequest: {} });
      },
      cancel: () => end(undefined),
    };
  }

  /** Revokes a lease (its keys go with it); an unknown lease is not an error. */
  async revokeLease(id: string): Promise<void> {
    try {
      await this.call(this.lease, 'leaseRevoke', { ID: id });
    } catch (error) {
      if (!(error instanceof Error && /lease not found/i.test(error.message))) throw error;
    }
  }

  /**
   * Keeps a lease alive until `stop()`: one keep-alive stream, a refresh every `everyMs`.
   * `onLost` is called once if the lease expires or the stream fails.
   */
  keepAlive(id: string, everyMs: number, onLost: (reason: string) => void): { stop: () => void } {
    const metadata = new Metadata();
    if (this.token) metadata.set('token', this.token);
    const open = (this.lease as unknown as Record<string, (m: Metadata) => DuplexCall>)['leaseKeepAlive'];
    const call = (open as (m: Metadata) => DuplexCall).call(this.lease, metadata);
    let stopped = false;
    const lost = (reason: string) => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      call.cancel();
      onLost(reason);
    };
    call.on('data', (r: { TTL: string }) => {
      if (Number(r.TTL) <= 0) lost('the lease expired');
    });
    call.on('error', (error: Error) => lost(error.message));
    const timer = setInterval(() => call.write({ ID: id }), everyMs);
    call.write({ ID: id });
    return {
      stop: () => {
        if (stopped) return;
        stopped = true;
        clearInterval(timer);
        call.cancel();
      },
    };
  }

  /**
   * Maintenance.Snapshot as a byte stream, exactly as etcd sends it (the bolt file, then etcd's
   * 32-byte SHA-256 trailer). No overall deadline — a large snapshot takes minutes — but the
   * first bytes must come within the dial + command timeout and then no gap may exceed
   * `idleTimeoutMs`. `version` resolves to the storage version etcd 3.6+ reports (else undefined).
   */
  async snapshot(idleTimeoutMs = 30_000): Promise<{ bytes: Readable; version: Promise<string | undefined> }> {
    if (this.options.user && this.token === undefined) await this.authenticate();
    const metadata = new Metadata();
    if (this.token) metadata.set('token', this.token);
    const open = (
      this.maintenance as unknown as Record<
        string,
        (r: object, m: Metadata) => ClientReadableStream<SnapshotWire>
      >
    )['snapshot'];
    const call = (open as (r: object, m: Metadata) => ClientReadableStream<SnapshotWire>).call(
      this.maintenance,
      {},
      metadata,
    );
    const endpoint = this.endpoint.display;
    const firstWithinMs = this.options.dialTimeoutMs + this.options.commandTimeoutMs;
    let resolveVersion: (v: string | undefined) => void = () => undefined;
    const version = new Promise<string | undefined>((resolve) => (resolveVersion = resolve));
    async function* chunks(): AsyncGenerator<Buffer> {
      let timer: NodeJS.Timeout | undefined;
      let timedOut: string | undefined;
      const arm = (ms: number, what: string) => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          timedOut = what;
          call.cancel();
        }, ms);
      };
      arm(firstWithinMs, `no snapshot data within ${firstWithinMs} ms`);
      try {
        for await (const message of call as AsyncIterable<SnapshotWire>) {
          resolveVersion(message.version || undefined);
          arm(idleTimeoutMs, `the snapshot stream stalled for ${idleTimeoutMs} ms`);
          if (message.blob.length > 0) yield message.blob;
        }
      } catch (error) {
        if (timedOut)
          throw new MemberRequestError(endpoint, 'Snapshot', timedOut, undefined, { cause: error });
        throw toMemberError(endpoint, 'Snapshot', error, firstWithinMs);
      } finally {
        clearTimeout(timer);
        resolveVersion(undefined);
        call.cancel();
      }
    }
    return { bytes: Readable.from(chunks(), { objectMode: false, highWaterMark: 1 << 20 }), version };
  }

  /** Turns authentication on: adds the root user (with the root role) and enables auth. */
  async enableAuthWithRoot(password: string): Promise<void> {
    await this.call(this.auth, 'userAdd', { name: 'root', password });
    await this.call(this.auth, 'userGrantRole', { user: 'root', role: 'root' });
    await this.call(this.auth, 'authEnable', {});
  }

  /**
   * Maintenance.Defragment of this member: etcd rewrites its bolt file and blocks the member's
   * reads and writes meanwhile. The deadline is the caller's, sized to the database (a multi-GiB
   * file takes minutes), never the command timeout.
   */
  async defragment(timeoutMs: number): Promise<void> {
    await this.callWithin(this.maintenance, 'defragment', {}, timeoutMs);
  }

  /**
   * Maintenance.MoveLeader, sent to this member (it must be the leader): hands leadership to the
   * voting member `targetId` (hex, as `status()` reports ids). Resolves once etcd reports the transfer done.
   */
  async moveLeader(targetId: string, timeoutMs: number): Promise<void> {
    await this.callWithin(this.maintenance, 'moveLeader', { targetID: decimalId(targetId) }, timeoutMs);
  }

  /**
   * KV.Compact up to `revision`. With `physical`, the call returns once this member has removed
   * the compacted revisions from its bolt file (the others do it on their own, a little later).
   */
  async compact(revision: number, physical: boolean, timeoutMs: number): Promise<void> {
    await this.callWithin(this.kv, 'compact', { revision, physical }, timeoutMs);
  }

  /** Maintenance.Alarm ACTIVATE: raises `alarm` (`NOSPACE`, `CORRUPT`) for the member `memberId` (hex). */
  async activateAlarm(memberId: string, alarm: AlarmKind): Promise<void> {
    await this.call(this.maintenance, 'alarm', { action: 'ACTIVATE', memberID: decimalId(memberId), alarm });
  }

  /** Maintenance.Alarm DEACTIVATE: disarms `alarm` of the member `memberId` (hex). */
  async deactivateAlarm(memberId: string, alarm: AlarmKind): Promise<void> {
    await this.call(this.maintenance, 'alarm', {
      action: 'DEACTIVATE',
      memberID: decimalId(memberId),
      alarm,
    });
  }

  close(): void {
    for (const client of [this.kv, this.maintenance, this.cluster, this.auth, this.lease, this.watcher])
      client.close();
  }

  private async call<T>(client: Client, method: string, request: object): Promise<T> {
    if (this.options.user && this.token === undefined) await this.authenticate();
    try {
      return await this.invoke<T>(client, method, request);
    } catch (error) {
      // A simple-token expires after a few idle minutes: get a fresh one from the same member, once.
      if (this.options.user && error instanceof Error && /invalid auth token/i.test(error.message)) {
        await this.authenticate();
        return this.invoke<T>(client, method, request);
      }
      throw error;
    }
  }

  /** `call` with the caller's deadline instead of dial + command timeout (for long maintenance calls). */
  private async callWithin<T>(
    client: Client,
    method: string,
    request: object,
    timeoutMs: number,
  ): Promise<T> {
    if (this.options.user && this.token === undefined) await this.authenticate();
    try {
      return await this.invokeWithin<T>(client, method, request, timeoutMs);
    } catch (error) {
      if (this.options.user && error instanceof Error && /invalid auth token/i.test(error.message)) {
        await this.authenticate();
        return this.invokeWithin<T>(client, method, request, timeoutMs);
      }
      throw error;
    }
  }

  private invokeWithin<T>(client: Client, method: string, request: object, timeoutMs: number): Promise<T> {
    const metadata = new Metadata();
    if (this.token) metadata.set('token', this.token);
    const fn = (client as unknown as Record<string, UnaryMethod>)[method];
    if (typeof fn !== 'function') throw new Error(`etcd client has no method ${method}`);
    return new Promise<T>((resolve, reject) => {
      fn.call(client, request, metadata, { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(toMemberError(this.endpoint.display, methodName(method), error, timeoutMs));
        else resolve(response as T);
      });
    });
  }

  private async authenticate(): Promise<void> {
    const r = await this.invoke<{ token: string }>(
      this.auth,
      'authenticate',
      {
        name: this.options.user,
        password: this.options.password ?? '',
      },
      false,
    );
    this.token = r.token;
  }

  private invoke<T>(client: Client, method: string, request: object, withToken = true): Promise<T> {
    const timeoutMs = this.options.dialTimeoutMs + this.options.commandTimeoutMs;
    const metadata = new Metadata();
    if (withToken && this.token) metadata.set('token', this.token);
    const fn = (client as unknown as Record<string, UnaryMethod>)[method];
    if (typeof fn !== 'function') throw new Error(`etcd client has no method ${method}`);
    return new Promise<T>((resolve, reject) => {
      fn.call(client, request, metadata, { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(toMemberError(this.endpoint.display, methodName(method), error, timeoutMs));
        else resolve(response as T);
      });
    });
  }
}

/** The end of the range of keys that start with `prefix` (etcd's prefix convention). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i -= 1) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function toKeyValue(kv: KeyValueWire): KeyValue {
  return {
    key: kv.key.toString(),
    rawKey: kv.key,
    value: kv.value,
    createRevision: Number(kv.createRevision),
    modRevision: Number(kv.modRevision),
    version: Number(kv.version),
    lease: kv.lease,
  };
}

function toClusterMember(m: MemberWire): ClusterMember {
  return {
    id: hexId(m.ID),
    name: m.name,
    peerUrls: m.peerURLs,
    clientUrls: m.clientURLs,
    isLearner: m.isLearner,
  };
}

function methodName(method: string): string {
  return method.charAt(0).toUpperCase() + method.slice(1);
}

interface StatusWire {
  header?: { clusterId: string; memberId: string };
  version: string;
  dbSize: string;
  leader: string;
  raftIndex: string;
  raftTerm: string;
  raftAppliedIndex: string;
  errors?: string[];
  dbSizeInUse: string;
  isLearner: boolean;
  storageVersion?: string;
  dbSizeQuota?: string;
}

interface SnapshotWire {
  remainingBytes: string;
  blob: Buffer;
  version: string;
}

interface DuplexCall {
  write(message: object): boolean;
  cancel(): void;
  on(event: 'data', listener: (message: { TTL: string }) => void): DuplexCall;
  on(event: 'error', listener: (error: Error) => void): DuplexCall;
}

interface WatchCall {
  write(message: object): boolean;
  cancel(): void;
  on(event: 'data', listener: (message: WatchResponseWire) => void): WatchCall;
  on(event: 'error', listener: (error: Error) => void): WatchCall;
  on(event: 'end', listener: () => void): WatchCall;
}

interface WatchResponseWire {
  header?: { revision: string };
  created: boolean;
  canceled: boolean;
  compactRevision?: string;
  cancelReason?: string;
  events?: { type: string; kv: KeyValueWire }[];
}

interface MemberWire {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

interface KeyValueWire {
  key: Buffer;
  value: Buffer;
  createRevision: string;
  modRevision: string;
  version: string;
  lease: string;
}
