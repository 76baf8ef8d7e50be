/**
 * Restore: check the snapshot before touching anything (one reader pass that also computes
 * etcd's HashKV, or none when a verified backup's manifest carries it and the fetch checked the
 * SHA-256), build every member's data dir with the target line's own `etcdutl snapshot restore`
 * (new cluster token, the spec's membership; several at once where the machine has the cores),
 * start the new cluster on the local runtime, and compare every member's own HashKV at the
 * snapshot's revision with the snapshot's.
 *
 * It never writes into a data dir that holds anything and never stops a running cluster unless
 * asked (`replace`), and then moves the old data aside instead of deleting it.
 */
import { createHash, type Hash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readdir, rename } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Spec } from '../config/spec.js';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../etcd/member-client.js';
import { InputError, StewardError } from '../errors.js';
import type { EtcdBinaries } from '../runtime/etcd-binaries.js';
import { LocalRuntime } from '../runtime/local/cluster.js';
import { LocalClusterRuntime } from '../runtime/local/runtime.js';
import { openRuntime } from '../runtime/open.js';
import { RuntimeUnsupportedError } from '../runtime/runtime.js';
import { memberPaths, peerUrl } from '../runtime/local/member-process.js';
import type { LocalClusterState } from '../runtime/local/state.js';
import { HashKvUnavailableError, openSnapshot, snapshotHashKv, type HashKvValue } from '../snapshot/index.js';
import { isVerified, type BackupManifest } from './backup/manifest.js';
import { checkSnapshotFile, requireTrailer } from './backup/snapshot-facts.js';
import { greptimeSummary, type GreptimeSummary } from '../greptime/key-layout.js';
import { clusterStatus } from './status.js';
import { upCluster } from './up.js';

const exec = promisify(execFile);

/** Keys of our own bookkeeping (the backup lock), left out of keyspace comparisons. */
export const STEWARD_KEY_PREFIX = '__etcd_steward/';

export type RestoreTarget =
  | { readonly kind: 'new-cluster'; readonly name: string }
  | { readonly kind: 'into'; readonly dir: string }
  | { readonly kind: 'replace' };

/** Key count and a SHA-256 over (key, value) pairs in key order, our bookkeeping keys left out. */
export interface KeyspaceDigest {
  readonly keyCount: number;
  readonly sha256: string;
}

/** How far the live cluster has moved on since the snapshot. */
export interface RevisionGap {
  readonly endpoint: string;
  readonly liveRevision: number;
  readonly snapshotRevision: number;
  /** Keys created or changed after the snapshot's revision: a restore loses or reverts them. */
  readonly keysChangedSince: number;
  /** The live keyspace differs from the snapshot's (writes, changes or deletions since). */
  readonly differs: boolean;
}

export interface RestoreResult {
  readonly target: RestoreTarget['kind'];
  readonly name: string;
  readonly dataDir: string;
  readonly started: boolean;
  readonly endpoints: readonly string[];
  readonly snapshot: ExpectedSnapshot;
  /** GreptimeDB's metadata in the snapshot (catalogs, schemas, tables, flows), when there is any. */
  readonly greptime: GreptimeSummary | undefined;
  /** What the restored cluster answered; undefined when nothing was started (`into`). */
  readonly restored: RestoredCheck | undefined;
  readonly match: boolean | undefined;
  readonly gap: RevisionGap | undefined;
  /** Where the replaced cluster's data was moved (`replace`). */
  readonly movedAside: string | undefined;
  /** Wall time of each step in milliseconds: check (and the live-cluster look), build, start until healthy, compare. */
  readonly timings: { checkMs: number; buildMs: number; startMs?: number; compareMs?: number };
}

