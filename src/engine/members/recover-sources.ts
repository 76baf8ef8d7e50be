/**
 * What `recover` can rebuild a cluster from, read without a quorum: each surviving member's
 * bbolt file (DATA/member/snap/db) opened offline with our snapshot reader (consistent index,
 * term, revision, live keys, the member ids it knows), and the newest backup with the change log
 * that continues it (how far a restore to latest could go). Each source can stream its live keys
 * in key order (values as SHA-256, so a backup's log needs no values in memory) for the loss
 * figures (recover-plan.ts).
 */
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { describeError } from '../../errors.js';
import type { DataDirState, HostedMember, MembershipHost } from '../../runtime/membership-host.js';
import { openSnapshot, summarizeSnapshot } from '../../snapshot/index.js';
import type { BackupStorage } from '../../storage/storage.js';
import { readCatalog } from '../backup/catalog.js';
import { fetchBackup } from '../backup/fetch.js';
import type { BackupManifest } from '../backup/manifest.js';
import { continuation } from '../pitr/chains.js';
import { NetChanges } from '../pitr/digest.js';
import { listSegments, readSegment } from '../pitr/segment.js';
import { STEWARD_KEY_PREFIX } from '../restore.js';
import type { KeyRecord } from '../snapshot/diff.js';

/** A surviving member whose data could be read. */
export interface MemberSource {
  readonly kind: 'member';
  /** The member's name: what `--source` takes. */
  readonly name: string;
  readonly dbFile: string;
  /** Whether its etcd process runs (it cannot serve without a quorum, but it may be up). */
  readonly running: boolean;
  /** The raft index of the last entry applied to its store. */
  readonly consistentIndex: number | undefined;
  readonly term: number | undefined;
  readonly revision: number;
  readonly keyCount: number;
  /** Its own member id (hex), when its members bucket names it. */
  readonly id: string | undefined;
  /** Every member id (hex) the member knows of, voters and learners. */
  readonly knownIds: readonly string[];
}

/** The newest backup and the change log that continues it. */
export interface BackupSource {
  readonly kind: 'backup';
  /** Always `backup`: what `--source` takes. */
  readonly name: 'backup';
  readonly backup: string;
  readonly backupRevision: number;
  readonly createdAt: string;
  /** Change-log segments that continue the backup without a hole. */
  readonly segments: number;
  /** The revision a restore to latest reaches: the backup's, or the log's last. */
  readonly revision: number;
  readonly keyCount: number;
}

export type RecoverSource = MemberSource | BackupSource;

/** A hosted member that is no source: its data is gone or cannot be read. */
export interface LostMember {
  readonly name: string;
  readonly dataDirState: DataDirState;
  readonly running: boolean;
  readonly problem: string;
}

/** Every source found, opened for key streams; `close` removes the fetched backup. */
export interface RecoverSources {
  readonly members: readonly MemberSource[];
  readonly lost: readonly LostMember[];
  readonly backup: BackupSource | undefined;
  /** Why there is no backup source (no storage, no backups, unreadable), when there is none. */
  readonly backupProblem: string | undefined;
  /** The live keys of a source in key order, values as SHA-256. */
  records(source: RecoverSource): AsyncIterable<KeyRecord>;
  close(): Promise<void>;
}

const sha = (value: Buffer) => createHash('sha256').update(value).digest();

/** The bbolt file of a member's data dir. */
export function memberDbFile(dataDir: string): string {
  return path.join(dataDir, 'member', 'snap', 'db');
}

async function readMember(host: MembershipHost, member: HostedMember): Promise<MemberSource | LostMember> {
  const data = await host.dataDir(member.name);
  const running = await host.isRunning(member.name);
  if (data.state !== 'present')
    return { name: member.name, dataDirState: data.state, running, problem: `data dir ${data.state}` };
  const dbFile = memberDbFile(data.path);
  try {
    const snapshot = await openSnapshot(dbFile);
    try {
      const summary = await summarizeSnapshot(snapshot);
      const self = summary.members.find(
        (m) => m.name === member.name || m.peerUrls.some((u) => u.replace(/\/+$/, '') === member.peerUrl),
      );
      const meta = await snapshot.etcdMeta();
      const knownIds = new Set([
        ...summary.members.map((m) => m.id),
        ...(meta.confState?.voters ?? []),
        ...(meta.confState?.learners ?? []),
      ]);
      return {
        kind: 'member',
        name: member.name,
        dbFile,
        running,
        consistentIndex: summary.consistentIndex,
        term: summary.term,
        revision: summary.revision,
        keyCount: summary.liveKeys,
        id: self?.id,
        knownIds: [...knownIds],
      };
    } finally {
      await snapshot.close();
    }
  } catch (error) {
    return {
      name: member.name,
      dataDirState: data.state,
      running,
      problem: `${dbFile} cannot be read: ${describeError(error)}`,
    };
  }
}

