/**
 * etcd's Maintenance service on one member: status, alarms, hash, snapshot stream, defragment,
 * leadership transfer. Each call names this member and is never sent to another.
 */
import { Readable } from 'node:stream';
import type { ClientReadableStream, Metadata } from '@grpc/grpc-js';
import type { MemberChannel } from './channel.js';
import { MemberRequestError, toMemberError } from './errors.js';
import { decimalId, hexId } from './ids.js';

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

/** An alarm raised for one member (hex id). */
export interface ActiveAlarm {
  readonly memberId: string;
  readonly alarm: AlarmKind;
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

/** Maintenance calls on one member. */
export class MaintenanceService {
  constructor(private readonly channel: MemberChannel) {}

  /** Maintenance.Status of this member. */
  async status(): Promise<MemberStatus> {
    const r = await this.channel.unary<StatusWire>('Maintenance', 'status', {});
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
    const r = await this.channel.unary<{ alarms: { memberID: string; alarm: string }[] }>(
      'Maintenance',
      'alarm',
      {
        action: 'GET',
      },
    );
    return r.alarms.map((a) => ({ memberId: hexId(a.memberID), alarm: a.alarm }));
  }

  /** Maintenance.Alarm ACTIVATE: raises `alarm` (`NOSPACE`, `CORRUPT`) for the member `memberId` (hex). */
  async activateAlarm(memberId: string, alarm: AlarmKind): Promise<void> {
    await this.channel.unary('Maintenance', 'alarm', {
      action: 'ACTIVATE',
      memberID: decimalId(memberId),
      alarm,
    });
  }

  /** Maintenance.Alarm DEACTIVATE: disarms `alarm` of the member `memberId` (hex). */
  async deactivateAlarm(memberId: string, alarm: AlarmKind): Promise<void> {
    await this.channel.unary('Maintenance', 'alarm', {
      action: 'DEACTIVATE',
      memberID: decimalId(memberId),
      alarm,
    });
  }

  /** Maintenance.HashKV: a hash of the key bucket up to `revision` (0: now). */
  async hashKv(
    revision = 0,
  ): Promise<{ hash: number; compactRevision: number; hashRevision: number; revision: number }> {
    const r = await this.channel.unary<{
      hash: number;
      compactRevision: string;
      hashRevision: string;
      header: { revision: string };
    }>('Maintenance', 'HashKV', { revision });
    return {
      hash: r.hash,
      compactRevision: Number(r.compactRevision),
      hashRevision: Number(r.hashRevision),
      revision: Number(r.header.revision),
    };
  }

  /**
   * Maintenance.Defragment of this member: etcd rewrites its bolt file and blocks the member's
   * reads and writes meanwhile. The deadline is the caller's, sized to the database (a multi-GiB
   * file takes minutes), never the command timeout.
   */
  async defragment(timeoutMs: number): Promise<void> {
    await this.channel.unary('Maintenance', 'defragment', {}, timeoutMs);
  }

  /**
   * Maintenance.MoveLeader, sent to this member (it must be the leader): hands leadership to the
   * voting member `targetId` (hex, as `status()` reports ids). Resolves once etcd reports the transfer done.
   */
  async moveLeader(targetId: string, timeoutMs: number): Promise<void> {
    await this.channel.unary('Maintenance', 'moveLeader', { targetID: decimalId(targetId) }, timeoutMs);
  }

  /**
   * Maintenance.Downgrade (etcd 3.6+; send it to any member, etcd forwards it to the leader):
   * VALIDATE checks that the cluster may go down to `version` (MAJOR.MINOR), ENABLE starts the
   * downgrade (the cluster version drops once every member runs the lower binary), CANCEL ends it.
   * Resolves to the cluster version etcd reports.
   */
  async downgrade(action: 'VALIDATE' | 'ENABLE' | 'CANCEL', version: string): Promise<string> {
    const r = await this.channel.unary<{ version: string }>('Maintenance', 'downgrade', { action, version });
    return r.version;
  }

  /**
   * Maintenance.Snapshot as a byte stream, exactly as etcd sends it (the bolt file, then etcd's
   * 32-byte SHA-256 trailer). No overall deadline — a large snapshot takes minutes — but the
   * first bytes must come within the dial + command timeout and then no gap may exceed
   * `idleTimeoutMs`. `version` resolves to the storage version etcd 3.6+ reports (else undefined).
   */
  async snapshot(idleTimeoutMs = 30_000): Promise<{ bytes: Readable; version: Promise<string | undefined> }> {
    const metadata = await this.channel.streamMetadata();
    const open = this.channel.streamMethod<(r: object, m: Metadata) => ClientReadableStream<SnapshotWire>>(
      'Maintenance',
      'snapshot',
    );
    const call = open({}, metadata);
    const endpoint = this.channel.endpoint.display;
    const firstWithinMs = this.channel.callTimeoutMs;
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
}
