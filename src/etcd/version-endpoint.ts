/**
 * etcd's `/version` HTTP endpoint on a member's client URL: the member's server version and the
 * cluster version (`etcdcluster`), which no gRPC call reports (Maintenance.Status has only the
 * server version). Served by 3.5, 3.6 and 3.7 on the client port, with the same TLS as gRPC and
 * no authentication. One GET, sent in parallel with the gRPC calls of `status`.
 */
import type { ConnectionOptions } from './credentials.js';
import type { Endpoint } from './endpoint.js';

/** What a member's `/version` says. */
export interface MemberVersions {
  readonly server: string | undefined;
  /** `3.6.0`-style; undefined while the cluster has not decided one (`not_decided`). */
  readonly cluster: string | undefined;
}

/** GETs `/version` of one member within the dial + command timeout; rejects with the reason. */
export async function memberVersions(
  endpoint: Endpoint,
  options: ConnectionOptions,
): Promise<MemberVersions> {
  const secure =
    endpoint.secure ?? Boolean(options.caFile || options.certFile || options.insecureSkipTlsVerify);
  const { readFile } = await import('node:fs/promises');
  const read = (file: string | undefined) => (file ? readFile(file) : Promise.resolve(undefined));
  const [ca, cert, key] = secure
    ? await Promise.all([read(options.caFile), read(options.certFile), read(options.keyFile)])
    : [undefined, undefined, undefined];
  const transport = secure ? await import('node:https') : await import('node:http');
  const timeoutMs = options.dialTimeoutMs + options.commandTimeoutMs;
  const body = await new Promise<string>((resolve, reject) => {
    const req = transport.request(
      `${secure ? 'https' : 'http'}://${endpoint.address}/version`,
      {
        method: 'GET',
        ...(secure
          ? {
              ca,
              cert,
              key,
              rejectUnauthorized: options.insecureSkipTlsVerify !== true,
            }
          : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(text) : reject(new Error(`/version: HTTP ${res.statusCode}`)),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`/version: no answer in ${timeoutMs} ms`)));
    req.end();
  });
  const parsed = JSON.parse(body) as { etcdserver?: unknown; etcdcluster?: unknown };
  const text = (v: unknown) => (typeof v === 'string' && /^\d+\.\d+\.\d+/.test(v) ? v : undefined);
  return { server: text(parsed.etcdserver), cluster: text(parsed.etcdcluster) };
}
