/** What every command shares: the global flags, loading the spec, the connection settings. */
import { access } from 'node:fs/promises';
import { connectionOptions, type ConnectionFlags } from '../config/connection.js';
import type { Spec } from '../config/spec.js';
import type { ConnectionOptions } from '../etcd/member-client.js';
import { InputError } from '../errors.js';
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
    hint: `pass --config FILE or --endpoints LIST, or write ./${DEFAULT_SPEC_FILE} (the README's "The cluster spec" has one)`,
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
