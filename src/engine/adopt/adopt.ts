/**
 * `adopt bitnami`: move a running Bitnami etcd release under etcd-steward without touching it.
 * Read the release through the API; take a verified backup from its members (read-only); render
 * our cluster under names that collide with nothing; restore that backup (pinned by name) into
 * it; wait until it is healthy and its keyspace equals the snapshot's; only then re-point the
 * GreptimeDBCluster; and name what is left of the release to delete. Every step can be rerun:
 * the progress is recorded in a ConfigMap of ours (record.ts), so a rerun after a crash reuses
 * the backup it took and continues. A failure before the last step leaves GreptimeDB where it was.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { mapBitnamiValues, mergeValues, readValuesFiles } from '../../config/import-bitnami.js';
import { parseSpec } from '../../config/load.js';
import type { Spec } from '../../config/spec.js';
import { s3SettingsFrom } from '../../config/storage-settings.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../../etcd/member-client.js';
import { InputError, StewardError } from '../../errors.js';
import { greptimeClustersUsing } from '../../greptime/find-clusters.js';
import { parseClusterRef, repointGreptimeDb, type RepointResult } from '../../greptime/repoint.js';
import {
  leftoverCommands,
  memberDnsUrls,
  readBitnamiRelease,
  ReleaseMembers,
  type BitnamiRelease,
  type ReleaseObject,
} from '../../runtime/kubernetes/adopt-release.js';
import { applyObjects, type AppliedObject, type KubeObject } from '../../runtime/kubernetes/apply.js';
import {
  loadKubeConfig,
  objectApi,
  readLive,
  type KubeTarget,
} from '../../runtime/kubernetes/kube-client.js';
import { renderAgentConfig } from '../../runtime/kubernetes/render-agent.js';
import { renderRestore } from '../../runtime/kubernetes/render-restore.js';
import { clusterNames } from '../../runtime/kubernetes/render-types.js';
import { KubernetesRuntime } from '../../runtime/kubernetes/runtime.js';
import { openStorage } from '../../storage/open.js';
import type { BackupStorage } from '../../storage/storage.js';
import { readCatalog, takenNames } from '../backup/catalog.js';
import { createBackup } from '../backup/create.js';
import { fetchBackup } from '../backup/fetch.js';
import { isVerified, uniqueBackupName, type BackupManifest } from '../backup/manifest.js';
import { digestLive, digestSnapshot, type KeyspaceDigest } from '../restore.js';
import { clusterStatus } from '../status.js';
import { readRecord, writeRecord, type AdoptPhase, type AdoptRecord } from './record.js';

/** Annotation on every object adopt creates: which release it was adopted from. */
export const ADOPTED_FROM = 'etcd-steward.io/adopted-from';
const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const POLL_MS = 2000;