export interface RestoreOptions {
  readonly file: string;
  /** The spec whose membership and settings the restored cluster gets. */
  readonly spec: Spec;
  readonly binaries: EtcdBinaries;
  /** How to reach the restored cluster (the spec's TLS/auth). */
  readonly connection: ConnectionOptions;
  readonly target: RestoreTarget;
  /** The cluster the snapshot came from, to report what a restore would lose. */
  readonly live?:
    { readonly endpoints: readonly string[]; readonly connection: ConnectionOptions } | undefined;
  /** Go ahead although the live cluster changed since the snapshot. */
  readonly yes?: boolean;
  /** Accept a file without etcd's SHA-256 trailer (a member's db), as etcdutl's flag does. */
  readonly skipHashCheck?: boolean | undefined;
  /**
   * The manifest of the backup `file` was fetched from, when the fetch checked the file against
   * it (`fetchBackup`): a verified backup whose manifest carries its HashKV needs no reader pass.
   */
  readonly fetchedFrom?: BackupManifest | undefined;
  /** How many `etcdutl snapshot restore` run at once (default: the machine's available parallelism). */
  readonly buildConcurrency?: number | undefined;
  readonly onProgress?: (message: string) => void;
  readonly signal?: AbortSignal;
}

/** What the snapshot holds, as checked before anything is built. */
export interface ExpectedSnapshot {
  readonly file: string;
  readonly revision: number;
  readonly trailer: string;
  readonly keyCount: number;
  /** etcd's HashKV at `revision`; null when it cannot be computed offline (an unfinished compaction). */
  readonly hashKv: HashKvValue | null;
  /** `reader`: one pass of our snapshot reader; `manifest`: a verified backup's record, its SHA-256 checked while fetching. */
  readonly checkedBy: 'reader' | 'manifest';
}

/** One member's answer to the comparison. */
export interface MemberCheck {
  readonly endpoint: string;
  /** The member's HashKV at the snapshot's revision (undefined: compared by keyspace digest instead). */
  readonly hash: number | undefined;
  readonly expectedHash: number | undefined;
  readonly compactRevision: number | undefined;
  /** The member's current revision: anything written after the restore moves it past the snapshot's. */
  readonly revision: number;
  readonly ok: boolean;
}

/** The comparison of the restored cluster with the snapshot. */
export interface RestoredCheck {
  /** `hashkv`: every member's Maintenance.HashKV at the snapshot's revision; `keyspace`: every key read back (the fallback). */
  readonly method: 'hashkv' | 'keyspace';
  /** Keys the restored cluster holds (counted by the first member). */
  readonly keyCount: number;
  readonly members: readonly MemberCheck[];
  /** Why the comparison failed, in a sentence; undefined when it matched. */
  readonly problem: string | undefined;
}

/** A snapshot that is not whole: nothing was touched. */
export class RestoreRefusedError extends StewardError {}

