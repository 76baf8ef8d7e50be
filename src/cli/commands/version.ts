/** `etcd-steward version`: what runs (etcd-steward, Node) and which etcd releases are installed. */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { cacheDir } from '../../runtime/etcd-binaries.js';
import type { GlobalOptions } from '../context.js';
import { printJson } from '../output.js';

export async function versionCommand(options: GlobalOptions, version: string): Promise<number> {
  const dir = path.join(cacheDir(), 'etcd');
  const etcd = (await readdir(dir).catch(() => [] as string[]))
    .filter((name) => /^v3\.\d+\.\d+$/.test(name))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  if (options.output === 'json') {
    printJson({ version, node: process.versions.node, etcdCache: dir, etcd });
    return 0;
  }
  process.stdout.write(
    [
      `etcd-steward ${version}`,
      `node ${process.versions.node}`,
      `etcd installed: ${etcd.length > 0 ? etcd.join(', ') : 'none'} (${dir}; etcd-steward install-etcd adds them)`,
      '',
    ].join('\n'),
  );
  return 0;
}
