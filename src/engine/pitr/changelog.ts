/**
 * The change log (continuous backup): one watch on the whole keyspace, on one member at a time,
 * from the newest full snapshot's revision + 1 (or where the log left off). Every revision is
 * kept with all its events and the time the watch saw it, and sealed into a segment every
 * `flushIntervalMs` or at `segmentMaxBytes`. A watch that fails moves to another member and
 * resumes from the last revision received + 1. A gap — the revisions it needs were compacted
 * away, e.g. after the agent was down too long — is counted, reported and healed at once by a
 * new full snapshot, from which the log goes on (a new chain).
 */
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions, type WatchResponse } from '../../etcd/member-client.js';
import { describeError } from '../../errors.js';
import type { BackupStorage } from '../../storage/storage.js';
import { readCatalog } from '../backup/catalog.js';
import { createBackup } from '../backup/create.js';
import type { EncryptionSettings } from '../backup/encryption.js';
import type { BackupManifest } from '../backup/manifest.js';
import {
  encodeRevision,
  listSegments,
  writeSegment,
  type LoggedEvent,
  type LoggedRevision,
  type SegmentManifest,
} from './segment.js';

export interface ChangeLogOptions {
  readonly clusterName: string;
  readonly endpoints: readonly string[];
  readonly names?: ReadonlyMap<string, string> | undefined;
  readonly connection: ConnectionOptions;
  readonly storage: BackupStorage;
  /** Seal a segment this often (spec backup.flushInterval, default 1 s). */
  readonly flushIntervalMs: number;
  /** Seal a segment once it holds this many bytes of JSON lines (spec backup.segmentMaxBytes). */
  readonly segmentMaxBytes: number;
  /** For the healing snapshots (as `backup create`). */
  readonly compression: 'gzip' | 'none';
  /** Encrypt segments and healing snapshots to these recipients (spec backup.encryption). */
  readonly encryption?: EncryptionSettings | undefined;
  readonly member?: string | undefined;
  readonly specQuota?: number | undefined;
  /** Structured log lines (the agent's logger). */
  readonly log?: (
    level: 'info' | 'warn' | 'error',
    message: string,
    fields?: Record<string, unknown>,
  ) => void;
  /** Called after every sealed segment (tests, the benchmark). */
  readonly onSegment?: (segment: SegmentManifest) => void;
  /** Called after every healing snapshot. */
  readonly onSnapshot?: (backup: BackupManifest) => void;
}

export interface ChangeLogGap {
  readonly at: string;
  /** The first revision the log could not get. */
  readonly fromRevision: number;
  /** The oldest revision etcd still had (its compaction revision). */
  readonly compactRevision: number;
  /** The healing snapshot's revision, once taken. */
  readonly healedAt: number | null;
}

export interface ChangeLogStats {
  readonly running: boolean;
  /** The member the watch is on. */
  readonly member: string | null;
  /** The cluster's newest revision as last seen (watch responses, progress requests). */
  readonly headRevision: number;
  readonly lastReceivedRevision: number;
  /** The newest revision stored in a sealed segment. */
  readonly lastFlushedRevision: number;
  readonly lastFlushedAt: string | null;
  /** Revisions the storage does not hold yet: head − last flushed. */
  readonly lagRevisions: number;
  /** How long the oldest revision not yet in storage has been waiting (0 when none waits). */
  readonly lagSeconds: number;
  readonly segmentsWritten: number;
  readonly bytesWritten: number;
  readonly gaps: number;
  readonly lastGap: ChangeLogGap | null;
  /** Healing (and first) snapshots this change log took. */
  readonly snapshotsTaken: number;
  readonly lastError: string | null;
}

export interface ChangeLog {
  stats(): ChangeLogStats;
  /** Seals what is pending, ends the watch; resolves once the last segment is stored. */
  stop(): Promise<void>;
}

/** Starts the change log; resolves once it knows where to start (and took a first snapshot if needed). */
export async function startChangeLog(options: ChangeLogOptions): Promise<ChangeLog> {
  const log = new ChangeLogRunner(options);
  await log.start();
  return log;
}

class ChangeLogRunner implements ChangeLog {
  private readonly o: ChangeLogOptions;
  private running = true;
  private memberIndex = 0;
  private client: MemberClient | undefined;
  private watch: { requestProgress: () => void; cancel: () => void } | undefined;
  private pending: LoggedRevision[] = [];
  private pendingBytes = 0;
  private pendingSince: number | null = null;
  private readonly knownLeases = new Set<string>();
  private flushing: Promise<void> | undefined;
  private healing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly s = {
    member: null as string | null,
    headRevision: 0,
    lastReceivedRevision: 0,
    lastFlushedRevision: 0,
    lastFlushedAt: null as string | null,
    segmentsWritten: 0,
    bytesWritten: 0,
    gaps: 0,
    lastGap: null as ChangeLogGap | null,
    snapshotsTaken: 0,
    lastError: null as string | null,
  };

