/**
 * Bench row: whole-process time of `etcd-steward status -o json` against
 * `etcdctl endpoint status -w json` on the same three members. Goal: ratio ≤ 2.
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
  const ratio = ours / theirs;
  return {
    name: `status -o json, 3 members (median of ${runs})`,
    ours: `${ours.toFixed(1)} ms`,
    theirs: `${theirs.toFixed(1)} ms (etcdctl endpoint status)`,
    ratio,
    goal: '≤ 2',
    met: ratio <= 2,
    note:
      `node start-up alone ${(medians['nodeStartup'] as number).toFixed(1)} ms; ` +
      `the status work in-process ${(medians['inProcess'] as number).toFixed(1)} ms; ` +
      `the rest is loading and compiling the bundle (gRPC, protobuf) before the first call`,
  };
}
