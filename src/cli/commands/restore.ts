/**
 * `etcd-steward restore <backup|latest|file> [--new-cluster NAME | --into DIR | --replace] [--yes]`:
 * check first, build every member from the snapshot, start, compare, and say what is left to do.
 */
import { parseSpec } from '../../config/load.js';
import { parseDuration } from '../../config/units.js';
import type { Spec } from '../../config/spec.js';
import { localSnapshot } from '../../engine/backup/fetch.js';
import { keysFor } from '../../engine/backup/spec-keys.js';
import { restoreSnapshot, type RestoreResult, type RestoreTarget } from '../../engine/restore.js';
import { describeGreptime, type GreptimeSummary } from '../../greptime/key-layout.js';
import { InputError, StewardError } from '../../errors.js';
import { resolveEtcd } from '../../runtime/etcd-binaries.js';
import { clusterTarget, connectionFor, loadSpec, type GlobalOptions } from '../context.js';
import { printJson, progress, renderTable } from '../output.js';
import { byteProgress } from '../progress.js';
import { storageFor } from '../context.js';

export interface RestoreOptions extends GlobalOptions {
  readonly storage?: string;
  readonly newCluster?: string;
  readonly into?: string;
  readonly replace?: boolean;
  readonly yes?: boolean;
  /** Accept a snapshot file without etcd's SHA-256 trailer. */
  readonly skipHashCheck?: boolean;
  readonly toRevision?: string;
  readonly toTime?: string;
  /** Point in time: replay through a throwaway etcd member instead of the offline fold. */
  readonly replayThroughEtcd?: boolean;
  /** An age identity file for an encrypted backup. */
  readonly identity?: string;
  /** `kubernetes`: print the new cluster's manifests (init containers restore each member). */
  readonly runtime?: string;
  /** With --runtime kubernetes: apply the manifests instead of printing them. */
  readonly apply?: boolean;
  /** With --runtime kubernetes: re-point this GreptimeDBCluster (NAME[.NAMESPACE]) once ready. */
  readonly greptimedb?: string;
  /** With --runtime kubernetes: the backup's SHA-256, when the catalog is not readable from here. */
  readonly sha256?: string;
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly wait?: boolean;
  readonly timeout?: string;
}

function targetOf(options: RestoreOptions, spec: Spec): RestoreTarget {
  const chosen = [
    options.newCluster !== undefined,
    options.into !== undefined,
    options.replace === true,
  ].filter(Boolean);
  if (chosen.length > 1) throw new InputError('choose one of --new-cluster, --into and --replace');
  if (options.into !== undefined) return { kind: 'into', dir: options.into };
  if (options.replace) return { kind: 'replace' };
  const name = options.newCluster ?? `${spec.name}-restored`;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) {
    throw new InputError(`--new-cluster '${name}': use lower-case letters, digits and dashes`);
  }
  return { kind: 'new-cluster', name };
}

/** The cluster the snapshot would replace, if we can find it: --endpoints, else the spec's. */
async function liveCluster(options: RestoreOptions, spec: Spec | undefined) {
  try {
    const target = await clusterTarget(options);
    const endpoints =
      typeof target.endpoints === 'string' ? target.endpoints.split(',') : [...target.endpoints];
    return { endpoints, connection: connectionFor(options, spec) };
  } catch (error) {
    if (error instanceof InputError) return undefined; // no spec, or a local cluster never started
    throw error;
  }
}

/**
 * Restores `reference` (a backup name, latest, or a snapshot file). With --to-revision/--to-time
 * it may be undefined: the newest backup whose chain reaches the target is picked.
 */