export interface AdoptOptions extends KubeTarget {
  readonly release: string;
  readonly namespace: string;
  /** The chart's values files, as installed (they go on top of what the StatefulSet shows). */
  readonly values?: readonly string[];
  /** The new cluster's name (default: FULLNAME-steward, or the first free FULLNAME-steward-N). */
  readonly name?: string;
  /** Where the backup goes, as reachable from here (default: the values' backup storage). */
  readonly storage?: string;
  /** For file storage: the PVC holding it, which the restore pods mount. */
  readonly backupClaim?: string;
  /** `NAME[.NAMESPACE]` of the GreptimeDBCluster to re-point last. */
  readonly greptimedb?: string;
  /** TLS and timeouts for the members; the root password is read from the release's Secret. */
  readonly connection: ConnectionOptions;
  /** Reach the release's members at these URLs (default: Service DNS in a pod, port-forward outside). */
  readonly sourceEndpoints?: readonly string[];
  /** Reach the new cluster's members at these URLs (same defaults). */
  readonly targetEndpoints?: readonly string[];
  /** Inside the cluster (default: when KUBERNETES_SERVICE_HOST is set). */
  readonly inCluster?: boolean;
  readonly dryRun?: boolean;
  /** Re-point although the release's keyspace changed after the backup (those changes are lost). */
  readonly acceptChanges?: boolean;
  /** For the new cluster to become ready, healthy and equal (default 10 minutes). */
  readonly timeoutMs?: number;
  readonly onProgress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** One step of the move and what became of it. */
export interface AdoptStep {
  readonly step: 'read' | 'snapshot' | 'apply' | 'verify' | 'repoint';
  readonly outcome: 'done' | 'reused' | 'planned' | 'skipped';
  readonly detail: string;
}

export interface AdoptResult {
  readonly dryRun: boolean;
  readonly release: {
    readonly name: string;
    readonly namespace: string;
    readonly statefulSet: string;
    readonly members: readonly string[];
    readonly auth: boolean;
    readonly objects: readonly ReleaseObject[];
  };
  readonly newCluster: { readonly name: string; readonly namespace: string; readonly endpoint: string };
  readonly steps: readonly AdoptStep[];
  /** The backup the new cluster is restored from (with dryRun: the name it would get). */
  readonly backup:
    | { readonly name: string; readonly sha256: string | undefined; readonly revision: number | undefined }
    | undefined;
  /** The snapshot's keyspace and the new cluster's, once compared. */
  readonly digest: { readonly snapshot: KeyspaceDigest; readonly restored: KeyspaceDigest } | undefined;
  /** Keys the release changed after the backup (lost by the move). */
  readonly changedSinceBackup: number | undefined;
  readonly objects: readonly AppliedObject[];
  readonly repoint: RepointResult | undefined;
  /** The commands that remove what is left of the release, once GreptimeDB runs on the new cluster. */
  readonly leftovers: readonly string[];
  /** steward.yaml of the new cluster (no secrets), for `render kubernetes` and the agent. */
  readonly spec: Record<string, unknown>;
  readonly warnings: readonly string[];
}

/** The move; see the module comment. */
export async function adoptBitnami(options: AdoptOptions): Promise<AdoptResult> {
  const say = options.onProgress ?? (() => undefined);
  const target: KubeTarget = { kubeconfig: options.kubeconfig, context: options.context };
  const greptime = options.greptimedb === undefined ? undefined : parseClusterRef(options.greptimedb);
  const release = await readBitnamiRelease(target, options.release, options.namespace);
  say(
    `release ${release.namespace}/${release.release}: StatefulSet ${release.fullname}, ${release.replicas} members`,
  );
  const record = await readRecord(target, release.release, release.namespace);
  const newName = record?.newCluster ?? (await freeName(target, release, options.name));
  if (record && options.name !== undefined && options.name !== record.newCluster)
    throw new InputError(
      `an earlier adopt of ${release.release} chose the new cluster name ${record.newCluster}, not ${options.name}`,
      { hint: `rerun without --name (or with --name ${record.newCluster}) to continue that move` },
    );
  const { spec, doc, warnings } = await buildSpec(release, newName, options);
  const users = await greptimeUsers(target, release, newName, greptime);
  const storageUrl = spec.backup?.storage as string;
  const storage = await openStorage(storageUrl, { s3: s3SettingsFrom(spec) });
  const connection: ConnectionOptions = release.auth
    ? { ...options.connection, user: 'root', password: release.auth.password }
    : options.connection;
  const newNames = clusterNames(spec, newName);
  const endpoint = newNames.serviceAddress();
  const steps: AdoptStep[] = [
    {
      step: 'read',
      outcome: 'done',
      detail: `${release.objects.length} objects of the release; ${release.auth ? `root password from Secret ${release.auth.secret}` : 'no authentication'}${record ? `; continuing the move recorded in ConfigMap etcd-steward-adopt-${release.release} (${record.phase ?? 'started'})` : ''}`,
    },
  ];
  const source = await sourceEndpoints(release, spec, options);
  // The record only moves forward: a rerun of a finished move does not set it back.
  const order: readonly AdoptPhase[] = ['snapshot-taken', 'applied', 'verified', 'repointed'];
  let reached = record?.phase;
  let recorded = record?.backup;
  const advance = async (phase: AdoptPhase, backup: string) => {
    if (recorded === backup && reached !== undefined && order.indexOf(reached) >= order.indexOf(phase))
      return;
    await writeRecord(target, { ...base(release, newName), backup, phase });
    reached = phase;
    recorded = backup;
  };
  try {
    // 1. The backup: the one recorded by an earlier run when it still fits, else a new one.
    const reuse = await reusableBackup(
      record,
      storage,
      target,
      newName,
      release.namespace,
      source.endpoints,
      connection,
    );
    let manifest: BackupManifest | undefined = reuse?.manifest;
    if (reuse)
      steps.push({ step: 'snapshot', outcome: 'reused', detail: `${reuse.manifest.name} (${reuse.why})` });
    if (options.dryRun) {
      const status = await clusterStatus({ endpoints: [...source.endpoints], connection });
      const healthy = status.members.filter((m) => m.health.ok).length;
      // A storage location that does not exist yet is created by the first backup.
      const taken = await takenNames(storage).catch(() => new Set<string>());
      const name = manifest?.name ?? uniqueBackupName(taken, release.fullname, new Date());
      if (!manifest)
        steps.push({
          step: 'snapshot',
          outcome: 'planned',
          detail: `${name} into ${storageUrl}, from one of ${healthy}/${status.members.length} healthy members`,
        });
      // A dry run has no backup yet: its SHA-256 is pinned once taken; the server validates the shape.
      const objects = renderObjects(spec, release, newName, name, manifest?.sha256 ?? PENDING_SHA256);
      const applied = await applyObjects(objects, { ...target, dryRun: 'server' });
      steps.push({
        step: 'apply',
        outcome: 'planned',
        detail: `${objects.length} objects (validated by the server, nothing stored); the StatefulSet restores ${name}`,
      });
      steps.push({
        step: 'verify',
        outcome: 'planned',
        detail: `until ${newName} is healthy and its keys equal the snapshot's`,
      });
      const repoint = greptime
        ? await repointGreptimeDb({ ...target, ...greptime, endpoints: [endpoint], dryRun: 'server' })
        : undefined;
      steps.push(repointStep(repoint, greptime, users, true));
      return result(
        true,
        { name, sha256: manifest?.sha256, revision: manifest?.revision },
        undefined,
        undefined,
        applied.objects,
        repoint,
      );
    }

    if (!manifest) {
      say(`taking a backup of ${release.fullname} into ${storageUrl}`);
      manifest = await createBackup({
        clusterName: release.fullname,
        endpoints: source.endpoints,
        connection,
        storage,
        compression: spec.backup?.compression ?? 'gzip',
        specQuota: spec.etcd.quotaBackendBytes,
        signal: options.signal,
      });
      steps.push({
        step: 'snapshot',
        outcome: 'done',
        detail: `${manifest.name}: revision ${manifest.revision}, ${manifest.keyCount} keys, SHA-256 ${manifest.sha256.slice(0, 12)}…, checked (etcd's trailer, bolt pages)`,
      });
      await advance('snapshot-taken', manifest.name);
    }
    const snapshotDigest = await digestOf(storage, manifest, options.signal);

    // 2. Our cluster, restored from exactly that backup.
    const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const objects = renderObjects(spec, release, newName, manifest.name, manifest.sha256);
    say(
      `applying ${objects.length} objects of ${newName} (restored from ${manifest.name}) and waiting until ready`,
    );
    const applied = await applyObjects(objects, {
      ...target,
      wait: true,
      timeoutMs: Math.max(1000, deadline - Date.now()),
      onProgress: (line) => say(`waiting: ${line}`),
      signal: options.signal,
    });
    await advance('applied', manifest.name);
    steps.push({
      step: 'apply',
      outcome: 'done',
      detail: `${objects.length} objects; the StatefulSet ${newName} is ready`,
    });

    // 3. Healthy and equal to the snapshot, or GreptimeDB stays where it is.
    const targets = await targetEndpoints(spec, newName, options);
    const restored = await waitEqual(
      targets.endpoints,
      connection,
      snapshotDigest,
      deadline,
      newName,
      say,
      options.signal,
    ).finally(() => targets.close());
    await advance('verified', manifest.name);
    steps.push({
      step: 'verify',
      outcome: 'done',
      detail: `${restored.keyCount} keys, key digest ${restored.sha256.slice(0, 12)}… equals the snapshot's`,
    });

    // 4. Nothing lost since the backup? Then, and only then, re-point.
    const changed = await changedSince(source.endpoints, connection, manifest.revision);
    if (changed > 0 && greptime && !options.acceptChanges)
      throw new StewardError(
        `the release's etcd changed ${changed} key(s) after the backup ${manifest.name} (revision ${manifest.revision}): re-pointing GreptimeDB now would lose them`,
        {
          hint: `stop writes first (scale the GreptimeDB metasrv to 0), delete the new cluster (kubectl -n ${release.namespace} delete statefulset ${newName}; kubectl -n ${release.namespace} delete pvc -l app.kubernetes.io/instance=${newName}; kubectl -n ${release.namespace} delete configmap etcd-steward-adopt-${release.release}) and rerun; or pass --accept-changes to re-point anyway — GreptimeDB still uses the old cluster`,
        },
      );
    const repoint = greptime
      ? await repointGreptimeDb({ ...target, ...greptime, endpoints: [endpoint] })
      : undefined;
    if (repoint) await advance('repointed', manifest.name);
    steps.push(repointStep(repoint, greptime, users, false));
    return result(
      false,
      { name: manifest.name, sha256: manifest.sha256, revision: manifest.revision },
      { snapshot: snapshotDigest, restored },
      changed,
      applied.objects,
      repoint,
    );
  } finally {
    await source.close();
  }

  function result(
    dryRun: boolean,
    backup: AdoptResult['backup'],
    digest: AdoptResult['digest'],
    changedSinceBackup: number | undefined,
    objects: readonly AppliedObject[],
    repoint: RepointResult | undefined,
  ): AdoptResult {
    return {
      dryRun,
      release: {
        name: release.release,
        namespace: release.namespace,
        statefulSet: release.fullname,
        members: release.memberNames,
        auth: release.auth !== undefined,
        objects: release.objects,
      },
      newCluster: { name: newName, namespace: release.namespace, endpoint },
      steps,
      backup,
      digest,
      changedSinceBackup,
      objects,
      repoint,
      leftovers: leftoverCommands(release),
      spec: doc,
      warnings,
    };
  }
}

function base(release: BitnamiRelease, newCluster: string): Omit<AdoptRecord, 'backup' | 'phase'> {
  return { release: release.release, namespace: release.namespace, newCluster };
}

function repointStep(
  repoint: RepointResult | undefined,
  greptime: { name: string } | undefined,
  users: readonly string[],
  dryRun: boolean,
): AdoptStep {
  if (!greptime) {
    const hint = users.map((u) => u.split('/').reverse().join('.')).join(' or ');
    return {
      step: 'repoint',
      outcome: 'skipped',
      detail: users.length
        ? `no --greptimedb given; using the release: ${users.join(', ')} (rerun with --greptimedb ${hint})`
        : 'no --greptimedb given, and no GreptimeDBCluster names the release in its etcd endpoints',
    };
  }
  const detail = repoint
    ? `GreptimeDBCluster ${repoint.cluster} ${repoint.field}: ${repoint.oldEndpoints.join(',') || '(none)'} → ${repoint.newEndpoints.join(',')}${repoint.changed ? '' : ' (already)'}`
    : '';
  return { step: 'repoint', outcome: dryRun ? 'planned' : 'done', detail };
}

/**
 * The GreptimeDBClusters that use the release; `--greptimedb` must be one of them, or already on
 * the new cluster (a rerun), so that no other GreptimeDB is ever pointed at this data.
 */
async function greptimeUsers(
  target: KubeTarget,
  release: BitnamiRelease,
  newName: string,
  greptime: { name: string; namespace: string | undefined } | undefined,
): Promise<string[]> {
  const old = {
    namespace: release.namespace,
    services: [release.fullname, release.headlessService],
    members: release.memberNames,
    headless: release.headlessService,
  };
  const users = await greptimeClustersUsing(target, old);
  if (!greptime) return users;
  const wanted = `${greptime.namespace ?? 'default'}/${greptime.name}`;
  if (users.includes(wanted)) return users;
  const moved = await greptimeClustersUsing(target, {
    namespace: release.namespace,
    services: [newName, `${newName}-headless`],
    members: release.memberNames.map((_, i) => `${newName}-${i}`),
    headless: `${newName}-headless`,
  });
  if (moved.includes(wanted)) return users;
  throw new InputError(
    `GreptimeDBCluster ${wanted} does not keep its metadata in the release ${release.namespace}/${release.release} (none of its etcd endpoints names ${release.fullname} or its pods)`,
    {
      hint: users.length
        ? `the GreptimeDBClusters that use the release: ${users.join(', ')}`
        : 'no GreptimeDBCluster names the release; leave out --greptimedb and re-point by hand (etcd-steward greptimedb repoint)',
    },
  );
}

/**
 * The new cluster's spec: the chart values the StatefulSet shows, the values files on top, mapped
 * by `import bitnami`; then named, placed in the release's namespace and given the backup storage.
 */
async function buildSpec(
  release: BitnamiRelease,
  newName: string,
  options: AdoptOptions,
): Promise<{ spec: Spec; doc: Record<string, unknown>; warnings: string[] }> {
  const files = options.values ?? [];
  const values =
    files.length > 0 ? mergeValues(release.values, await readValuesFiles(files)) : release.values;
  const imported = mapBitnamiValues(values);
  const doc = structuredClone(imported.spec);
  const kubernetes: Record<string, unknown> = {
    ...((doc['kubernetes'] as Record<string, unknown> | undefined) ?? {}),
    namespace: release.namespace,
  };
  doc['name'] = release.fullname;
  if (release.auth) {
    doc['auth'] = { user: 'root', passwordEnv: 'ETCD_ROOT_PASSWORD' };
    kubernetes['authSecret'] = `${newName}-auth`;
  } else {
    delete doc['auth'];
    delete kubernetes['authSecret'];
  }
  const storage = options.storage ?? (doc['backup'] as { storage?: string } | undefined)?.storage;
  if (!storage)
    throw new InputError('no backup storage to put the snapshot of the release in', {
      hint: 'pass --storage s3://BUCKET/PREFIX (reachable from here and from the pods), or --storage file:///DIR with --backup-claim PVC when DIR is that volume',
    });
  doc['backup'] = { ...(doc['backup'] ?? {}), storage };
  if (options.backupClaim !== undefined)
    kubernetes['backup'] = { pvc: { existingClaim: options.backupClaim } };
  doc['kubernetes'] = kubernetes;
  const spec = parseSpec(stringify(doc), `the spec adopted from ${release.namespace}/${release.release}`);
  // What the user keeps: the new cluster under its own name.
  return { spec, doc: { ...doc, name: newName }, warnings: imported.warnings };
}

/** Stands in for the SHA-256 of a backup a dry run has not taken yet. */
const PENDING_SHA256 = '0'.repeat(64);

/** The objects of the new cluster, restored from `backup`, each marked with where it came from. */
function renderObjects(
  spec: Spec,
  release: BitnamiRelease,
  newName: string,
  backup: string,
  sha256: string,
): KubeObject[] {
  const from = `${release.namespace}/${release.release}`;
  const objects: KubeObject[] = [
    ...(release.auth
      ? [
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: `${newName}-auth`, namespace: release.namespace },
            type: 'Opaque',
            data: { password: Buffer.from(release.auth.password).toString('base64') },
          },
        ]
      : []),
    renderAgentConfig(spec, clusterNames(spec)),
    ...renderRestore(spec, { backup, sha256, newClusterName: newName }),
  ];
  return objects.map((o) => ({
    ...o,
    metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, [ADOPTED_FROM]: from } },
  }));
}

