/**
 * Building the etcd-steward image and running commands in it with buildah (chroot isolation, vfs
 * storage: what works on machines with no container runtime; the commands share the host's
 * network). Used by the image test.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Cleanup } from './harness.js';

const exec = promisify(execFile);

/** The storage driver build-image.sh uses (same variable). */
const STORAGE = process.env['STORAGE_DRIVER'] ?? 'vfs';
const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/build-image.sh', import.meta.url));

/** `buildah --storage-driver … ARGS`, its stdout; throws with stderr on failure. */
export async function buildah(args: readonly string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await exec('buildah', ['--storage-driver', STORAGE, ...args], {
      timeout: timeoutMs,
      maxBuffer: 64 * 2 ** 20,
    });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`buildah ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, {
      cause: error,
    });
  }
}

/** The skip reason when buildah is not installed (printed loudly), else false. */
export async function buildahSkip(): Promise<string | false> {
  try {
    await exec('buildah', ['--version']);
    return false;
  } catch {
    const reason =
      'SKIPPED: no buildah — the image test needs it (apt-get install buildah; scripts/install-test-deps.sh installs it as root)';
    console.error(`\n*** ${reason} ***\n`);
    return reason;
  }
}

/** Builds the image of `line` with scripts/build-image.sh from the dist/ already built; returns its name. */
export async function buildImage(line: string): Promise<{ name: string; log: string }> {
  try {
    const { stdout, stderr } = await exec('bash', [BUILD_SCRIPT, '--skip-npm-build', line], {
      timeout: 20 * 60_000,
      maxBuffer: 64 * 2 ** 20,
    });
    const name = stdout.trim().split('\n').pop() ?? '';
    return { name, log: stderr };
  } catch (error) {
    const e = error as { stderr?: string; code?: number | string; signal?: string };
    throw new Error(
      `scripts/build-image.sh ${line} failed (exit ${String(e.code)}${e.signal ? `, ${e.signal}` : ''}):\n${e.stderr ?? ''}`,
      { cause: error },
    );
  }
}

/** A working container of `image`, removed by `cleanup`. */
export async function workingContainer(cleanup: Cleanup, image: string): Promise<string> {
  const id = (await buildah(['from', '--quiet', '--pull-never', image])).trim();
  cleanup.add(() => buildah(['rm', id]));
  return id;
}

/** What `buildah run` is told besides the command: user, environment, bind mounts. */
export interface RunOptions {
  readonly user?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** host path → path in the container; `DIR#…` as the key mounts DIR read-only (one dir, many places) */
  readonly mounts?: ReadonlyMap<string, string>;
}

function runArgs(container: string, command: readonly string[], options: RunOptions): string[] {
  const args = ['run', '--isolation', 'chroot'];
  if (options.user) args.push('--user', options.user);
  for (const [name, value] of Object.entries(options.env ?? {})) args.push('--env', `${name}=${value}`);
  for (const [host, inside] of options.mounts ?? []) {
    const [dir, readOnly] = host.split('#');
    args.push('--volume', `${dir}:${inside}${readOnly === undefined ? '' : ':ro'}`);
  }
  return [...args, container, '--', ...command];
}

/** Runs `command` in `container` to its end; resolves with its output and exit code. */
export function runIn(
  container: string,
  command: readonly string[],
  options: RunOptions = {},
  timeoutMs = 120_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('buildah', ['--storage-driver', STORAGE, ...runArgs(container, command, options)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts `command` in `container` in the background (buildah passes SIGTERM on to it). */
export function startIn(
  container: string,
  command: readonly string[],
  options: RunOptions = {},
): ChildProcess {
  return spawn('buildah', ['--storage-driver', STORAGE, ...runArgs(container, command, options)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
