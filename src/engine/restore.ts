/**
 * Restore: check the snapshot before touching anything, build every member's data dir with the
 * target line's own `etcdutl snapshot restore` (new cluster token, the spec's membership), start
 * the new cluster on the local runtime, and compare its keyspace with the snapshot's.
 *
 * It never writes into a data dir that holds anything and never stops a running cluster unless
 * asked (`replace`), and then moves the old data aside instead of deleting it.
 */
import { createHash, type Hash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readdir, rename } from 'node:fs/promises';
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
import { openSnapshot } from '../snapshot/index.js';
import { checkSnapshotFile, requireTrailer, type SnapshotFacts } from './backup/snapshot-facts.js';
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
  readonly snapshot: {
    readonly file: string;
    readonly revision: number;
    readonly trailer: string;
  } & KeyspaceDigest;
  /** GreptimeDB's metadata in the snapshot (catalogs, schemas, tables, flows), when there is any. */
  readonly greptime: GreptimeSummary | undefined;
  /** The restored cluster's keyspace; undefined when nothing was started (`into`). */
  readonly restored: KeyspaceDigest | undefined;
  readonly match: boolean | undefined;
  readonly gap: RevisionGap | undefined;
  /** Where the replaced cluster's data was moved (`replace`). */
  readonly movedAside: string | undefined;
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
  readonly onProgress?: (message: string) => void;
  readonly signal?: AbortSignal;
}

/** A snapshot that is not whole: nothing was touched. */
export class RestoreRefusedError extends StewardError {}

export async function restoreSnapshot(options: RestoreOptions): Promise<RestoreResult> {
  const say = options.onProgress ?? (() => undefined);
  // 1. The snapshot first: a damaged one is refused before any folder is created.
  const facts = await checkSnapshotFile(options.file);
  if (facts.problems.length > 0) {
    throw new RestoreRefusedError(`refusing to restore ${options.file}: ${facts.problems.join('; ')}`, {
      hint: 'nothing was created or changed; pick another backup (`etcd-steward backup list`)',
    });
  }
  requireTrailer(options.file, facts, options.skipHashCheck);
  const { greptime, ...snapshotDigest } = await digestSnapshot(options.file);
  say(`snapshot ok: revision ${facts.revision}, ${snapshotDigest.keyCount} keys, trailer ${facts.trailer}`);

  // 2. What the live cluster would lose.
  const gap = options.live ? await revisionGap(options.live, facts, snapshotDigest) : undefined;
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
  const state = await runtime.plan(ports);
  say(
    `building ${state.members.length} member data dirs with ${path.basename(options.binaries.etcdutl)} ${options.binaries.version}`,
  );
  await buildMembers(options.binaries, options.file, facts, spec, state);
  const endpoints = await runtime.endpoints();
  if (options.target.kind === 'into') {
    return {
      target: 'into',
      name: spec.name,
      dataDir: spec.dataDir,
      started: false,
      endpoints,
      snapshot: { file: options.file, revision: facts.revision, trailer: facts.trailer, ...snapshotDigest },
      greptime,
      restored: undefined,
      match: undefined,
      gap,
      movedAside,
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
  const restored = await digestLive(endpoints[0] as string, options.connection);
  const match = restored.keyCount === snapshotDigest.keyCount && restored.sha256 === snapshotDigest.sha256;
  return {
    target: options.target.kind,
    name: spec.name,
    dataDir: spec.dataDir,
    started: true,
    endpoints,
    snapshot: { file: options.file, revision: facts.revision, trailer: facts.trailer, ...snapshotDigest },
    greptime,
    restored,
    match,
    gap,
    movedAside,
  };
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

/** Runs `etcdutl snapshot restore` once per member, with the new membership and token. */
async function buildMembers(
  binaries: EtcdBinaries,
  file: string,
  facts: SnapshotFacts,
  spec: Spec,
  state: LocalClusterState,
): Promise<void> {
  const initialCluster = state.members.map((m) => `${m.name}=${peerUrl(state, m)}`).join(',');
  await Promise.all(
    state.members.map(async (member) => {
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
        ...(facts.trailer === 'absent' ? ['--skip-hash-check'] : []),
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
    }),
  );
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
 * deletion follows every backup), so the keyspaces are compared, our bookkeeping keys left out.
 */
async function revisionGap(
  live: NonNullable<RestoreOptions['live']>,
  facts: SnapshotFacts,
  snapshotDigest: KeyspaceDigest,
): Promise<RevisionGap | undefined> {
  const status = await clusterStatus({ endpoints: [...live.endpoints], connection: live.connection });
  const member = status.members.find((m) => m.health.ok);
  if (!member) return undefined; // unreachable: nothing live to lose
  const client = new MemberClient(parseEndpoint(member.endpoint), live.connection);
  try {
    const { revision } = await client.countKeys();
    const keysChangedSince = revision > facts.revision ? await client.countChangedSince(facts.revision) : 0;
    const liveDigest = await digestLive(member.endpoint, live.connection);
    const differs =
      liveDigest.sha256 !== snapshotDigest.sha256 || liveDigest.keyCount !== snapshotDigest.keyCount;
    return {
      endpoint: member.endpoint,
      liveRevision: revision,
      snapshotRevision: facts.revision,
      keysChangedSince,
      differs,
    };
  } finally {
    client.close();
  }
}
