/**
 * Builds the bench cluster's members from a snapshot kept by an earlier run (BENCH_SEED_SNAPSHOT),
 * the way `restore --into` does but without its checks and digests: plan the local cluster (names,
 * free ports, a new token), `etcdutl snapshot restore` each member; `upCluster` then starts them.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Spec } from '../config/spec.js';
import type { EtcdBinaries } from '../runtime/etcd-binaries.js';
import { LocalRuntime } from '../runtime/local/cluster.js';
import { memberPaths, peerUrl } from '../runtime/local/member-process.js';

const exec = promisify(execFile);

export async function seedFromSnapshot(spec: Spec, binaries: EtcdBinaries, file: string): Promise<void> {
  const state = await new LocalRuntime(spec, binaries).plan();
  const initialCluster = state.members.map((m) => `${m.name}=${peerUrl(state, m)}`).join(',');
  await Promise.all(
    state.members.map((m) =>
      exec(binaries.etcdutl, [
        'snapshot',
        'restore',
        file,
        `--name=${m.name}`,
        `--data-dir=${memberPaths(spec.dataDir, m.name).dataDir}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-cluster-token=${state.token}`,
        `--initial-advertise-peer-urls=${peerUrl(state, m)}`,
      ]),
    ),
  );
}