/** Names the new cluster would occupy: its objects and its members' claims. */
function occupiedBy(newName: string, release: BitnamiRelease): KubeObject[] {
  const ns = release.namespace;
  const at = (apiVersion: string, kind: string, name: string): KubeObject => ({
    apiVersion,
    kind,
    metadata: { name, namespace: ns },
  });
  return [
    at('v1', 'Service', newName),
    at('v1', 'Service', `${newName}-headless`),
    at('apps/v1', 'StatefulSet', newName),
    at('policy/v1', 'PodDisruptionBudget', newName),
    at('v1', 'Secret', `${newName}-auth`),
    // The restore pods read the backup storage settings from the agent config of the release's name.
    at('v1', 'ConfigMap', `${release.fullname}-steward-config`),
    ...release.memberNames.map((_, i) => at('v1', 'PersistentVolumeClaim', `data-${newName}-${i}`)),
  ];
}

/** The first name whose objects do not exist yet: --name as given, else FULLNAME-steward[-N]. */
async function freeName(
  target: KubeTarget,
  release: BitnamiRelease,
  wanted: string | undefined,
): Promise<string> {
  const kc = loadKubeConfig(target);
  const server = kc.getCurrentCluster()?.server ?? '?';
  const api = objectApi(kc);
  const candidates = wanted
    ? [wanted]
    : [`${release.fullname}-steward`, ...[2, 3, 4, 5].map((n) => `${release.fullname}-steward-${n}`)];
  const taken: string[] = [];
  for (const name of candidates) {
    if (name === release.fullname || name.length > 40 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) {
      taken.push(
        `${name} (${name === release.fullname ? "the release's own name" : 'not a DNS label of at most 40 characters'})`,
      );
      continue;
    }
    const found: string[] = [];
    for (const o of occupiedBy(name, release))
      if (await readLive(api, o, server)) found.push(`${o.kind} ${o.metadata.name}`);
    if (found.length === 0) return name;
    taken.push(`${name} (${found.join(', ')} exist)`);
  }
  throw new InputError(`no free name for the new cluster: ${taken.join('; ')}`, {
    hint: 'pass --name NAME with a name nothing in the namespace uses',
  });
}

