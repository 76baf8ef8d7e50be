/**
 * `certs`: a CA, member certificates (server and peer) with the names clients and peers dial,
 * and a client certificate for etcd-steward, written into one folder (keys 0600, never over an
 * existing file without `force`). For a Kubernetes spec the names are the headless Service's and
 * the client Service's under the namespace and cluster domain, and the Secrets the StatefulSet and
 * the agent mount can be written as a manifest too.
 */
import { X509Certificate } from 'node:crypto';
import { access, chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Spec } from '../../config/spec.js';
import { InputError } from '../../errors.js';
import {
  AGENT_CLIENT_CN,
  MEMBER_IP_ADDRESSES,
  memberDnsNames,
} from '../../runtime/kubernetes/render-certs.js';
import { clusterNames } from '../../runtime/kubernetes/render-types.js';
import { createCa, issueLeaf, loadCa, type IssuedPem } from './issue.js';

export interface CertsOptions {
  readonly spec: Spec;
  readonly outDir: string;
  /** Replace existing files. */
  readonly force?: boolean;
  /** Sign with the CA already in outDir (ca.crt, ca.key) instead of making a new one. */
  readonly reuseCa?: boolean;
  /** Leaf lifetime in days (default 365) and the CA's (default 3650). */
  readonly days?: number;
  readonly caDays?: number;
  /** More names for the member certificates (DNS names or IP addresses). */
  readonly hosts?: readonly string[];
  /** Common Name of the client certificate (etcd's user when no password is given). */
  readonly clientCommonName?: string;
  /** Kubernetes: also write secrets.yaml with the kubernetes.io/tls Secrets. */
  readonly secrets?: boolean;
}

/** One file written, and what its certificate says. */
export interface CertFile {
  readonly role: 'ca' | 'server' | 'peer' | 'client';
  readonly certFile: string;
  readonly keyFile: string | null;
  readonly subject: string;
  readonly notAfter: string;
  readonly names: readonly string[];
}

export interface CertsResult {
  readonly outDir: string;
  readonly reusedCa: boolean;
  readonly files: readonly CertFile[];
  /** secrets.yaml, when written. */
  readonly secretsFile: string | null;
  /** The spec fields that use these files (local) or Secrets (Kubernetes). */
  readonly specFragment: Record<string, unknown>;
}

const IP = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:]*)$/i;

/** The names member certificates carry for this spec. */
export function memberNames(spec: Spec, hosts: readonly string[] = []): { dns: string[]; ips: string[] } {
  const extraDns = hosts.filter((h) => !IP.test(h));
  const extraIps = hosts.filter((h) => IP.test(h));
  const dns = spec.runtime === 'kubernetes' ? memberDnsNames(clusterNames(spec)) : ['localhost', hostname()];
  return {
    dns: [...new Set([...dns, ...extraDns])],
    ips: [...new Set([...MEMBER_IP_ADDRESSES, ...extraIps])],
  };
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** Writes through a temporary file and a rename, with the mode set before the content lands. */
async function writeAtomic(file: string, content: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode, flag: 'wx' });
  await chmod(tmp, mode);
  await rename(tmp, file);
}

function describe(role: CertFile['role'], certFile: string, keyFile: string | null, pem: string): CertFile {
  const cert = new X509Certificate(pem);
  return {
    role,
    certFile,
    keyFile,
    subject: cert.subject.replaceAll('\n', ', '),
    notAfter: new Date(cert.validTo).toISOString(),
    names: (cert.subjectAltName ?? '').split(', ').filter((n) => n !== ''),
  };
}

