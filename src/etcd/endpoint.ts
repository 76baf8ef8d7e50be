/** Member endpoints as users write them (etcdctl style): `host:port`, `http://…`, `https://…`. */
import { InputError } from '../errors.js';

export interface Endpoint {
  /** As the user wrote it; this is what tables and JSON show. */
  readonly display: string;
  /** `host:port` for gRPC. */
  readonly address: string;
  /** True for `https://`; undefined when no scheme was given (TLS then follows the TLS flags). */
  readonly secure: boolean | undefined;
}

/** Parses one endpoint; rejects anything that is not host:port with an optional http(s) scheme. */
export function parseEndpoint(text: string): Endpoint {
  const trimmed = text.trim();
  const match = /^(?:(https?|unixs?):\/\/)?([^/\s]+?)(?::(\d+))?\/?$/.exec(trimmed);
  const port = match?.[3] === undefined ? undefined : Number(match[3]);
  if (!match || match[1]?.startsWith('unix') || port === undefined || port < 1 || port > 65535) {
    throw new InputError(`endpoint '${text}' is not host:port or http(s)://host:port`, {
      hint: 'write endpoints like 127.0.0.1:2379 or https://etcd-0.example:2379, separated by commas',
    });
  }
  const scheme = match[1];
  return {
    display: trimmed,
    address: `${match[2] ?? ''}:${port}`,
    secure: scheme === undefined ? undefined : scheme === 'https',
  };
}

/** Parses a comma-separated list (the --endpoints / ETCDCTL_ENDPOINTS form). */
export function parseEndpointList(list: string | readonly string[]): Endpoint[] {
  const parts = (typeof list === 'string' ? list.split(',') : list).map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) throw new InputError('the endpoint list is empty');
  return parts.map(parseEndpoint);
}