export async function restoreCommand(
  reference: string | undefined,
  options: RestoreOptions,
): Promise<number> {
  const pointInTimeAsked = options.toRevision !== undefined || options.toTime !== undefined;
  if (reference === undefined && (!pointInTimeAsked || options.runtime === 'kubernetes')) {
    throw new InputError('restore what? name a backup, latest, or a snapshot file', {
      hint: 'e.g. `etcd-steward restore latest`; only a local point-in-time restore (--to-revision R, --to-time T) picks its backup itself',
    });
  }
  // Defined on every path but a point-in-time one, where latest means "the newest chain that reaches the target".
  const named = reference ?? 'latest';
  if (options.runtime === 'kubernetes') return restoreKubernetes(named, options);
  if (options.runtime !== undefined && options.runtime !== 'local') {
    throw new InputError(`--runtime '${options.runtime}': use local (the default) or kubernetes`);
  }
  const spec = (await loadSpec(options, false)) ?? parseSpec('', undefined);
  const target = targetOf(options, spec);
  const binaries = await resolveEtcd(spec.etcd.version, options.etcdBin ?? spec.etcd.bin);
  const pitr = await import('./restore-pitr.js');
  const pointInTime = pitr.pointInTimeTarget(options);
  if (pointInTime) {
    return pitr.pointInTimeCommand(named, options, {
      spec,
      target,
      pointInTime,
      binaries,
      connection: connectionFor({ ...options, endpoints: undefined }, spec),
      live: await liveCluster(options, spec),
    });
  }
  const bar = await byteProgress(options.output, 'fetch');
  const hasStorage = options.storage !== undefined || spec.backup?.storage !== undefined;
  const snapshot = await localSnapshot(named, hasStorage ? () => storageFor(options, spec) : undefined, {
    onBytes: (bytes, total) => bar.update(bytes, total),
    keys: await keysFor(options, spec),
  }).finally(() => bar.stop());
  try {
    const result = await restoreSnapshot({
      file: snapshot.file,
      spec,
      binaries,
      connection: connectionFor({ ...options, endpoints: undefined }, spec),
      target,
      live: await liveCluster(options, spec),
      yes: options.yes === true,
      // A cataloged backup without a trailer was accepted at import with --skip-hash-check.
      skipHashCheck: options.skipHashCheck === true || snapshot.manifest?.etcdSha256 === null,
      fetchedFrom: snapshot.manifest,
      onProgress: (message) => progress(options.output, message),
    });
    if (options.output === 'json') printJson({ backup: snapshot.manifest?.name ?? null, ...result });
    else process.stdout.write(`${formatRestore(result, snapshot.manifest?.name)}\n`);
    if (result.match === false) {
      throw new StewardError(
        `the restored cluster does not hold what the snapshot holds: ${result.restored?.problem ?? 'key count or content differ'}`,
        {
          hint: `the restored cluster is left running in ${result.dataDir} for inspection; compare with \`etcd-steward snapshot diff\``,
        },
      );
    }
    return 0;
  } finally {
    await snapshot.dispose();
  }
}

function formatRestore(result: RestoreResult, backup: string | undefined): string {
  const rows: [string, string][] = [
    ['source', backup ?? result.snapshot.file],
    [
      'snapshot',
      `revision ${result.snapshot.revision}, ${result.snapshot.keyCount} keys, trailer ${result.snapshot.trailer}`,
    ],
    ['cluster', `${result.name} (${result.target}), data in ${result.dataDir}`],
  ];
  if (result.movedAside) rows.push(['old data', `moved aside to ${result.movedAside}`]);
  if (result.started) {
    rows.push(['endpoints', result.endpoints.join(',')]);
    rows.push(['check', describeCheck(result)]);
  } else {
    rows.push([
      'next',
      `start it with a spec whose dataDir is ${result.dataDir} (etcd-steward up), or copy the member folders to their hosts`,
    ]);
  }
  if (result.gap?.differs) {
    rows.push([
      'lost',
      `${result.gap.keysChangedSince} keys changed on the live cluster after revision ${result.gap.snapshotRevision}`,
    ]);
  }
  let text = renderTable(['RESTORE', ''], rows);
  if (result.greptime) text += `\n${greptimeNextSteps(result)}`;
  return text;
}

/** The comparison of the restored cluster with the snapshot, in one line. */
function describeCheck(result: RestoreResult): string {
  const restored = result.restored;
  if (!restored) return '-';
  if (!result.match) return `MISMATCH: ${restored.problem ?? ''}`;
  if (restored.method === 'keyspace')
    return `ok: the restored cluster holds the same ${restored.keyCount} keys (SHA-256 over keys and values matches)`;
  return `ok: all ${restored.members.length} members answer HashKV ${result.snapshot.hashKv?.hash ?? ''} at revision ${result.snapshot.revision}, as the snapshot (${restored.keyCount} keys)`;
}

/** What is left to do for GreptimeDB after its metadata was restored (its restore guide's steps). */
export function greptimeNextSteps(result: RestoreResult): string {
  const endpoints = result.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',');
  return [
    `GreptimeDB metadata in this snapshot: ${describeGreptime(result.greptime as GreptimeSummary)}.`,
    'Left to do:',
    `  1. point metasrv at the restored cluster: store_addrs = [${result.endpoints.map((e) => `"${e.replace(/^https?:\/\//, '')}"`).join(', ')}] in its TOML (or --store-addrs ${endpoints});`,
    `     with the operator: set spec.meta.backendStorage.etcd.endpoints of the GreptimeDBCluster (the operator then rolls metasrv)`,
    '  2. restart metasrv: its leader caches catalogs, schemas, tables and routes',
    "  3. as GreptimeDB's restore guide says: set the next table id (POST /admin/sequence/table/set-next-id), then run table reconciliation",
  ].join('\n');
}

