/**
 * A member's `/version` HTTP endpoint: the server version it runs and the cluster version the
 * members agreed on (which only moves once every member runs the newer minor version, and drops
 * during a downgrade). The gRPC API reports the first, not the second.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { MemberRequestError } from './errors.js';
import type { ConnectionOptions } from './credentials.js';

/** What `/version` says: `etcdserver` and `etcdcluster` (`3.6.0`; `not_decided` early on). */
export interface VersionInfo {
  readonly server: string;
  readonly cluster: string | undefined;
}

/** GET `<endpoint>/version` with the connection's TLS files, within the command timeout. */
export function versionOf(endpoint: string, connection: ConnectionOptions): Promise<VersionInfo> {
  const url = new URL('/version', endpoint.includes('://') ? endpoint : `http://${endpoint}`);
  const secure = url.protocol === 'https:';
  const read = (file: string | undefined) => (file ? readFileSync(file) : undefined);
  const timeout = connection.dialTimeoutMs + connection.commandTimeoutMs;
  return new Promise((resolve, reject) => {
    const fail = (why: string, cause?: unknown) =>
      reject(new MemberRequestError(endpoint, 'GET /version', why, undefined, { cause }));
    const options = secure
      ? {
          ca: read(connection.caFile),
          cert: read(connection.certFile),
          key: read(connection.keyFile),
          rejectUnauthorized: connection.insecureSkipTlsVerify !== true,
          timeout,
        }
      : { timeout };
    const request = (secure ? https : http).get(url, options, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        try {
          const parsed = JSON.parse(body) as { etcdserver?: string; etcdcluster?: string };
          if (!parsed.etcdserver) return fail(`unexpected answer ${JSON.stringify(body.slice(0, 80))}`);
          const cluster =
            parsed.etcdcluster && /^\d/.test(parsed.etcdcluster) ? parsed.etcdcluster : undefined;
          resolve({ server: parsed.etcdserver, cluster });
        } catch (error) {
          fail(`unexpected answer ${JSON.stringify(body.slice(0, 80))}`, error);
        }
      });
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeout} ms`)));
    request.on('error', (error) => fail(error.message, error));
  });
}
