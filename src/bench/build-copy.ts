/**
 * A private copy of the build for the bench's child processes. A bench run takes minutes; a
 * `npm run build` elsewhere in that time (tests run it first) removes and rewrites dist/bundle
 * under the running bench, which then fails or measures a half-written bundle. So the bench
 * copies what the CLI needs (bin, dist without the bundle, proto, scripts, src, package.json; the
 * dependencies by a symlink) into its temp dir and bundles that copy with the project's own
 * scripts/bundle.mjs. The copy is the same code: the figures are the build's.
 */
import { execFile } from 'node:child_process';
import { cp, symlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface BuildCopy {
  /** The copied `bin/etcd-steward.mjs`. */
  readonly cli: string;
  /** The copied `dist/` (tsc output and a fresh bundle). */
  readonly dist: string;
}

export async function copyBuild(into: string): Promise<BuildCopy> {
  const bundleDir = path.join(ROOT, 'dist', 'bundle');
  // src/: the bundle script type-checks and bundles the dashboard from src/web/client.
  for (const entry of ['bin', 'proto', 'scripts', 'src', 'package.json']) {
    await cp(path.join(ROOT, entry), path.join(into, entry), { recursive: true });
  }
  await cp(path.join(ROOT, 'dist'), path.join(into, 'dist'), {
    recursive: true,
    filter: (source) => source !== bundleDir && !source.startsWith(`${bundleDir}${path.sep}`),
  });
  await symlink(path.join(ROOT, 'node_modules'), path.join(into, 'node_modules'), 'dir');
  await exec(process.execPath, [path.join(into, 'scripts', 'bundle.mjs')], { cwd: into });
  return { cli: path.join(into, 'bin', 'etcd-steward.mjs'), dist: path.join(into, 'dist') };
}