/** Makes the CA and certificates; refuses before writing anything if a file would be replaced. */
export async function makeCertificates(options: CertsOptions): Promise<CertsResult> {
  const { spec } = options;
  const days = options.days ?? 365;
  const caDays = options.caDays ?? 3650;
  if (!Number.isInteger(days) || days < 1 || !Number.isInteger(caDays) || caDays < 1) {
    throw new InputError(`--days ${days} / --ca-days ${caDays}: both must be whole numbers of days ≥ 1`);
  }
  const out = path.resolve(options.outDir);
  const f = (name: string) => path.join(out, name);
  const kube = spec.runtime === 'kubernetes';
  const leaves = ['server', 'peer', 'client'] as const;
  const targets = [
    ...(options.reuseCa ? [] : ['ca.crt', 'ca.key']),
    ...leaves.flatMap((l) => [`${l}.crt`, `${l}.key`]),
    ...(kube && options.secrets ? ['secrets.yaml'] : []),
  ];
  if (!options.force) {
    const present = [];
    for (const t of targets) if (await exists(f(t))) present.push(t);
    if (present.length > 0) {
      throw new InputError(`${out} already holds ${present.join(', ')}`, {
        hint: options.reuseCa
          ? 'pass --force to replace the member and client certificates (the CA stays)'
          : 'pass --force to replace them (clients then need the new ca.crt), or --reuse-ca to keep the CA and issue new certificates under it',
      });
    }
  }
  const ca = options.reuseCa
    ? await loadCa(
        await readFile(f('ca.crt'), 'utf8').catch(() => {
          throw new InputError(`--reuse-ca: ${f('ca.crt')} cannot be read`, {
            hint: 'run etcd-steward certs without --reuse-ca first',
          });
        }),
        await readFile(f('ca.key'), 'utf8'),
      )
    : await createCa(`etcd-steward CA for ${spec.name}`, caDays);

  const names = memberNames(spec, options.hosts);
  const member = { commonName: spec.name, dnsNames: names.dns, ipAddresses: names.ips, days };
  const issued: Record<(typeof leaves)[number], IssuedPem> = {
    server: await issueLeaf(ca, { ...member, usage: 'server' }),
    peer: await issueLeaf(ca, { ...member, usage: 'server' }),
    client: await issueLeaf(ca, {
      commonName: options.clientCommonName ?? AGENT_CLIENT_CN,
      usage: 'client',
      days,
    }),
  };

  await mkdir(out, { recursive: true, mode: 0o700 });
  const files: CertFile[] = [];
  if (!options.reuseCa) {
    await writeAtomic(f('ca.key'), ca.pem.keyPem, 0o600);
    await writeAtomic(f('ca.crt'), ca.pem.certPem, 0o644);
  }
  files.push(describe('ca', f('ca.crt'), f('ca.key'), ca.pem.certPem));
  for (const leaf of leaves) {
    await writeAtomic(f(`${leaf}.key`), issued[leaf].keyPem, 0o600);
    await writeAtomic(f(`${leaf}.crt`), issued[leaf].certPem, 0o644);
    files.push(describe(leaf, f(`${leaf}.crt`), f(`${leaf}.key`), issued[leaf].certPem));
  }

  let secretsFile: string | null = null;
  if (kube && options.secrets) {
    secretsFile = f('secrets.yaml');
    await writeAtomic(secretsFile, secretsManifest(spec, ca.pem.certPem, issued), 0o600);
  }
  return {
    outDir: out,
    reusedCa: options.reuseCa ?? false,
    files,
    secretsFile,
    specFragment: fragment(spec, out),
  };
}

function secretNames(spec: Spec): { server: string; peer: string; client: string } {
  const t = spec.kubernetes?.tls;
  return {
    server: t?.clientSecret ?? `${spec.name}-server-tls`,
    peer: t?.peerSecret ?? `${spec.name}-peer-tls`,
    client: t?.agentClientSecret ?? `${spec.name}-client-tls`,
  };
}

/** The three kubernetes.io/tls Secrets (tls.crt, tls.key, ca.crt: cert-manager's layout). */
function secretsManifest(
  spec: Spec,
  caPem: string,
  issued: Record<'server' | 'peer' | 'client', IssuedPem>,
): string {
  const namespace = spec.kubernetes?.namespace ?? 'default';
  const names = secretNames(spec);
  const secret = (name: string, pem: IssuedPem) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/instance': spec.name, 'app.kubernetes.io/managed-by': 'etcd-steward' },
    },
    stringData: { 'tls.crt': pem.certPem, 'tls.key': pem.keyPem, 'ca.crt': caPem },
  });
  return [
    secret(names.server, issued.server),
    secret(names.peer, issued.peer),
    secret(names.client, issued.client),
  ]
    .map((s) => stringify(s, { lineWidth: 0 }))
    .join('---\n');
}

function fragment(spec: Spec, out: string): Record<string, unknown> {
  if (spec.runtime === 'kubernetes') {
    const names = secretNames(spec);
    return {
      kubernetes: {
        tls: {
          clientSecret: names.server,
          peerSecret: names.peer,
          clientCertAuth: true,
          agentClientSecret: names.client,
        },
      },
    };
  }
  const f = (name: string) => path.join(out, name);
  return {
    tls: {
      caFile: f('ca.crt'),
      certFile: f('client.crt'),
      keyFile: f('client.key'),
      server: { certFile: f('server.crt'), keyFile: f('server.key'), clientCertAuth: true },
      peer: { certFile: f('peer.crt'), keyFile: f('peer.key'), caFile: f('ca.crt'), clientCertAuth: true },
    },
  };
}
