/**
 * A restore drill: restore a backup into a throwaway single-member cluster on free ports, compare
 * its keyspace with the snapshot, tear it down, and record the result in the backup's manifest.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseSpec } from '../../config/load.js';
import { describeError } from '../../errors.js';
import type { EtcdBinaries } from '../../runtime/etcd-binaries.js';
// Not openRuntime: a drill always restores into a throwaway local cluster on this machine,
// whatever runtime the backed-up cluster has (Kubernetes or external ones included).
import { LocalRuntime } from '../../runtime/local/cluster.js';
import type { BackupStorage } from '../../storage/storage.js';
import { restoreSnapshot } from '../restore.js';
import { writeManifest } from './catalog.js';
import type { DecryptionKeys } from './encryption.js';
import { fetchBackup } from './fetch.js';
import type { BackupManifest } from './manifest.js';
import { spoolDir } from './store.js';

export interface DrillResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly manifest: BackupManifest;
}

export async function drillBackup(options: {
  storage: BackupStorage;
  manifest: BackupManifest;
  binaries: EtcdBinaries;
  /** Identities for an encrypted backup. */
  keys?: DecryptionKeys | undefined;
  signal?: AbortSignal;
}): Promise<DrillResult> {
  const { manifest, storage } = options;
  const work = await mkdtemp(path.join(spoolDir(), 'drill-'));
  const spec = parseSpec(
    `name: drill\nmembers: 1\ndataDir: ${JSON.stringify(path.join(work, 'cluster'))}\netcd: { version: "${options.binaries.line}", unsafeNoFsync: true }\n`,
    path.join(work, 'steward.yaml'),
  );
  let ok = false;
  let detail: string;
  const started = Date.now();
  try {
    const file = await fetchBackup(storage, manifest, { signal: options.signal, keys: options.keys });
    const result = await restoreSnapshot({
      file,
      spec,
      binaries: options.binaries,
      connection: { dialTimeoutMs: 2000, commandTimeoutMs: 10_000 },
      target: { kind: 'new-cluster', name: 'drill' },
      // A backup without etcd's trailer was accepted at import with --skip-hash-check.
      skipHashCheck: manifest.etcdSha256 === null,
      fetchedFrom: manifest,
      signal: options.signal,
    });
    ok = result.match === true;
    detail = ok
      ? `restored on etcd ${options.binaries.version} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${result.restored?.keyCount ?? 0} keys, content matches the snapshot`
      : `restored on etcd ${options.binaries.version}, but ${result.restored?.problem ?? `${result.restored?.keyCount ?? 0} keys came up against ${result.snapshot.keyCount} in the snapshot`}`;
  } catch (error) {
    detail = `the drill failed: ${describeError(error)}`;
  } finally {
    const drillSpec = { ...spec, name: 'drill', dataDir: `${spec.dataDir}-drill` };
    const runtime = new LocalRuntime(drillSpec);
    await runtime.stop(2_000).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
  const updated: BackupManifest = { ...manifest, drill: { at: new Date().toISOString(), ok, detail } };
  await writeManifest(storage, updated, { signal: options.signal });
  return { name: manifest.name, ok, detail, manifest: updated };
}
