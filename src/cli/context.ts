/** What every command shares: the global flags, loading the spec, the connection settings. */
import { access } from 'node:fs/promises';
import { connectionOptions, explicitEndpoints, type ConnectionFlags } from '../config/connection.js';
import type { Spec } from '../config/spec.js';
import { s3SettingsFrom } from '../config/storage-settings.js';
import type { ConnectionOptions } from '../etcd/member-client.js';
import { InputError } from '../errors.js';
import type { KubeTarget } from '../runtime/kubernetes/kube-client.js';
import type { ClusterRuntime } from '../runtime/runtime.js';
import type { BackupStorage } from '../storage/storage.js';
import type { OutputFormat } from './output.js';

export const DEFAULT_SPEC_FILE = 'steward.yaml';

/** The global flags as commander hands them over. */
export interface GlobalOptions extends ConnectionFlags {
  readonly config?: string;
  readonly output: OutputFormat;
  readonly etcdBin?: string;
}

/**
 * The spec named by --config, else ./steward.yaml when it exists. With `required`, a missing spec
 * is an error that says how to get one; otherwise it is undefined.
 */
export async function loadSpec(options: GlobalOptions, required: boolean): Promise<Spec | undefined> {
  // Loaded on demand: the schema library is the larger part of start-up, and --endpoints needs none.
  const loadSpecFile = async (file: string) => (await import('../config/load.js')).loadSpecFile(file);
  if (options.config !== undefined) return loadSpecFile(options.config);
  const present = await access(DEFAULT_SPEC_FILE).then(
    () => true,
    () => false,
  );
  if (present) return loadSpecFile(DEFAULT_SPEC_FILE);
  if (!required) return undefined;
  throw new InputError(`no cluster spec: ./${DEFAULT_SPEC_FILE} does not exist and --config was not given`, {
    hint: `pass --config FILE or --endpoints LIST, or write ./${DEFAULT_SPEC_FILE} (docs/spec.md has one)`,
  });
}

/** Connection settings: flags, then ETCDCTL_* variables, then the spec. */
export function connectionFor(options: GlobalOptions, spec: Spec | undefined): ConnectionOptions {
  return connectionOptions(options, spec);
}

/** The spec of a local-runtime cluster, or an error saying this command needs one. */
export function requireLocal(spec: Spec, command: string): Spec {
  if (spec.runtime !== 'local') {
    throw new InputError(
      `\`${command}\` manages local clusters, and ${spec.source ?? 'the spec'} has runtime: ${spec.runtime}`,
      {
        hint: 'for an external cluster, use status (and later backup/defrag) with its endpoints',
      },
    );
  }
  return spec;
}

/**
 * A cluster to talk to: its endpoints, member names when known, the spec if there is one, and
 * the spec's runtime when the endpoints came from it (undefined with --endpoints).
 */
export interface ClusterTarget {
  readonly spec: Spec | undefined;
  readonly name: string;
  readonly endpoints: string | readonly string[];
  readonly names: ReadonlyMap<string, string> | undefined;
  readonly runtime?: ClusterRuntime | undefined;
}

/**
 * --endpoints / ETCDCTL_ENDPOINTS, else the spec's cluster as its runtime reaches it (the local
 * state file, the external endpoints, or the Kubernetes members by DNS name or port-forward).
 * The runtime's connections (port-forwards) end with `runtime.close()` or with the process.
 */
export async function clusterTarget(options: GlobalOptions & KubeTarget): Promise<ClusterTarget> {
  const flagged = explicitEndpoints(options);
  const spec = await loadSpec(options, flagged === undefined);
  const name = spec?.name ?? 'etcd';
  if (flagged !== undefined) return { spec, name, endpoints: flagged, names: undefined, runtime: undefined };
  if (!spec) throw new InputError('no endpoints'); // loadSpec(required) already threw
  // Loaded here, not at the top: with --endpoints no runtime (the local one is the larger) loads.
  const [{ openRuntime }, { namesByEndpoint }] = await Promise.all([
    import('../runtime/open.js'),
    import('../runtime/runtime.js'),
  ]);
  const runtime = await openRuntime(spec, {
    kubernetes: { kubeconfig: options.kubeconfig, context: options.context },
  });
  const members = await runtime.members();
  return { spec, name, endpoints: members.map((m) => m.endpoint), names: namesByEndpoint(members), runtime };
}

/** The flags that name a backup storage URL (`--storage`, and `--to` where a command has it). */
export interface StorageFlags {
  readonly storage?: string;
  readonly to?: string;
}

/** The storage named by --to/--storage, else the spec's backup.storage. */
export async function storageFor(options: StorageFlags, spec: Spec | undefined): Promise<BackupStorage> {
  const url = options.to ?? options.storage ?? spec?.backup?.storage;
  if (!url) {
    throw new InputError('no backup storage: the spec has no backup.storage and --storage was not given', {
      hint: 'add `backup: { storage: file:///path/to/backups }` to the spec, or pass --storage file:///DIR or s3://BUCKET/PREFIX',
    });
  }
  const { openStorage } = await import('../storage/open.js');
  return openStorage(url, { s3: s3SettingsFrom(spec) });
}
