/**
 * Finding real etcd binaries of a release line: an explicit binary (--etcd-bin / ETCD_BIN / the
 * spec's etcd.bin), then the tool's cache (what scripts/install-etcd.sh installs), then PATH.
 * etcdctl and etcdutl are taken from the same folder as the etcd they go with.
 */
import { execFile } from 'node:child_process';
import { access, constants, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SUPPORTED_LINES, type EtcdLine } from '../config/etcd-lines.js';
import { InputError, StewardError } from '../errors.js';

const run = promisify(execFile);

export interface EtcdBinaries {
  readonly etcd: string;
  readonly etcdctl: string;
  readonly etcdutl: string;
  /** Full version the etcd binary reports, e.g. `3.6.16`. */
  readonly version: string;
  readonly line: EtcdLine;
  readonly source: 'explicit' | 'cache' | 'path';
}

/** Where the install script puts binaries: $ETCD_STEWARD_CACHE or ~/.cache/etcd-steward. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['ETCD_STEWARD_CACHE']) return env['ETCD_STEWARD_CACHE'];
  const base = env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache');
  return path.join(base, 'etcd-steward');
}

/** The command that installs a line, for error messages. */
export function installCommand(line: string): string {
  return `etcd-steward install-etcd ${line}   (or: bash scripts/install-etcd.sh ${line} in a checkout)`;
}

/** Asks a binary for its version (`etcd --version` → `3.6.16`). */
export async function etcdVersionOf(binary: string): Promise<string> {
  let stdout: string;
  try {
    ({ stdout } = await run(binary, ['--version'], { timeout: 10_000 }));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(
      `cannot run ${binary}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      {
        hint: 'point --etcd-bin / ETCD_BIN at an etcd server binary',
      },
    );
  }
  const version = /etcd Version:\s*(\S+)/.exec(stdout)?.[1];
  if (!version)
    throw new InputError(
      `${binary} does not look like etcd: '--version' printed ${JSON.stringify(stdout.slice(0, 80))}`,
    );
  return version;
}

function lineOf(version: string): string {
  return version.split('.').slice(0, 2).join('.');
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function fromFolder(
  etcd: string,
  line: EtcdLine,
  source: EtcdBinaries['source'],
): Promise<EtcdBinaries> {
  const version = await etcdVersionOf(etcd);
  const found = lineOf(version);
  if (!(SUPPORTED_LINES as readonly string[]).includes(found)) {
    throw new InputError(`${etcd} is etcd ${version}, which is out of support`, {
      hint: `use etcd ${SUPPORTED_LINES.join(', ')}: ${installCommand(line)}`,
    });
  }
  if (found !== line) {
    throw new InputError(`${etcd} is etcd ${version}, but the spec asks for etcd ${line}`, {
      hint: `set etcd.version: "${found}" in the spec, or point --etcd-bin / ETCD_BIN at an etcd ${line} binary`,
    });
  }
  const dir = path.dirname(etcd);
  return {
    etcd,
    etcdctl: path.join(dir, 'etcdctl'),
    etcdutl: path.join(dir, 'etcdutl'),
    version,
    line,
    source,
  };
}

/** Newest cached install of a line, e.g. …/etcd/v3.6.16, or undefined. */
async function cachedInstall(line: EtcdLine, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const root = path.join(cacheDir(env), 'etcd');
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return undefined;
  }
  const versions = entries
    .filter((name) => name.startsWith(`v${line}.`))
    .map((name) => ({ name, patch: Number(name.split('.')[2]) }))
    .filter((v) => Number.isInteger(v.patch))
    .sort((a, b) => b.patch - a.patch);
  for (const { name } of versions) {
    const dir = path.join(root, name);
    const complete = await access(path.join(dir, '.complete')).then(
      () => true,
      () => false,
    );
    if (complete && (await isExecutable(path.join(dir, 'etcd')))) return path.join(dir, 'etcd');
  }
  return undefined;
}

async function onPath(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env['PATH'] ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, 'etcd');
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Resolves etcd, etcdctl and etcdutl for a line. `explicit` is --etcd-bin or the spec's etcd.bin;
 * ETCD_BIN comes next. Fails with the install command when nothing fits.
 */
export async function resolveEtcd(
  line: EtcdLine,
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<EtcdBinaries> {
  const chosen = explicit ?? (env['ETCD_BIN'] || undefined);
  if (chosen) return fromFolder(path.resolve(chosen), line, 'explicit');
  const cached = await cachedInstall(line, env);
  if (cached) return fromFolder(cached, line, 'cache');
  const fromPath = await onPath(env);
  if (fromPath) {
    const version = await etcdVersionOf(fromPath).catch(() => undefined);
    if (version && lineOf(version) === line) return fromFolder(fromPath, line, 'path');
  }
  throw new StewardError(
    `no etcd ${line} binary found (looked at --etcd-bin, ETCD_BIN, ${path.join(cacheDir(env), 'etcd')}, PATH)`,
    {
      hint: `install it with: ${installCommand(line)}`,
    },
  );
}

/**
 * The cached install of one exact release (e.g. `3.5.16`, installed on request with
 * `etcd-steward install-etcd 3.5.16`), for callers that need that release and no other, such as
 * tests of an upgrade that must be refused. Fails with the install command when it is missing,
 * and when the binary reports another version than its folder's name.
 */
export async function resolveEtcdRelease(
  version: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<EtcdBinaries> {
  const line = lineOf(version);
  if (!/^\d+\.\d+\.\d+$/.test(version) || !(SUPPORTED_LINES as readonly string[]).includes(line)) {
    throw new InputError(`'${version}' is not a release of a supported etcd line`, {
      hint: `give X.Y.Z of ${SUPPORTED_LINES.join(', ')}, e.g. 3.5.16`,
    });
  }
  const dir = path.join(cacheDir(env), 'etcd', `v${version}`);
  const etcd = path.join(dir, 'etcd');
  const complete = await access(path.join(dir, '.complete')).then(
    () => true,
    () => false,
  );
  if (!complete || !(await isExecutable(etcd))) {
    throw new StewardError(`etcd ${version} is not installed in ${dir}`, {
      hint: `install it with: ${installCommand(version)}`,
    });
  }
  const found = await fromFolder(etcd, line as EtcdLine, 'cache');
  if (found.version !== version) {
    throw new StewardError(`${etcd} is etcd ${found.version}, not ${version}`, {
      hint: `reinstall it: rm -r ${dir} && ${installCommand(version)}`,
    });
  }
  return found;
}