export async function restoreSnapshot(options: RestoreOptions): Promise<RestoreResult> {
  const say = options.onProgress ?? (() => undefined);
  let mark = Date.now();
  const lap = () => {
    const now = Date.now();
    const ms = now - mark;
    mark = now;
    return ms;
  };
  // 1. The snapshot first: a damaged one is refused before any folder is created.
  const checked = await checkSnapshot(options);
  const expected = checked.expected;
  let greptime = checked.greptime;
  say(
    `snapshot ok (${expected.checkedBy === 'manifest' ? "the verified backup's record, SHA-256 checked while fetching" : 'checked by the reader'}): ` +
      `revision ${expected.revision}, ${expected.keyCount} keys, trailer ${expected.trailer}` +
      (expected.hashKv ? `, HashKV ${expected.hashKv.hash}` : ''),
  );

  // 2. What the live cluster would lose.
  const gap = options.live ? await revisionGap(options.live, options.file, expected.revision) : undefined;
  if (gap?.differs && options.target.kind !== 'into') {
    const message =
      `the live cluster (${gap.endpoint}) is at revision ${gap.liveRevision}, the snapshot at ${gap.snapshotRevision}, and their keys differ: ` +
      `${gap.keysChangedSince} keys were written or changed since (deletions come on top), and the restored cluster will not have them`;
    if (!options.yes) {
      throw new InputError(message, {
        hint: 'stop the writers (for GreptimeDB: pause procedures, stop metasrv), then run again with --yes',
      });
    }
    say(`${message} (going ahead: --yes)`);
  }

  // 3. The new cluster's folder and membership.
  const { spec, runtime, ports, movedAside } = await prepareTarget(options);
  const checkMs = lap();
  const state = await runtime.plan(ports);
  const concurrency = Math.max(1, options.buildConcurrency ?? availableParallelism());
  say(
    `building ${state.members.length} member data dirs with ${path.basename(options.binaries.etcdutl)} ${options.binaries.version}, ${Math.min(concurrency, state.members.length)} at a time`,
  );
  await buildMembers(options.binaries, options.file, expected.trailer === 'absent', spec, state, concurrency);
  const endpoints = await runtime.endpoints();
  const buildMs = lap();
  const common = { name: spec.name, dataDir: spec.dataDir, endpoints, snapshot: expected, gap, movedAside };
  if (options.target.kind === 'into') {
    return {
      ...common,
      target: 'into',
      started: false,
      greptime,
      restored: undefined,
      match: undefined,
      timings: { checkMs, buildMs },
    };
  }

  // 4. Start and compare.
  await upCluster({
    spec,
    binaries: options.binaries,
    connection: options.connection,
    onProgress: say,
    signal: options.signal,
  });
  const startMs = lap();
  const [restored, liveGreptime] = await Promise.all([
    compareRestored(endpoints, options.connection, expected),
    checked.greptimeFromCluster ? greptimeOfCluster(endpoints[0] as string, options.connection) : greptime,
  ]);
  greptime = liveGreptime;
  return {
    ...common,
    target: options.target.kind,
    started: true,
    greptime,
    restored,
    match: restored.problem === undefined,
    timings: { checkMs, buildMs, startMs, compareMs: lap() },
  };
}

/**
 * The snapshot's facts before anything is built: from a verified backup's manifest when the file
 * was fetched and checked against it and the manifest carries the HashKV (no reader pass); else
 * one reader pass that checks every page and the trailer and computes the HashKV alongside.
 */
async function checkSnapshot(options: RestoreOptions): Promise<{
  expected: ExpectedSnapshot;
  greptime: GreptimeSummary | undefined;
  /** No reader pass ran: GreptimeDB's keys are counted on the restored cluster (keys only). */
  greptimeFromCluster: boolean;
}> {
  const manifest = options.fetchedFrom;
  if (
    manifest?.hashKv &&
    options.target.kind !== 'into' &&
    isVerified(manifest) &&
    manifest.lastVerification.scope !== 'stored' &&
    manifest.hashKv.revision === manifest.revision
  ) {
    const trailer = manifest.etcdSha256 === null ? 'absent' : 'ok';
    requireTrailer(options.file, { trailer }, options.skipHashCheck);
    return {
      expected: {
        file: options.file,
        revision: manifest.revision,
        trailer,
        keyCount: manifest.keyCount,
        hashKv: manifest.hashKv,
        checkedBy: 'manifest',
      },
      greptime: undefined,
      greptimeFromCluster: true,
    };
  }
  const facts = await checkSnapshotFile(options.file, { hashKv: true, liveKeys: true });
  if (facts.problems.length > 0) {
    throw new RestoreRefusedError(`refusing to restore ${options.file}: ${facts.problems.join('; ')}`, {
      hint: 'nothing was created or changed; pick another backup (`etcd-steward backup list`)',
    });
  }
  requireTrailer(options.file, facts, options.skipHashCheck);
  const greptime = facts.liveKeys ? await greptimeSummary(keyRecords(facts.liveKeys())) : undefined;
  return {
    expected: {
      file: options.file,
      revision: facts.revision,
      trailer: facts.trailer,
      keyCount: facts.keyCount,
      hashKv: facts.hashKv ?? null,
      checkedBy: 'reader',
    },
    greptime,
    greptimeFromCluster: false,
  };
}

function* keyRecords(keys: Iterable<Buffer>): Generator<{ key: Buffer }> {
  for (const key of keys) yield { key };
}