/** `restore … --runtime kubernetes --new-cluster NAME`: the new cluster's manifests as one YAML stream. */
async function restoreKubernetes(reference: string, options: RestoreOptions): Promise<number> {
  const spec = await loadSpec(options, true);
  if (!spec) return 2;
  if (options.into !== undefined || options.replace) {
    throw new InputError('with --runtime kubernetes, restore into a new cluster: --new-cluster NAME', {
      hint: 'the old StatefulSet is left running; point the clients at the new one once it is ready',
    });
  }
  const { renderRestore } = await import('../../runtime/kubernetes/render-restore.js');
  const { toYamlStream } = await import('../../runtime/kubernetes/render.js');
  const { agentImageWarnings } = await import('../../runtime/kubernetes/render-images.js');
  for (const warning of agentImageWarnings(spec.kubernetes?.agentImage, spec.etcd.version))
    process.stderr.write(`warning: ${warning}\n`);
  const pin = await pinBackup(reference, options, spec);
  const objects = renderRestore(spec, {
    backup: pin.name,
    sha256: pin.sha256,
    newClusterName: options.newCluster ?? `${spec.name}-restored`,
    ...(options.storage !== undefined ? { storage: options.storage } : {}),
  });
  if (options.apply || options.greptimedb !== undefined) return applyRestore(objects, options);
  process.stdout.write(toYamlStream(objects));
  process.stderr.write(
    `apply with kubectl apply -f - (or etcd-steward apply); the members of the new cluster restore ${pin.name} (SHA-256 ${pin.sha256}) once, while it is being created\n`,
  );
  return 0;
}

/**
 * The backup a Kubernetes restore is pinned to: `reference` (a name or latest) resolved in the
 * catalog to one name and the SHA-256 of its stored object; with --sha256, the name as given.
 */
async function pinBackup(
  reference: string,
  options: RestoreOptions,
  spec: Spec,
): Promise<{ name: string; sha256: string }> {
  if (options.sha256 !== undefined) {
    if (reference === 'latest')
      throw new InputError('--sha256 pins one backup: name it instead of latest', {
        hint: '`etcd-steward backup list` shows the names',
      });
    return { name: reference, sha256: options.sha256 };
  }
  const { findBackup, readCatalog } = await import('../../engine/backup/catalog.js');
  let manifest;
  try {
    manifest = findBackup(await readCatalog(await storageFor(options, spec)), reference);
  } catch (error) {
    if (error instanceof InputError && /no backup named|no backups/.test(error.message)) throw error;
    throw new StewardError(
      `cannot read the backup catalog here to pin ${reference}: ${(error as Error).message}`,
      {
        hint: 'a Kubernetes restore is pinned to one backup and its SHA-256: pass --storage URL as seen from here, or name the backup and give --sha256 HEX (from `etcd-steward backup list -o json` where the storage is mounted)',
        cause: error,
      },
    );
  }
  return { name: manifest.name, sha256: manifest.sha256 };
}

/** `--apply` / `--greptimedb`: apply the restore objects, wait, and re-point GreptimeDB. */
async function applyRestore(
  objects: Parameters<typeof import('../../greptime/restore-on-kubernetes.js').restoreOnKubernetes>[0],
  options: RestoreOptions,
): Promise<number> {
  const { restoreOnKubernetes } = await import('../../greptime/restore-on-kubernetes.js');
  const { printApplyResult } = await import('./apply.js');
  const result = await restoreOnKubernetes(objects, {
    kubeconfig: options.kubeconfig,
    context: options.context,
    wait: options.wait,
    timeoutMs: options.timeout === undefined ? undefined : parseDuration(options.timeout),
    greptimedb: options.greptimedb,
    onProgress: (line) => progress(options.output, `waiting: ${line}`),
  });
  if (options.output === 'json') {
    printJson(result);
    return 0;
  }
  printApplyResult(result.applied, options);
  process.stdout.write(`new cluster's client endpoint: ${result.endpoint}\n`);
  if (result.repoint) (await import('./greptimedb.js')).printRepointResult(result.repoint, options);
  return 0;
}
