/** `etcd-steward install-etcd [LINE|VERSION…]`: runs the packaged install script for etcd binaries. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InputError, StewardError } from '../../errors.js';
import { SUPPORTED_LINES } from '../../config/etcd-lines.js';

/**
 * scripts/install-etcd.sh of this package. tsc's output (dist/cli/commands/) sits two folders
 * below the package root, the bundle's chunks (dist/bundle/) one, so both depths are tried.
 */
export function installScriptPath(): string {
  const candidates = ['../../scripts/install-etcd.sh', '../../../scripts/install-etcd.sh'].map((relative) =>
    fileURLToPath(new URL(relative, import.meta.url)),
  );
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new StewardError(`the etcd install script is missing (looked at ${candidates.join(', ')})`, {
      hint: 'reinstall etcd-steward: its package ships scripts/install-etcd.sh',
    });
  }
  return found;
}

/** A release line (`3.6`) or a full version of one (`3.5.16`, `v3.5.16`). */
function isLineOrVersion(arg: string): boolean {
  const line = /^v?(\d+\.\d+)(\.\d+)?$/.exec(arg)?.[1];
  return line !== undefined && (SUPPORTED_LINES as readonly string[]).includes(line);
}

export async function installEtcdCommand(lines: readonly string[]): Promise<number> {
  for (const line of lines) {
    if (!isLineOrVersion(line)) {
      throw new InputError(`'${line}' is not a supported etcd line or version`, {
        hint: `use one of ${SUPPORTED_LINES.join(', ')}, or a full version of one (e.g. 3.5.16)`,
      });
    }
  }
  const script = installScriptPath();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...lines], { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code === 0 ? 0 : 1));
  });
}
