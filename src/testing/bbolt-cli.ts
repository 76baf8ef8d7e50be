/**
 * bbolt's own CLI as a test companion: `bbolt check`, `keys`, `get` judge the files our bbolt
 * writer makes. scripts/install-bbolt.sh builds it into the cache, next to the etcd binaries.
 */
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from '../runtime/etcd-binaries.js';

const run = promisify(execFile);

/** The bbolt release the tests use; keep in step with scripts/install-bbolt.sh. */
export const BBOLT_VERSION = 'v1.4.3';

/** The installed bbolt CLI, or undefined (with the install command for a loud skip). */
export async function findBbolt(): Promise<{ path: string } | { missing: string }> {
  const binary = path.join(cacheDir(), 'bbolt', BBOLT_VERSION, 'bbolt');
  try {
    await access(binary, constants.X_OK);
    return { path: binary };
  } catch {
    return {
      missing: `bbolt ${BBOLT_VERSION} is not installed at ${binary}: run bash scripts/install-bbolt.sh (or scripts/install-test-deps.sh)`,
    };
  }
}

/** Runs `bbolt ARGS` and returns its stdout (throws with stderr when it exits non-zero). */
export async function bbolt(binary: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run(binary, [...args], { maxBuffer: 256 << 20, timeout: 120_000 });
  return stdout;
}
