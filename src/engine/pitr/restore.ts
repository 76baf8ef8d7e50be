/**
 * Point-in-time restore: the newest snapshot at or before the target, replayed up to the target
 * revision in a throwaway single member (`--unsafe-no-fsync`, one Txn per original revision so
 * revisions line up), checked against the log's own record, snapshotted, and that snapshot
 * restored through the ordinary restore path into the real membership.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseSpec } from '../../config/load.js';
import type { Spec } from '../../config/spec.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../../etcd/member-client.js';
import { StewardError } from '../../errors.js';
import type { EtcdBinaries } from '../../runtime/etcd-binaries.js';
// Not openRuntime: the replay runs in a throwaway local member on this machine, whatever
// runtime the cluster being restored has.
import { LocalRuntime } from '../../runtime/local/cluster.js';
import type { BackupStorage } from '../../storage/storage.js';
import { readCatalog } from '../backup/catalog.js';
import type { DecryptionKeys } from '../backup/encryption.js';
import { fetchBackup } from '../backup/fetch.js';
import { checkSnapshotFile } from '../backup/snapshot-facts.js';
import { spoolDir } from '../backup/store.js';
import { restoreSnapshot, type RestoreResult, type RestoreTarget } from '../restore.js';
import { NetChanges, expectedDigest, snapshotDigest, type PitrDigest } from './digest.js';
import { planPointInTime, type PointInTimeTarget } from './plan.js';
import { replayRevisions, type ReplayProgress, type ReplayResult } from './replay.js';
import { logRevisions } from './log-source.js';
import { listSegments, readSegment } from './segment.js';

/** A lease first seen in the log whose TTL is unknown (it had expired by then) gets this. */
const DEFAULT_LEASE_TTL_SECONDS = 60;

export interface PointInTimeOptions {
  readonly storage: BackupStorage;
  /** A backup name to start from, or `latest` for the newest that fits. */
  readonly reference: string;
  readonly target: PointInTimeTarget;
  readonly spec: Spec;
  readonly binaries: EtcdBinaries;
  readonly connection: ConnectionOptions;
  readonly restoreTarget: RestoreTarget;
  readonly live?:
    { readonly endpoints: readonly string[]; readonly connection: ConnectionOptions } | undefined;
  readonly yes?: boolean;
  /** Identities for encrypted backups and segments. */
  readonly keys?: DecryptionKeys | undefined;
  readonly onProgress?: (message: string) => void;
  readonly onReplay?: (progress: ReplayProgress & { total: number }) => void;
  readonly signal?: AbortSignal;
}

export interface PointInTimeResult extends RestoreResult {
  readonly pointInTime: {
    readonly base: { readonly backup: string; readonly revision: number; readonly createdAt: string };
    readonly requested: { readonly revision: number | null; readonly time: string | null };
    /** The revision restored, and when the change log saw it committed. */
    readonly revision: number;
    readonly committedAt: string | null;
    readonly segments: number;
    readonly replay: ReplayResult & { readonly revisionsPerSecond: number };
    readonly expected: PitrDigest;
    readonly replayed: PitrDigest;
    readonly verified: boolean;
    /** Time target beyond the log's end: the log's last revision (what was restored). */
    readonly logEndsBeforeTarget: boolean;
  };
}