/** GreptimeDB's metadata counted on a running cluster: keys only, no values. */
async function greptimeOfCluster(
  endpoint: string,
  connection: ConnectionOptions,
): Promise<GreptimeSummary | undefined> {
  const client = new MemberClient(parseEndpoint(endpoint), connection);
  try {
    return await greptimeSummary(client.scan({ keysOnly: true }));
  } finally {
    client.close();
  }
}

/**
 * Compares the restored cluster with the snapshot: every member's HashKV at the snapshot's
 * revision (computed by etcd over its own key bucket) against the snapshot's, and every member's
 * current revision against the snapshot's (a write after the restore moves it on). Falls back to
 * reading the keyspace back when no HashKV can be expected or the member cannot answer one.
 */
export async function compareRestored(
  endpoints: readonly string[],
  connection: ConnectionOptions,
  expected: ExpectedSnapshot,
): Promise<RestoredCheck> {
  const clients = endpoints.map((e) => new MemberClient(parseEndpoint(e), connection));
  try {
    const keyCount = (await (clients[0] as MemberClient).countKeys()).count;
    if (expected.hashKv) {
      const answers = await Promise.all(
        clients.map((c) =>
          c.hashKv(expected.revision).then(
            (answer) => answer,
            (error: unknown) => error as Error,
          ),
        ),
      );
      if (answers.every((a) => !(a instanceof Error))) {
        const members: MemberCheck[] = [];
        for (const [i, answer] of answers.entries()) {
          if (answer instanceof Error) continue;
          const want = await expectedHash(expected, answer.compactRevision);
          members.push({
            endpoint: endpoints[i] as string,
            hash: answer.hash,
            expectedHash: want,
            compactRevision: answer.compactRevision,
            revision: answer.revision,
            ok: answer.hash === want && answer.revision === expected.revision,
          });
        }
        return { method: 'hashkv', keyCount, members, problem: describeProblem(members, expected, keyCount) };
      }
    }
    // No HashKV to expect (an unfinished compaction in the snapshot), or a member could not give
    // one at that revision (compacted past it meanwhile): read every key back, as before.
    const [snapshotDigest, liveDigest] = await Promise.all([
      digestSnapshot(expected.file),
      digestLive(endpoints[0] as string, connection),
    ]);
    const revision = (await (clients[0] as MemberClient).countKeys()).revision;
    const ok = snapshotDigest.sha256 === liveDigest.sha256 && snapshotDigest.keyCount === liveDigest.keyCount;
    const members: MemberCheck[] = [
      {
        endpoint: endpoints[0] as string,
        hash: undefined,
        expectedHash: undefined,
        compactRevision: undefined,
        revision,
        ok,
      },
    ];
    return {
      method: 'keyspace',
      keyCount: liveDigest.keyCount,
      members,
      problem: ok
        ? undefined
        : `the keyspace differs: ${liveDigest.keyCount} keys against ${snapshotDigest.keyCount} in the snapshot, SHA-256 over keys and values ${liveDigest.sha256 === snapshotDigest.sha256 ? 'equal' : 'different'}`,
    };
  } finally {
    for (const c of clients) c.close();
  }
}

/** The snapshot's HashKV as a member compacted at `compactRevision` computes it. */
async function expectedHash(
  expected: ExpectedSnapshot,
  compactRevision: number,
): Promise<number | undefined> {
  const recorded = expected.hashKv;
  if (!recorded) return undefined;
  if (recorded.compactRevision === compactRevision) return recorded.hash;
  // The member compacted after it started (auto-compaction): the hash it computes skips what
  // that compaction removed; compute the snapshot's the same way.
  const snapshot = await openSnapshot(expected.file);
  try {
    return (await snapshotHashKv(snapshot, { revision: expected.revision, compactRevision })).hash;
  } catch (error) {
    if (error instanceof HashKvUnavailableError) return undefined;
    throw error;
  } finally {
    await snapshot.close();
  }
}