/** The release's members as URLs, and how to let go of them. */
async function sourceEndpoints(
  release: BitnamiRelease,
  spec: Spec,
  options: AdoptOptions,
): Promise<{ endpoints: string[]; close: () => Promise<void> }> {
  const none = () => Promise.resolve();
  if (options.sourceEndpoints) return { endpoints: [...options.sourceEndpoints], close: none };
  if (options.inCluster ?? Boolean(process.env['KUBERNETES_SERVICE_HOST']))
    return { endpoints: memberDnsUrls(release), close: none };
  const members = new ReleaseMembers(spec, release, options);
  const endpoints = (await members.members()).map((m) => m.endpoint);
  return { endpoints, close: () => members.close() };
}

async function targetEndpoints(
  spec: Spec,
  newName: string,
  options: AdoptOptions,
): Promise<{ endpoints: string[]; close: () => Promise<void> }> {
  const none = () => Promise.resolve();
  if (options.targetEndpoints) return { endpoints: [...options.targetEndpoints], close: none };
  const newSpec = parseSpec(stringify({ ...specDoc(spec), name: newName }), undefined);
  const runtime = new KubernetesRuntime(newSpec, { ...options });
  const endpoints = (await runtime.members()).map((m) => m.endpoint);
  return { endpoints, close: () => runtime.close() };
}

