/**
 * Turning authentication on for a cluster that runs without it (the Kubernetes bootstrap Job, or
 * by hand): root with the given password, the root role, auth enabled — then proven by
 * authenticating as root. Safe to run any number of times: on a cluster whose auth is already on
 * it only checks that the password works.
 */
import { MemberAuthError, MemberRequestError } from '../etcd/errors.js';
import { parseEndpointList, type Endpoint } from '../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../etcd/member-client.js';
import { StewardError } from '../errors.js';

export interface AuthBootstrapOptions {
  /** The members' client URLs; the first that answers is used. */
  readonly endpoints: string | readonly string[];
  /** TLS and timeouts; any user/password in it is ignored (the bootstrap connects without). */
  readonly connection: ConnectionOptions;
  /** root's password (from the Secret). */
  readonly password: string;
  /** How long to wait for a member to answer (the Job may start before etcd is up); default 5 min. */
  readonly waitMs?: number;
  readonly onProgress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** What the bootstrap found and did. */
export interface AuthBootstrapResult {
  /** `enabled`: this run turned auth on; `already-enabled`: it was on, and root's password works. */
  readonly outcome: 'enabled' | 'already-enabled';
  /** The member that answered. */
  readonly member: string;
  readonly user: 'root';
  /** When the run finished (ISO 8601). */
  readonly at: string;
}

const RETRY_MS = 2000;

/** Creates root, grants it the root role and enables auth, unless auth is already on; see the module comment. */
export async function bootstrapAuth(options: AuthBootstrapOptions): Promise<AuthBootstrapResult> {
  const endpoints = parseEndpointList(options.endpoints);
  const deadline = Date.now() + (options.waitMs ?? 5 * 60_000);
  const anonymous = { ...options.connection, user: undefined, password: undefined };
  for (;;) {
    let last: unknown;
    for (const endpoint of endpoints) {
      options.signal?.throwIfAborted();
      const client = new MemberClient(endpoint, anonymous);
      try {
        const enabled = await authEnabled(client);
        if (!enabled) {
          await client.auth.ensureRootAndEnable(options.password);
          options.onProgress?.(`${endpoint.display}: root created, authentication enabled`);
        } else {
          options.onProgress?.(`${endpoint.display}: authentication is already on`);
        }
        await proveRoot(endpoint, options);
        return {
          outcome: enabled ? 'already-enabled' : 'enabled',
          member: endpoint.display,
          user: 'root',
          at: new Date().toISOString(),
        };
      } catch (error) {
        if (error instanceof StewardError && !(error instanceof MemberRequestError)) throw error;
        if (error instanceof MemberAuthError) throw error;
        last = error;
      } finally {
        client.close();
      }
    }
    if (Date.now() + RETRY_MS > deadline) {
      throw new StewardError(
        `no member answered within the wait: ${(last as Error | undefined)?.message ?? 'no endpoints'}`,
        {
          hint: 'check that the etcd pods run and the endpoints are right; the bootstrap is safe to rerun',
          cause: last,
        },
      );
    }
    options.onProgress?.(`waiting for a member: ${(last as Error | undefined)?.message ?? ''}`);
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

/** AuthStatus; a member that refuses it without credentials has auth on. */
async function authEnabled(client: MemberClient): Promise<boolean> {
  try {
    return await client.auth.enabled();
  } catch (error) {
    if (error instanceof MemberAuthError) return true;
    throw error;
  }
}

/** Authenticates as root with the password: the Secret's password is the one etcd holds. */
async function proveRoot(endpoint: Endpoint, options: AuthBootstrapOptions): Promise<void> {
  const client = new MemberClient(endpoint, {
    ...options.connection,
    user: 'root',
    password: options.password,
  });
  try {
    await client.status();
  } catch (error) {
    if (error instanceof MemberAuthError) {
      throw new StewardError(
        `authentication is on at ${endpoint.display}, but root's password is not the one given (${error.reason})`,
        {
          hint: "put root's current password in the Secret (kubernetes.authSecret), or change root's password with etcdctl user passwd root",
          cause: error,
        },
      );
    }
    throw error;
  } finally {
    client.close();
  }
}