function describeProblem(
  members: readonly MemberCheck[],
  expected: ExpectedSnapshot,
  keyCount: number,
): string | undefined {
  const wrongHash = members.filter((m) => m.hash !== m.expectedHash);
  const movedOn = members.filter((m) => m.revision !== expected.revision);
  const problems: string[] = [];
  if (wrongHash.length > 0)
    problems.push(
      `${wrongHash.map((m) => m.endpoint).join(', ')} answered HashKV ${wrongHash.map((m) => m.hash).join(', ')} at revision ${expected.revision}, the snapshot's is ${wrongHash[0]?.expectedHash ?? '?'}: the restored data differs`,
    );
  if (movedOn.length > 0)
    problems.push(
      `${movedOn.map((m) => `${m.endpoint} is at revision ${m.revision}`).join(', ')}, the snapshot at ${expected.revision}: something wrote to the restored cluster`,
    );
  if (problems.length === 0 && keyCount !== expected.keyCount)
    problems.push(`the restored cluster holds ${keyCount} keys, the snapshot ${expected.keyCount}`);
  return problems.length > 0 ? problems.join('; ') : undefined;
}

async function prepareTarget(options: RestoreOptions): Promise<{
  spec: Spec;
  runtime: LocalRuntime;
  ports?: { client: number[]; peer: number[] };
  movedAside?: string;
}> {
  const base = { ...options.spec, runtime: 'local' as const, endpoints: undefined };
  const target = options.target;
  if (target.kind === 'new-cluster') {
    const spec: Spec = { ...base, name: target.name, dataDir: `${options.spec.dataDir}-${target.name}` };
    await requireEmpty(spec.dataDir);
    return { spec, runtime: new LocalRuntime(spec, options.binaries) };
  }
  if (target.kind === 'into') {
    const spec: Spec = { ...base, dataDir: path.resolve(target.dir) };
    await requireEmpty(spec.dataDir);
    return { spec, runtime: new LocalRuntime(spec, options.binaries) };
  }
  // replace: the spec's own local cluster, same name and ports, old data moved aside.
  const current = await openRuntime(options.spec, { binaries: options.binaries });
  if (!(current instanceof LocalClusterRuntime)) {
    throw new RuntimeUnsupportedError(
      current.kind,
      'restore in place (--replace): that stops and rebuilds a local cluster',
      current.kind === 'kubernetes'
        ? 'restore into a new cluster on Kubernetes (restore --runtime kubernetes) and re-point the clients'
        : 'restore into a new cluster (--new-cluster NAME) and point the clients at it',
    );
  }
  const old = current.local;
  const oldState = await old.state();
  const spec: Spec = { ...base };
  if (!oldState) return { spec, runtime: new LocalRuntime(spec, options.binaries) };
  const stopped = await old.stop();
  options.onProgress?.(
    `stopped ${stopped.filter((s) => s.outcome !== 'not-running').length} running members of '${oldState.name}'`,
  );
  const movedAside = `${options.spec.dataDir}.replaced-${new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
  await rename(options.spec.dataDir, movedAside);
  options.onProgress?.(`moved the old data aside to ${movedAside} (nothing was deleted)`);
  const ports = {
    client: oldState.members.map((m) => m.clientPort),
    peer: oldState.members.map((m) => m.peerPort),
  };
  return { spec, runtime: new LocalRuntime(spec, options.binaries), ports, movedAside };
}

async function requireEmpty(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => []);
  if (entries.length > 0) {
    throw new InputError(`${dir} already exists and is not empty`, {
      hint: 'restore never writes over existing data: choose another --new-cluster name or --into folder, or move that one away',
    });
  }
}

/**
 * Runs `etcdutl snapshot restore` once per member, with the new membership and token,
 * `concurrency` at a time.
 */
async function buildMembers(
  binaries: EtcdBinaries,
  file: string,
  noTrailer: boolean,
  spec: Spec,
  state: LocalClusterState,
  concurrency: number,
): Promise<void> {
  const initialCluster = state.members.map((m) => `${m.name}=${peerUrl(state, m)}`).join(',');
  await inPool(state.members, concurrency, async (member) => {
    const args = [
      'snapshot',
      'restore',
      file,
      `--name=${member.name}`,
      `--data-dir=${memberPaths(spec.dataDir, member.name).dataDir}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${state.token}`,
      `--initial-advertise-peer-urls=${peerUrl(state, member)}`,
      // A member's copied `db` file has no trailer to check; a snapshot's was checked above.
      ...(noTrailer ? ['--skip-hash-check'] : []),
    ];
    try {
      await exec(binaries.etcdutl, args, { maxBuffer: 16 << 20 });
    } catch (error) {
      const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message)
        .trim()
        .split('\n')
        .slice(-5)
        .join('\n    ');
      throw new StewardError(`etcdutl snapshot restore failed for member ${member.name}:\n    ${stderr}`, {
        hint: `the half-built cluster is in ${spec.dataDir}; remove it before trying again`,
        cause: error,
      });
    }
  });
}

/** Runs `work` on every item, at most `limit` at once; rejects with the first failure once all settled. */
async function inPool<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

class DigestBuilder {
  keyCount = 0;
  private readonly hash: Hash = createHash('sha256');
  add(key: Buffer, value: Buffer): void {
    if (key.subarray(0, STEWARD_KEY_PREFIX.length).toString() === STEWARD_KEY_PREFIX) return;
    const lengths = Buffer.alloc(8);
    lengths.writeUInt32BE(key.length, 0);
    lengths.writeUInt32BE(value.length, 4);
    this.hash.update(lengths).update(key).update(value);
    this.keyCount += 1;
  }
  digest(): KeyspaceDigest {
    return { keyCount: this.keyCount, sha256: this.hash.digest('hex') };
  }
}

/** The digest of a snapshot file's live keys, and what GreptimeDB keeps among them, in one offline pass. */
export async function digestSnapshot(
  file: string,
): Promise<KeyspaceDigest & { greptime: GreptimeSummary | undefined }> {
  const snapshot = await openSnapshot(file);
  try {
    const digest = new DigestBuilder();
    async function* hashed() {
      for await (const kv of snapshot.keyValues()) {
        digest.add(kv.key, kv.value);
        yield kv;
      }
    }
    const greptime = await greptimeSummary(hashed());
    return { ...digest.digest(), greptime };
  } finally {
    await snapshot.close();
  }
}

/** The digest of a running cluster's keyspace, read through one member at one revision. */
export async function digestLive(endpoint: string, connection: ConnectionOptions): Promise<KeyspaceDigest> {
  const client = new MemberClient(parseEndpoint(endpoint), connection);
  try {
    const digest = new DigestBuilder();
    for await (const kv of client.scan()) digest.add(kv.key, kv.value);
    return digest.digest();
  } finally {
    client.close();
  }
}

/**
 * How the live cluster compares with the snapshot. Revisions alone cannot tell (our own lock's
 * deletion follows every backup), so the keyspaces are compared, our bookkeeping keys left out —
 * only when a live cluster answers (then the snapshot's keys are read once more for the digest).
 */
async function revisionGap(
  live: NonNullable<RestoreOptions['live']>,
  file: string,
  snapshotRevision: number,
): Promise<RevisionGap | undefined> {
  const status = await clusterStatus({ endpoints: [...live.endpoints], connection: live.connection });
  const member = status.members.find((m) => m.health.ok);
  if (!member) return undefined; // unreachable: nothing live to lose
  const client = new MemberClient(parseEndpoint(member.endpoint), live.connection);
  try {
    const { revision } = await client.countKeys();
    const keysChangedSince =
      revision > snapshotRevision ? await client.countChangedSince(snapshotRevision) : 0;
    const [liveDigest, snapshotDigest] = await Promise.all([
      digestLive(member.endpoint, live.connection),
      digestSnapshot(file),
    ]);
    const differs =
      liveDigest.sha256 !== snapshotDigest.sha256 || liveDigest.keyCount !== snapshotDigest.keyCount;
    return {
      endpoint: member.endpoint,
      liveRevision: revision,
      snapshotRevision,
      keysChangedSince,
      differs,
    };
  } finally {
    client.close();
  }
}