/** The parts of a parsed spec the Kubernetes runtime needs to find the members. */
function specDoc(spec: Spec): Record<string, unknown> {
  return {
    runtime: 'kubernetes',
    members: spec.members,
    kubernetes: { namespace: clusterNames(spec).namespace, tls: spec.kubernetes?.tls },
  };
}

/**
 * The recorded backup, when a rerun may use it: it is still in the storage and verified, and
 * either the new cluster was already built from it or the release has not changed since.
 */
async function reusableBackup(
  record: AdoptRecord | undefined,
  storage: BackupStorage,
  target: KubeTarget,
  newName: string,
  namespace: string,
  endpoints: readonly string[],
  connection: ConnectionOptions,
): Promise<{ manifest: BackupManifest; why: string } | undefined> {
  if (!record?.backup) return undefined;
  const manifest = (await readCatalog(storage)).backups.find((b) => b.name === record.backup);
  if (!manifest || !isVerified(manifest)) return undefined;
  const kc = loadKubeConfig(target);
  const built = await readLive(
    objectApi(kc),
    { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: newName, namespace } },
    kc.getCurrentCluster()?.server ?? '?',
  );
  if (built) return { manifest, why: `recorded by the earlier run; ${newName} was built from it` };
  const changed = await changedSince(endpoints, connection, manifest.revision);
  return changed === 0
    ? { manifest, why: 'recorded by the earlier run; the release has not changed since' }
    : undefined;
}