/** The net changes the log records after `base` up to its last revision, read segment by segment. */
async function logChanges(
  storage: BackupStorage,
  base: BackupManifest,
  signal: AbortSignal | undefined,
): Promise<{ changes: NetChanges; segments: number; toRevision: number }> {
  const run = continuation(await listSegments(storage, { signal }), base.revision);
  const changes = new NetChanges();
  for (const ref of run.segments) {
    const { revisions } = await readSegment(storage, ref, { signal });
    for (const r of revisions) if (r.r > base.revision && r.r <= run.toRevision) changes.apply(r);
  }
  return { changes, segments: run.segments.length, toRevision: run.toRevision };
}

/** A backup's live keys with the log's net changes applied, merged in key order. */
async function* backupRecords(baseFile: string, changes: NetChanges): AsyncGenerator<KeyRecord> {
  const changed = changes.sorted();
  const snapshot = await openSnapshot(baseFile);
  try {
    let i = 0;
    for await (const kv of snapshot.keyValues()) {
      for (; i < changed.length; i += 1) {
        const c = changed[i] as (typeof changed)[number];
        if (Buffer.compare(c.key, kv.key) >= 0) break;
        if (c.entry) yield { key: c.key, value: c.entry.valueSha, modRevision: c.entry.mod };
      }
      const c = changed[i];
      if (c && Buffer.compare(c.key, kv.key) === 0) {
        if (c.entry) yield { key: c.key, value: c.entry.valueSha, modRevision: c.entry.mod };
        i += 1;
      } else yield { key: kv.key, value: sha(kv.value), modRevision: kv.modRevision };
    }
    for (; i < changed.length; i += 1) {
      const c = changed[i] as (typeof changed)[number];
      if (c.entry) yield { key: c.key, value: c.entry.valueSha, modRevision: c.entry.mod };
    }
  } finally {
    await snapshot.close();
  }
}

async function* memberRecords(dbFile: string): AsyncGenerator<KeyRecord> {
  const snapshot = await openSnapshot(dbFile);
  try {
    for await (const kv of snapshot.keyValues())
      yield { key: kv.key, value: sha(kv.value), modRevision: kv.modRevision };
  } finally {
    await snapshot.close();
  }
}

/** Leaves out our own bookkeeping keys (the backup lock): they are no data anyone would lose. */
async function* withoutBookkeeping(records: AsyncIterable<KeyRecord>): AsyncGenerator<KeyRecord> {
  const prefix = Buffer.from(STEWARD_KEY_PREFIX);
  for await (const r of records) if (!r.key.subarray(0, prefix.length).equals(prefix)) yield r;
}

async function countRecords(records: AsyncIterable<KeyRecord>): Promise<number> {
  let n = 0;
  for await (const _ of records) n += 1;
  return n;
}

/**
 * Reads every hosted member's data offline and, when `storage` is given, the newest backup and
 * its change log. Nothing is changed anywhere.
 */
export async function findRecoverSources(options: {
  readonly host: MembershipHost;
  readonly storage: BackupStorage | undefined;
  readonly signal?: AbortSignal | undefined;
}): Promise<RecoverSources> {
  const hosted = await options.host.members();
  const read = await Promise.all(hosted.map((m) => readMember(options.host, m)));
  const members = read.filter((r): r is MemberSource => 'kind' in r);
  const lost = read.filter((r): r is LostMember => !('kind' in r));
  let backup: BackupSource | undefined;
  let backupProblem: string | undefined;
  let baseFile: string | undefined;
  let changes: NetChanges | undefined;
  if (!options.storage) backupProblem = 'the spec names no backup storage';
  else {
    try {
      const catalog = await readCatalog(options.storage, { signal: options.signal });
      const newest = [...catalog.backups].sort(
        (a, b) => b.revision - a.revision || b.createdAt.localeCompare(a.createdAt),
      )[0];
      if (!newest) backupProblem = 'there are no backups in the storage';
      else {
        const log = await logChanges(options.storage, newest, options.signal);
        changes = log.changes;
        baseFile = await fetchBackup(options.storage, newest, { signal: options.signal });
        backup = {
          kind: 'backup',
          name: 'backup',
          backup: newest.name,
          backupRevision: newest.revision,
          createdAt: newest.createdAt,
          segments: log.segments,
          revision: log.toRevision,
          keyCount: await countRecords(withoutBookkeeping(backupRecords(baseFile, changes))),
        };
      }
    } catch (error) {
      backupProblem = `the backups cannot be read: ${describeError(error)}`;
    }
  }
  return {
    members,
    lost,
    backup,
    backupProblem,
    records(source) {
      return withoutBookkeeping(
        source.kind === 'member'
          ? memberRecords(source.dbFile)
          : backupRecords(baseFile as string, changes as NetChanges),
      );
    },
    async close() {
      if (baseFile) await rm(baseFile, { force: true });
    },
  };
}
