/** `etcd-steward install-etcd [LINE…]`: runs the bundled install script for etcd binaries. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { InputError } from '../../errors.js';
import { SUPPORTED_LINES } from '../../config/etcd-lines.js';

const SCRIPT = fileURLToPath(new URL('../../../scripts/install-etcd.sh', import.meta.url));

export async function installEtcdCommand(lines: readonly string[]): Promise<number> {
  for (const line of lines) {
    if (!(SUPPORTED_LINES as readonly string[]).includes(line)) {
      throw new InputError(`'${line}' is not a supported etcd line`, {
        hint: `use one of ${SUPPORTED_LINES.join(', ')}`,
      });
    }
  }
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT, ...lines], { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code === 0 ? 0 : 1));
  });
}
