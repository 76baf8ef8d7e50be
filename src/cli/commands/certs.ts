/**
 * `etcd-steward certs [--out DIR] [--force] [--reuse-ca] [--secrets]`: makes the CA and the
 * certificates for the spec's cluster and prints what it wrote and the spec fields that use it.
 */
import { stringify } from 'yaml';
import { parseSpec } from '../../config/load.js';
import { makeCertificates } from '../../engine/certs/certs.js';
import { InputError } from '../../errors.js';
import { loadSpec, type GlobalOptions } from '../context.js';
import { printJson, renderTable } from '../output.js';

export interface CertsCommandOptions extends GlobalOptions {
  readonly out: string;
  readonly force?: boolean;
  readonly reuseCa?: boolean;
  readonly days: string;
  readonly caDays: string;
  readonly host?: readonly string[];
  readonly clientCn: string;
  readonly secrets?: boolean;
}

function wholeDays(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InputError(`${flag} ${value}: not a whole number of days ≥ 1`);
  return n;
}

export async function certsCommand(options: CertsCommandOptions): Promise<number> {
  // Without a spec: a local cluster's names (localhost and loopback).
  const spec = (await loadSpec(options, false)) ?? parseSpec('{}', undefined);
  if (options.secrets && spec.runtime !== 'kubernetes') {
    throw new InputError('--secrets writes Kubernetes Secrets, and the spec has runtime: ' + spec.runtime, {
      hint: 'leave out --secrets, or use a spec with runtime: kubernetes',
    });
  }
  const result = await makeCertificates({
    spec,
    outDir: options.out,
    force: options.force ?? false,
    reuseCa: options.reuseCa ?? false,
    days: wholeDays('--days', options.days),
    caDays: wholeDays('--ca-days', options.caDays),
    hosts: options.host ?? [],
    clientCommonName: options.clientCn,
    secrets: options.secrets ?? false,
  });
  if (options.output === 'json') {
    printJson(result);
    return 0;
  }
  const rows = result.files.map((f) => [
    f.role,
    f.certFile,
    f.keyFile ?? '',
    f.subject,
    f.notAfter.slice(0, 10),
    String(f.names.length),
  ]);
  process.stdout.write(
    `${renderTable(['role', 'certificate', 'key (0600)', 'subject', 'expires', 'names'], rows)}\n`,
  );
  if (result.secretsFile) {
    process.stdout.write(
      `Secrets (keys inside, mode 0600): ${result.secretsFile} — kubectl apply -f it, then delete it\n`,
    );
  }
  process.stdout.write(`\nIn the spec (steward.yaml):\n${stringify(result.specFragment, { lineWidth: 0 })}`);
  if (spec.runtime === 'kubernetes') {
    process.stdout.write(
      '# GreptimeDB (server TLS + password, no client certificate): clientCertAuth: false, and auth with kubernetes.authSecret\n',
    );
  }
  return 0;
}
