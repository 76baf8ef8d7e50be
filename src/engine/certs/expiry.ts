/**
 * When the certificates the spec names expire: every certificate in each file (a CA bundle may
 * hold several), read with Node's X509Certificate, for the agent's expiry gauge.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Spec } from '../../config/spec.js';

/** One certificate of one file and when it expires. */
export interface CertificateExpiry {
  readonly file: string;
  /** The subject as one line (`CN=etcd, O=…`). */
  readonly subject: string;
  /** notAfter, in seconds since the epoch. */
  readonly notAfterSeconds: number;
}

/** The certificate files a spec names: the CA, the client certificate, the local members' own, and monitoring.certificateFiles. */
export function certificateFiles(spec: Pick<Spec, 'tls' | 'monitoring'>): string[] {
  const t = spec.tls;
  const files = [
    t?.caFile,
    t?.certFile,
    t?.server?.certFile,
    t?.peer?.certFile,
    t?.peer?.caFile,
    ...(spec.monitoring.certificateFiles ?? []),
  ];
  return [...new Set(files.filter((f): f is string => f !== undefined))];
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate in `file`; throws when the file cannot be read or holds none. */
export async function readExpiry(file: string): Promise<CertificateExpiry[]> {
  const text = await readFile(file, 'utf8');
  const blocks = text.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new Error(`${file} holds no PEM certificate`);
  return blocks.map((pem) => {
    const cert = new X509Certificate(pem);
    return {
      file,
      subject: cert.subject.split('\n').join(', '),
      notAfterSeconds: Date.parse(cert.validTo) / 1000,
    };
  });
}
