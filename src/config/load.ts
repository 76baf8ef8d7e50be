/**
 * Loading the cluster spec: YAML file → schema (defaults) → paths resolved against the file's
 * folder → a frozen Spec. Every problem becomes an InputError naming the field, the bad value
 * and what is allowed.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { InputError } from '../errors.js';
import { specSchema, type Spec } from './spec.js';

/** Parses and validates spec text; `source` names the file in messages and anchors relative paths. */
export function parseSpec(text: string, source: string | undefined): Spec {
  const where = source ?? 'spec';
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    const first = document.errors[0];
    throw new InputError(`${where}: not valid YAML: ${first?.message ?? 'unknown error'}`);
  }
  const data: unknown = document.toJS() ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new InputError(`${where}: the spec must be a mapping of fields (name, members, etcd, …)`);
  }
  const result = specSchema.safeParse(data, { reportInput: true });
  if (!result.success) {
    const lines = result.error.issues.map(formatIssue);
    throw new InputError(`${where} is not a valid spec:\n  ${lines.join('\n  ')}`, {
      hint: 'see docs/spec.md for every field and its allowed values',
    });
  }
  const base = source ? path.dirname(path.resolve(source)) : process.cwd();
  return deepFreeze({ ...resolvePaths(result.data, base), source });
}

/** Reads a spec file; a missing file is an InputError that says how to make one. */
export async function loadSpecFile(file: string): Promise<Spec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new InputError(`spec file ${file} does not exist`, {
        hint: 'check the path given to --config; docs/spec.md shows a complete spec',
      });
    }
    throw new InputError(`cannot read spec file ${file}: ${(error as Error).message}`);
  }
  return parseSpec(text, file);
}

type ParsedSpec = z.output<typeof specSchema>;

function resolvePaths(spec: ParsedSpec, base: string): ParsedSpec {
  const at = (p: string | undefined) => (p === undefined ? undefined : path.resolve(base, p));
  const tls = spec.tls && {
    ...spec.tls,
    caFile: at(spec.tls.caFile),
    certFile: at(spec.tls.certFile),
    keyFile: at(spec.tls.keyFile),
    server: spec.tls.server && {
      ...spec.tls.server,
      certFile: path.resolve(base, spec.tls.server.certFile),
      keyFile: path.resolve(base, spec.tls.server.keyFile),
    },
    peer: spec.tls.peer && {
      ...spec.tls.peer,
      certFile: path.resolve(base, spec.tls.peer.certFile),
      keyFile: path.resolve(base, spec.tls.peer.keyFile),
      caFile: at(spec.tls.peer.caFile),
    },
  };
  return {
    ...spec,
    dataDir: path.resolve(base, spec.dataDir),
    etcd: { ...spec.etcd, bin: at(spec.etcd.bin) },
    tls,
    monitoring: spec.monitoring.certificateFiles
      ? {
          ...spec.monitoring,
          certificateFiles: spec.monitoring.certificateFiles.map((f) => path.resolve(base, f)),
        }
      : spec.monitoring,
    auth: spec.auth && { ...spec.auth, passwordFile: at(spec.auth.passwordFile) },
    backup: spec.backup && {
      ...spec.backup,
      // A plain path or file://./relative is relative to the spec, like every other path in it.
      storage: resolveStorage(spec.backup.storage, base),
      s3: spec.backup.s3 && { ...spec.backup.s3, credentialsFile: at(spec.backup.s3.credentialsFile) },
    },
  };
}

function resolveStorage(storage: string, base: string): string {
  if (storage.startsWith('s3://')) return storage;
  const local = storage.startsWith('file://') ? storage.slice('file://'.length) : storage;
  return `file://${path.resolve(base, local)}`;
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
  const got = 'input' in issue && issue.input !== undefined ? ` (got ${JSON.stringify(issue.input)})` : '';
  switch (issue.code) {
    case 'unrecognized_keys':
      return `${field}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}; check the spelling against docs/spec.md`;
    case 'invalid_value':
      return `${field}: ${got.trim().slice(1, -1)}; allowed: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_type':
      return `${field}: expected ${issue.expected}${got}`;
    case 'too_small':
      return `${field}: must be at least ${String(issue.minimum)}${got}`;
    case 'too_big':
      return `${field}: must be at most ${String(issue.maximum)}${got}`;
    default:
      return `${field}: ${issue.message}${got && issue.code !== 'custom' ? got : ''}`;
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
