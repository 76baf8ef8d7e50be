/**
 * How to reach and authenticate to a member (etcdctl's global flags), and the TLS files read and
 * checked — each file first, so a wrong one is named before any call. The material is used as is
 * by the unary path (node:http2, channel.ts) and turned into grpc-js credentials for streams (proto.ts).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InputError } from '../errors.js';
import { type Endpoint } from './endpoint.js';

/** How to reach and authenticate to members (etcdctl's global flags). */
export interface ConnectionOptions {
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly insecureSkipTlsVerify?: boolean | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  /** How long to wait for a connection before a call fails (etcdctl --dial-timeout, 2 s). */
  readonly dialTimeoutMs: number;
  /** How long one call may take once connected (etcdctl --command-timeout, 5 s). */
  readonly commandTimeoutMs: number;
}

/** What a TLS connection to a member needs; `ca` null: the system's trusted CAs. */
export interface TlsMaterial {
  readonly ca: Buffer | null;
  readonly cert: Buffer | null;
  readonly key: Buffer | null;
  /** --insecure-skip-tls-verify: the server's certificate is not checked. */
  readonly skipVerify: boolean;
}

/**
 * The TLS files for `endpoint` read and checked (a wrong file is named before any call), or
 * undefined when the endpoint is plain http (no https:// scheme and no TLS flag).
 */
export function tlsMaterial(endpoint: Endpoint, options: ConnectionOptions): TlsMaterial | undefined {
  const wantsTls =
    endpoint.secure ?? Boolean(options.caFile || options.certFile || options.insecureSkipTlsVerify);
  if (!wantsTls) return undefined;
  if (Boolean(options.certFile) !== Boolean(options.keyFile)) {
    throw new InputError('a client certificate needs both --cert and --key', {
      hint: 'pass both, or neither',
    });
  }
  const ca = options.caFile ? readPem(options.caFile, '--cacert') : null;
  if (ca) parseCertificate(ca, options.caFile as string, '--cacert');
  let cert: Buffer | null = null;
  let key: Buffer | null = null;
  if (options.certFile && options.keyFile) {
    cert = readPem(options.certFile, '--cert');
    key = readPem(options.keyFile, '--key');
    const certificate = parseCertificate(cert, options.certFile, '--cert');
    let privateKey;
    try {
      privateKey = createPrivateKey(key);
    } catch {
      throw new InputError(`--key ${options.keyFile}: not a PEM private key`, {
        hint: 'pass the private key that belongs to --cert',
      });
    }
    if (!certificate.checkPrivateKey(privateKey)) {
      throw new InputError(`--key ${options.keyFile} does not belong to --cert ${options.certFile}`, {
        hint: 'pass the key that was generated with that certificate',
      });
    }
  }
  return { ca, cert, key, skipVerify: options.insecureSkipTlsVerify === true };
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new InputError(
      `${flag} ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      {
        hint: `point ${flag} at a PEM file that exists and is readable`,
      },
    );
  }
}

function parseCertificate(pem: Buffer, file: string, flag: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new InputError(`${flag} ${file}: not a PEM certificate`, {
      hint: `point ${flag} at a PEM-encoded X.509 certificate`,
    });
  }
}