  constructor(options: ChangeLogOptions) {
    this.o = options;
  }

  private say(level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown> = {}) {
    this.o.log?.(level, message, { cluster: this.o.clusterName, ...fields });
  }

  async start(): Promise<void> {
    const segments = await listSegments(this.o.storage);
    const lastLogged = segments.reduce((max, s) => Math.max(max, s.lastRevision), 0);
    const newest = (await readCatalog(this.o.storage)).backups.reduce<BackupManifest | undefined>(
      (best, b) => (best === undefined || b.revision > best.revision ? b : best),
      undefined,
    );
    let from: number;
    if (lastLogged > 0 && (!newest || lastLogged >= newest.revision)) from = lastLogged + 1;
    else if (newest) from = newest.revision + 1;
    else from = (await this.snapshot('the change log needs a full snapshot to start from')) + 1;
    this.s.lastReceivedRevision = from - 1;
    this.s.lastFlushedRevision = from - 1;
    this.s.headRevision = from - 1;
    this.say('info', 'change log starting', { fromRevision: from, segments: segments.length });
    this.timer = setInterval(() => this.tick(), this.o.flushIntervalMs);
    this.connect();
  }

  stats(): ChangeLogStats {
    const now = Date.now();
    return {
      running: this.running,
      ...this.s,
      lagRevisions: Math.max(0, this.s.headRevision - this.s.lastFlushedRevision),
      lagSeconds: this.pendingSince === null ? 0 : Math.max(0, (now - this.pendingSince) / 1000),
    };
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.timer);
    clearTimeout(this.reconnectTimer);
    this.watch?.cancel();
    this.client?.close();
    await this.healing?.catch(() => undefined);
    await this.flushing;
    if (this.pending.length > 0) await this.flush();
    this.say('info', 'change log stopped', { lastFlushedRevision: this.s.lastFlushedRevision });
  }

  /** A full snapshot (first start, or healing a gap); returns its revision. */
  private async snapshot(reason: string): Promise<number> {
    this.say('info', `taking a full snapshot: ${reason}`);
    const manifest = await createBackup({
      clusterName: this.o.clusterName,
      endpoints: this.o.endpoints,
      names: this.o.names,
      connection: this.o.connection,
      storage: this.o.storage,
      compression: this.o.compression,
      encryption: this.o.encryption,
      member: this.o.member,
      specQuota: this.o.specQuota,
    });
    this.s.snapshotsTaken += 1;
    this.o.onSnapshot?.(manifest);
    this.say('info', 'full snapshot taken; a new chain starts', {
      backup: manifest.name,
      revision: manifest.revision,
    });
    return manifest.revision;
  }

  private connect(): void {
    if (!this.running || this.healing) return;
    const endpoint = this.o.endpoints[this.memberIndex % this.o.endpoints.length] as string;
    this.memberIndex += 1;
    const client = new MemberClient(parseEndpoint(endpoint), this.o.connection);
    this.client = client;
    const from = this.s.lastReceivedRevision + 1;
    this.s.member = this.o.names?.get(endpoint) ?? endpoint;
    this.watch = client.watchAll(from, {
      onResponse: (r) => this.onResponse(r),
      onEnd: (error) => {
        client.close();
        if (!this.running || this.healing) return;
        this.s.lastError = error ? describeError(error) : 'the watch ended';
        this.say('warn', 'watch lost; moving to the next member', {
          member: this.s.member,
          error: this.s.lastError,
          resumeAt: this.s.lastReceivedRevision + 1,
        });
        this.s.member = null;
        this.reconnectTimer = setTimeout(() => this.connect(), 500);
      },
    });
  }

  private onResponse(r: WatchResponse): void {
    if (r.revision > this.s.headRevision) this.s.headRevision = r.revision;
    if (r.canceled) {
      if (r.compactRevision > 0) this.gap(r.compactRevision);
      else {
        this.s.lastError = `the watch was canceled: ${r.cancelReason || 'no reason given'}`;
        this.watch?.cancel();
      }
      return;
    }
    if (r.events.length === 0) {
      if (this.pendingSince === null && this.s.headRevision > this.s.lastFlushedRevision)
        this.pendingSince = Date.now();
      return;
    }
    const now = Date.now();
    let current: { r: number; t: number; e: LoggedEvent[] } | undefined;
    const seal = () => {
      if (!current) return;
      this.pending.push(current);
      this.pendingBytes += encodeRevision(current).length;
      this.s.lastReceivedRevision = current.r;
      current = undefined;
    };
    for (const event of r.events) {
      if (event.modRevision <= this.s.lastReceivedRevision) continue; // a resumed watch's repeat
      if (current && current.r !== event.modRevision) seal();
      current ??= { r: event.modRevision, t: now, e: [] };
      const key = event.key.toString('base64');
      if (event.type === 'delete') current.e.push({ k: key, d: 1 });
      else
        current.e.push({
          k: key,
          v: event.value.toString('base64'),
          c: event.createRevision,
          n: event.version,
          ...(event.lease !== '0' ? { l: event.lease } : {}),
        });
    }
    seal();
    if (this.pendingSince === null && this.pending.length > 0) this.pendingSince = now;
    if (this.pendingBytes >= this.o.segmentMaxBytes) this.tick();
  }

  /** The revisions the watch needs are compacted away: count it, seal what we have, heal. */
  private gap(compactRevision: number): void {
    if (this.healing) return;
    const gap: ChangeLogGap = {
      at: new Date().toISOString(),
      fromRevision: this.s.lastReceivedRevision + 1,
      compactRevision,
      healedAt: null,
    };
    this.s.gaps += 1;
    this.s.lastGap = gap;
    this.say('error', 'change-log gap: the revisions the watch needs were compacted away; healing', {
      ...gap,
    });
    this.watch?.cancel();
    this.healing = (async () => {
      for (;;) {
        try {
          await this.flushing;
          if (this.pending.length > 0) await this.flush();
          const revision = await this.snapshot(
            `revisions ${gap.fromRevision}..${compactRevision - 1} are compacted`,
          );
          this.s.lastGap = { ...gap, healedAt: revision };
          this.s.lastReceivedRevision = revision;
          this.s.lastFlushedRevision = revision;
          this.pendingSince = null;
          return;
        } catch (error) {
          this.s.lastError = `healing snapshot failed: ${describeError(error)}`;
          this.say('error', this.s.lastError);
          if (!this.running) return;
          await new Promise((resolve) => setTimeout(resolve, Math.max(1000, this.o.flushIntervalMs)));
        }
      }
    })().finally(() => {
      this.healing = undefined;
      this.connect();
    });
  }

  private tick(): void {
    this.watch?.requestProgress();
    if (this.flushing || this.pending.length === 0) return;
    this.flushing = this.flush().finally(() => (this.flushing = undefined));
  }

  /** Seals the pending revisions into one segment (split at the size limit); on failure they stay pending. */
  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      let bytes = 0;
      let count = 0;
      for (const r of this.pending) {
        bytes += encodeRevision(r).length;
        count += 1;
        if (bytes >= this.o.segmentMaxBytes) break;
      }
      const batch = this.pending.slice(0, count);
      const leases = await this.newLeases(batch);
      try {
        const written = await writeSegment(this.o.storage, this.o.clusterName, batch, leases, {
          encryption: this.o.encryption,
        });
        this.pending = this.pending.slice(count);
        this.pendingBytes = Math.max(0, this.pendingBytes - bytes);
        for (const id of Object.keys(leases)) this.knownLeases.add(id);
        this.s.lastFlushedRevision = written.lastRevision;
        this.s.lastFlushedAt = new Date().toISOString();
        this.s.segmentsWritten += 1;
        this.s.bytesWritten += written.storedSize;
        this.pendingSince = this.pending[0]?.t ?? null;
        this.o.onSegment?.(written);
      } catch (error) {
        this.s.lastError = `writing a change-log segment failed: ${describeError(error)}`;
        this.say('error', this.s.lastError);
        return;
      }
    }
  }

  /** Granted TTLs of the leases first seen in `batch` (0 when the lease is already gone). */
  private async newLeases(batch: readonly LoggedRevision[]): Promise<Record<string, number>> {
    const ids = new Set<string>();
    for (const r of batch)
      for (const e of r.e) if ('l' in e && e.l && !this.knownLeases.has(e.l)) ids.add(e.l);
    const leases: Record<string, number> = {};
    for (const id of ids) {
      try {
        leases[id] = this.client ? (await this.client.leaseTimeToLive(id)).granted : 0;
      } catch {
        leases[id] = 0;
      }
    }
    return leases;
  }
}