export async function restorePointInTime(options: PointInTimeOptions): Promise<PointInTimeResult> {
  const say = options.onProgress ?? (() => undefined);
  const [catalog, segments] = await Promise.all([
    readCatalog(options.storage, { signal: options.signal }),
    listSegments(options.storage, { signal: options.signal }),
  ]);
  const plan = planPointInTime(catalog.backups, segments, options.target, options.reference);
  const target = options.target;
  say(
    `point in time: ${'revision' in target ? `revision ${target.revision}` : new Date(target.timeMs).toISOString()} from ${plan.base.name} (revision ${plan.base.revision}) + ${plan.segments.length} change-log segments`,
  );
  // Encrypted segments: prove the identity fits the first and last before anything is created.
  for (const ref of new Set([plan.segments[0], plan.segments.at(-1)]))
    if (ref) await readSegment(options.storage, ref, { signal: options.signal, keys: options.keys });
  const baseFile = await fetchBackup(options.storage, plan.base, {
    signal: options.signal,
    keys: options.keys,
  });
  await mkdir(spoolDir(), { recursive: true });
  const work = await mkdtemp(path.join(spoolDir(), 'pitr-'));
  const replaySpec = parseSpec(
    [
      'name: pitr',
      'members: 1',
      `dataDir: ${JSON.stringify(path.join(work, 'cluster'))}`,
      'etcd:',
      `  version: "${options.binaries.line}"`,
      '  unsafeNoFsync: true',
      `  quotaBackendBytes: ${Math.max(options.spec.etcd.quotaBackendBytes, 8 * 2 ** 30)}`,
      '  maxRequestBytes: 64MiB',
      '  snapshotCount: 100000',
      '  extraArgs: ["--max-txn-ops=1000000"]',
      '',
    ].join('\n'),
    path.join(work, 'steward.yaml'),
  );
  const replayed = path.join(work, 'replayed.db');
  const replaySide = { ...replaySpec, name: 'replay', dataDir: `${replaySpec.dataDir}-replay` };
  const connection: ConnectionOptions = {
    dialTimeoutMs: options.connection.dialTimeoutMs,
    commandTimeoutMs: Math.max(options.connection.commandTimeoutMs, 30_000),
    user: options.connection.user,
    password: options.connection.password,
  };
  try {
    say(`starting a throwaway member from ${plan.base.name} to replay into`);
    const member = await restoreSnapshot({
      file: baseFile,
      spec: replaySpec,
      binaries: options.binaries,
      connection,
      target: { kind: 'new-cluster', name: 'replay' },
      skipHashCheck: plan.base.etcdSha256 === null, // accepted at import with --skip-hash-check
      signal: options.signal,
    });
    const client = new MemberClient(parseEndpoint(member.endpoints[0] as string), connection);
    const keepAlives: { stop: () => void }[] = [];
    let replay: ReplayResult;
    const changes = new NetChanges();
    const leases = new Map<string, number>();
    try {
      // Leases of the snapshot are kept alive while replaying, so none expires and deletes keys
      // (which would add revisions the log does not have).
      const keep = (id: string) => keepAlives.push(client.keepAlive(id, 1000, () => undefined));
      for (const id of await client.leaseIds()) keep(id);
      const total = plan.upToRevision - plan.base.revision;
      const timeMs = 'timeMs' in target ? target.timeMs : undefined;
      const upTo = 'revision' in target ? target.revision : undefined;
      replay = await replayRevisions({
        client,
        baseRevision: plan.base.revision,
        source: (async function* () {
          for await (const r of logRevisions(
            options.storage,
            plan.segments,
            leases,
            options.signal,
            options.keys,
          )) {
            if (upTo !== undefined && r.r > upTo) return;
            if (timeMs !== undefined && r.t > timeMs) return;
            changes.apply(r);
            yield r;
          }
        })(),
        ensureLease: async (id) => {
          const ttl = leases.get(id) || DEFAULT_LEASE_TTL_SECONDS;
          try {
            await client.grantLease(ttl, id);
          } catch (error) {
            if (!/lease already exists/i.test((error as Error).message)) throw error;
          }
          keep(id);
        },
        onProgress: (p) => options.onReplay?.({ ...p, total }),
        signal: options.signal,
      });
      if (upTo !== undefined && replay.lastRevision !== upTo) {
        throw new StewardError(
          `the replay reached revision ${replay.lastRevision}, not ${upTo}: the change log ends early`,
          { hint: 'pick a revision inside the recovery window (`etcd-steward backup list`)' },
        );
      }
      say(
        `replayed ${replay.revisions} revisions (${replay.events} events) in ${(replay.durationMs / 1000).toFixed(1)} s; taking its snapshot`,
      );
      const snap = await client.snapshot();
      await pipeline(snap.bytes, createWriteStream(replayed));
    } finally {
      for (const k of keepAlives) k.stop();
      client.close();
      await new LocalRuntime(replaySide).stop(2_000).catch(() => undefined);
    }
    const facts = await checkSnapshotFile(replayed);
    const [expected, actual] = await Promise.all([
      expectedDigest(baseFile, changes),
      snapshotDigest(replayed),
    ]);
    const verified =
      facts.problems.length === 0 &&
      facts.revision === replay.lastRevision &&
      expected.sha256 === actual.sha256 &&
      expected.keyCount === actual.keyCount;
    if (!verified) {
      throw new StewardError(
        `the replayed keyspace is not what the change log records: revision ${facts.revision} (expected ${replay.lastRevision}), ${actual.keyCount} keys (expected ${expected.keyCount}), digest ${actual.sha256 === expected.sha256 ? 'equal' : 'different'}`,
        {
          hint: 'nothing was restored; report this with the backup list (`etcd-steward backup list -o json`)',
        },
      );
    }
    say(`check ok: ${actual.keyCount} keys at revision ${replay.lastRevision} match the log's record`);
    const result = await restoreSnapshot({
      file: replayed,
      spec: options.spec,
      binaries: options.binaries,
      connection: options.connection,
      target: options.restoreTarget,
      live: options.live,
      yes: options.yes,
      onProgress: say,
      signal: options.signal,
    });
    const lastSegment = plan.segments.at(-1);
    return {
      ...result,
      pointInTime: {
        base: { backup: plan.base.name, revision: plan.base.revision, createdAt: plan.base.createdAt },
        requested: {
          revision: 'revision' in target ? target.revision : null,
          time: 'timeMs' in target ? new Date(target.timeMs).toISOString() : null,
        },
        revision: replay.lastRevision,
        committedAt: replay.lastTimeMs === null ? null : new Date(replay.lastTimeMs).toISOString(),
        segments: plan.segments.length,
        replay: {
          ...replay,
          revisionsPerSecond: Math.round(replay.revisions / Math.max(0.001, replay.durationMs / 1000)),
        },
        expected,
        replayed: actual,
        verified,
        logEndsBeforeTarget: 'timeMs' in target && (lastSegment?.lastTimeMs ?? 0) < target.timeMs,
      },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(baseFile, { force: true });
  }
}