/** Keys changed after `revision` on the first healthy member (a read). */
async function changedSince(
  endpoints: readonly string[],
  connection: ConnectionOptions,
  revision: number,
): Promise<number> {
  const status = await clusterStatus({ endpoints: [...endpoints], connection });
  const member = status.members.find((m) => m.health.ok);
  if (!member)
    throw new StewardError(
      "none of the release's members answers: cannot tell whether it changed since the backup",
      {
        hint: 'check the release pods (kubectl get pods); GreptimeDB still uses the old cluster',
      },
    );
  const client = new MemberClient(parseEndpoint(member.endpoint), connection);
  try {
    return await client.countChangedSince(revision);
  } finally {
    client.close();
  }
}

async function digestOf(storage: BackupStorage, manifest: BackupManifest, signal: AbortSignal | undefined) {
  const file = await fetchBackup(storage, manifest, { signal });
  try {
    const { greptime: _greptime, ...digest } = await digestSnapshot(file);
    return digest;
  } finally {
    const { rm } = await import('node:fs/promises');
    await rm(file, { force: true });
  }
}

/** Polls until every member is healthy, then compares the keyspace once; fails at the deadline. */
async function waitEqual(
  endpoints: readonly string[],
  connection: ConnectionOptions,
  expected: KeyspaceDigest,
  deadline: number,
  name: string,
  say: (line: string) => void,
  signal: AbortSignal | undefined,
): Promise<KeyspaceDigest> {
  let last = '';
  for (;;) {
    signal?.throwIfAborted();
    const status = await clusterStatus({ endpoints: [...endpoints], connection });
    const sick = status.members.filter((m) => !m.health.ok);
    if (status.healthy) {
      const restored = await digestLive(status.members[0]!.endpoint, connection);
      if (restored.keyCount !== expected.keyCount || restored.sha256 !== expected.sha256)
        throw new StewardError(
          `the new cluster ${name} is healthy but its keyspace differs from the snapshot's (${restored.keyCount} keys, digest ${restored.sha256.slice(0, 12)}… against ${expected.keyCount} keys, ${expected.sha256.slice(0, 12)}…)`,
          {
            hint: 'GreptimeDB still uses the old cluster; something wrote to the new cluster or it was restored from another backup: delete it and rerun adopt',
          },
        );
      return restored;
    }
    const progress =
      sick.map((m) => `${m.name ?? m.endpoint}: ${m.health.error ?? 'unhealthy'}`).join('; ') ||
      `${status.unasked.length} member(s) not reached, or no leader`;
    if (progress !== last) say(`waiting for ${name}: ${progress}`);
    last = progress;
    if (Date.now() >= deadline)
      throw new StewardError(`the new cluster ${name} did not become healthy in time: ${progress}`, {
        hint: 'GreptimeDB still uses the old cluster; look at the new pods (kubectl get pods, kubectl logs -c restore), then rerun adopt — it continues from the backup it took',
      });
    await sleep(Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
  }
}
