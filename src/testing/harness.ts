/**
 * Test helpers shared by integration tests: temp dirs that clean up, running the real CLI,
 * writing specs, the etcd lines under test, and certificates made with openssl.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { SUPPORTED_LINES, type EtcdLine } from '../config/etcd-lines.js';
import { resolveEtcd, type EtcdBinaries } from '../runtime/etcd-binaries.js';

const exec = promisify(execFile);

/**
 * Every temp dir of a test starts with this, so the runner can find what a test left behind.
 * The runner gives each run its own id, so runs side by side never take each other's dirs.
 */
export const TEST_TMP_PREFIX = path.join(
  os.tmpdir(),
  `steward-test-${process.env['STEWARD_TEST_RUN'] ?? 'adhoc'}-`,
);

/** The shipped CLI: the package's bin, which runs the bundle `npm run build` makes. */
export const CLI = fileURLToPath(new URL('../../bin/etcd-steward.mjs', import.meta.url));

/** A registry of cleanups, run in reverse order (node:test's `after`/`t.after` call `run`). */
export class Cleanup {
  private readonly steps: (() => Promise<unknown>)[] = [];
  add(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    while (this.steps.length > 0)
      await this.steps
        .pop()?.()
        .catch((e: unknown) => console.error('cleanup:', e));
  }
}

/** A fresh temp dir, removed by `cleanup`. */
export async function tempDir(cleanup: Cleanup, label = 'x'): Promise<string> {
  const dir = await mkdtemp(`${TEST_TMP_PREFIX}${label}-`);
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The etcd lines to test: STEWARD_TEST_LINES (e.g. "3.6") or all supported ones. */
export function testLines(): EtcdLine[] {
  const wanted = process.env['STEWARD_TEST_LINES']
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return wanted ? SUPPORTED_LINES.filter((line) => wanted.includes(line)) : [...SUPPORTED_LINES];
}

/** Installed binaries of a line; fails the test (with the install command) when missing. */
export function binariesFor(line: EtcdLine): Promise<EtcdBinaries> {
  return resolveEtcd(line);
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  json<T = Record<string, unknown>>(): T;
}

/** Runs `etcd-steward ARGS` as a user would (a real process) and collects its output. */
export function runCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env = { ...scrubbedEnv(), ...options.env };
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout,
        stderr,
        json<T>() {
          try {
            return JSON.parse(stdout) as T;
          } catch {
            throw new Error(`stdout is not one JSON document:\n${stdout}\nstderr:\n${stderr}`);
          }
        },
      });
    });
  });
}

/** Our environment without ETCDCTL_* / ETCD_* variables, so a developer's settings don't leak in. */
export function scrubbedEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('ETCDCTL_') && !k.startsWith('ETCD_')),
  );
}

/** Writes a spec into `dir` (steward.yaml), with fast test defaults, and returns its path. */
export async function writeSpec(
  dir: string,
  spec: Record<string, unknown>,
  file = 'steward.yaml',
): Promise<string> {
  const etcd = { unsafeNoFsync: true, ...(spec['etcd'] as object | undefined) };
  const full = { name: 'etcd', runtime: 'local', members: 3, dataDir: './data', ...spec, etcd };
  const target = path.join(dir, file);
  await writeFile(target, stringify(full));
  return target;
}

/**
 * Starts a local cluster from `specFile` with the real CLI (`up --detach`) and registers
 * `down --purge` plus a SIGKILL of every recorded pid as cleanup. Returns the status JSON.
 */
export async function upDetached(
  cleanup: Cleanup,
  specFile: string,
  env: NodeJS.ProcessEnv = {},
): Promise<UpJson> {
  cleanup.add(() => killRecordedMembers(path.dirname(specFile)));
  const result = await runCli(['--config', specFile, 'up', '--detach', '-o', 'json'], { env });
  if (result.code !== 0)
    throw new Error(`up failed (exit ${String(result.code)}):\n${result.stderr}\n${result.stdout}`);
  return result.json<UpJson>();
}

export interface UpJson {
  mode: string;
  endpoints: string[];
  status: {
    healthy: boolean;
    clusterId: string;
    members: { endpoint: string; name: string | null; id: string; version: string; isLeader: boolean }[];
  };
}

/** SIGKILLs every member pid recorded under `dir` (any data dir's state.json below it). */
export async function killRecordedMembers(dir: string): Promise<void> {
  const { stdout } = await exec('find', [dir, '-name', 'state.json']).catch(() => ({ stdout: '' }));
  for (const file of stdout.split('\n').filter(Boolean)) {
    const state = JSON.parse(await readFile(file, 'utf8')) as { members: { pid: number | null }[] };
    for (const m of state.members) {
      if (m.pid) {
        try {
          process.kill(m.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  }
}

/** Runs a real etcdctl of the line against `endpoints`; returns stdout. */
export async function etcdctl(
  binaries: EtcdBinaries,
  endpoints: readonly string[],
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<string> {
  const { stdout } = await exec(binaries.etcdctl, [`--endpoints=${endpoints.join(',')}`, ...args], {
    env: { ...scrubbedEnv(), ...env },
  });
  return stdout;
}

export interface TestCerts {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCa: string;
}

/** A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and an unrelated CA. */
export async function makeCerts(dir: string): Promise<TestCerts> {
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => exec('openssl', args, { cwd: dir });
  const ca = async (name: string) => {
    await ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.pem`),
    );
  };
  const leaf = async (name: string, usage: string, san: string) => {
    await ssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
    );
    await writeFile(f(`${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`);
    await ssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
      '-out',
      f(`${name}.pem`),
    );
  };
  await ca('ca');
  await ca('other-ca');
  await leaf('server', 'serverAuth,clientAuth', 'IP:127.0.0.1,DNS:localhost');
  await leaf('client', 'clientAuth', 'DNS:steward-client');
  return {
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    otherCa: f('other-ca.pem'),
  };
}
