/**
 * Bench row: whole-process time of `etcd-steward status -o json` beside
 * `etcdctl endpoint status -w json` on the same three members and beside `node -e 0` (Node's own
 * start-up, the floor of any Node CLI). Goal: ≤ 1.5× `node -e 0`.
 */
import { fileURLToPath } from 'node:url';
import type { EtcdBinaries } from '../runtime/etcd-binaries.js';
import { clusterStatus } from '../engine/status.js';
import { interleavedMedians, type BenchRow, timeProcess } from './measure.js';

const CLI = fileURLToPath(new URL('../../bin/etcd-steward.mjs', import.meta.url));

/** Both tools get the same --endpoints and run in `cwd`, a folder without a spec. */
export async function benchStatus(
  binaries: EtcdBinaries,
  endpoints: readonly string[],
  runs: number,
  cwd: string,
  cli = CLI,
): Promise<BenchRow> {
  const list = endpoints.join(',');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCDCTL_')));
  const medians = await interleavedMedians(runs, {
    ours: () =>
      timeProcess(process.execPath, [cli, 'status', '-o', 'json', '--endpoints', list], { env, cwd }),
    etcdctl: () =>
      timeProcess(binaries.etcdctl, ['endpoint', 'status', '-w', 'json', `--endpoints=${list}`], {
        env,
        cwd,
      }),
    nodeStartup: () => timeProcess(process.execPath, ['-e', '0'], { env, cwd }),
    inProcess: async () => {
      const started = performance.now();
      await clusterStatus({ endpoints: list, connection: { dialTimeoutMs: 2000, commandTimeoutMs: 5000 } });
      return performance.now() - started;
    },
  });
  const ours = medians['ours'] as number;
  const theirs = medians['etcdctl'] as number;
  const node = medians['nodeStartup'] as number;
  const ratio = ours / node;
  return {
    name: `status -o json, 3 members, whole process (median of ${runs})`,
    ours: `${ours.toFixed(1)} ms`,
    theirs: `${theirs.toFixed(1)} ms (etcdctl endpoint status, ${(ours / theirs).toFixed(1)}×); node -e 0 ${node.toFixed(1)} ms`,
    ratio,
    goal: '≤ 1.5× node -e 0',
    met: ratio <= 1.5,
    note:
      `ratio is to node -e 0 (Node's start-up alone); ` +
      `the status work in-process ${(medians['inProcess'] as number).toFixed(1)} ms; ` +
      `the rest is loading the CLI bundle, commander and node:http2 (TLS, net, streams) before the first call`,
  };
}
