/**
 * Connection settings for etcd, merged in etcdctl's order: command-line flags, then etcdctl's
 * environment variables (ETCDCTL_ENDPOINTS, ETCDCTL_CACERT, …), then the spec.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from '../etcd/member-client.js';
import { InputError } from '../errors.js';
import type { Spec } from './spec.js';
import { parseDuration } from './units.js';

/** The global flags that say how to reach etcd, as the CLI parsed them (all optional). */
export interface ConnectionFlags {
  readonly endpoints?: string | undefined;
  readonly cacert?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly insecureSkipTlsVerify?: boolean | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly dialTimeout?: string | undefined;
  readonly commandTimeout?: string | undefined;
}

const DEFAULT_DIAL_TIMEOUT = '2s';
const DEFAULT_COMMAND_TIMEOUT = '5s';

function envFlag(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[`ETCDCTL_${name}`];
  return value === undefined || value === '' ? undefined : value;
}

/** Endpoints given on the command line or in ETCDCTL_ENDPOINTS, if any. */
export function explicitEndpoints(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  return flags.endpoints ?? envFlag(env, 'ENDPOINTS');
}

function timeout(value: string, flag: string): number {
  try {
    return parseDuration(value);
  } catch (error) {
    throw new InputError(`${flag}: ${(error as Error).message}`);
  }
}

/** Reads a password from the spec's auth section: its file, else its environment variable. */
export function specPassword(auth: NonNullable<Spec['auth']>, env: NodeJS.ProcessEnv = process.env): string {
  if (auth.passwordFile) {
    try {
      return (readFileSync(auth.passwordFile, 'utf8').split('\n')[0] ?? '').trimEnd();
    } catch (error) {
      throw new InputError(
        `auth.passwordFile ${auth.passwordFile}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      );
    }
  }
  const value = env[auth.passwordEnv];
  if (value === undefined) {
    throw new InputError(`auth.user is '${auth.user}' but no password was given`, {
      hint: `set the environment variable ${auth.passwordEnv}, or write the password to a file named in auth.passwordFile`,
    });
  }
  return value;
}

/** Merges flags, ETCDCTL_* variables and the spec into the options the etcd layer takes. */
export function connectionOptions(
  flags: ConnectionFlags,
  spec?: Spec,
  env: NodeJS.ProcessEnv = process.env,
): ConnectionOptions {
  const tls = spec?.tls;
  let user = flags.user ?? envFlag(env, 'USER');
  let password = flags.password ?? envFlag(env, 'PASSWORD');
  if (user?.includes(':') && password === undefined) {
    // etcdctl's --user name:password form
    const at = user.indexOf(':');
    password = user.slice(at + 1);
    user = user.slice(0, at);
  }
  if (user === undefined && spec?.auth) {
    user = spec.auth.user;
    password = specPassword(spec.auth, env);
  }
  if (user !== undefined && password === undefined) {
    throw new InputError(`--user ${user} was given without a password`, {
      hint: 'pass --user NAME:PASSWORD, --password, or set ETCDCTL_PASSWORD',
    });
  }
  const skip =
    flags.insecureSkipTlsVerify ?? (envFlag(env, 'INSECURE_SKIP_TLS_VERIFY') === 'true' ? true : undefined);
  return {
    caFile: flags.cacert ?? envFlag(env, 'CACERT') ?? tls?.caFile,
    certFile: flags.cert ?? envFlag(env, 'CERT') ?? tls?.certFile,
    keyFile: flags.key ?? envFlag(env, 'KEY') ?? tls?.keyFile,
    insecureSkipTlsVerify: skip ?? tls?.insecureSkipVerify ?? false,
    user,
    password,
    dialTimeoutMs: timeout(
      flags.dialTimeout ?? envFlag(env, 'DIAL_TIMEOUT') ?? DEFAULT_DIAL_TIMEOUT,
      '--dial-timeout',
    ),
    commandTimeoutMs: timeout(
      flags.commandTimeout ?? envFlag(env, 'COMMAND_TIMEOUT') ?? DEFAULT_COMMAND_TIMEOUT,
      '--command-timeout',
    ),
  };
}
