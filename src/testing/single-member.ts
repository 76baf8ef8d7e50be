/**
 * One real etcd process for adapter tests that need a flag the spec does not carry (e.g.
 * `--auth-token-ttl`): a one-member cluster on free loopback ports in a temp dir, killed by `cleanup`.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EtcdLine } from '../config/etcd-lines.js';
import { parseEndpoint, type Endpoint } from '../etcd/endpoint.js';
import { MemberClient } from '../etcd/member-client.js';
import { freePorts } from '../runtime/local/ports.js';
import { killAndWait } from './child-process.js';
import { binariesFor, tempDir, type Cleanup } from './harness.js';

/** A running single-member cluster. */
export interface SingleMember {
  readonly endpoint: Endpoint;
  readonly pid: number;
}

/** Starts `etcd` of `line` with `flags` added and waits until it answers Status. */
export async function startSingleMember(
  cleanup: Cleanup,
  line: EtcdLine,
  flags: readonly string[] = [],
): Promise<SingleMember> {
  const binaries = await binariesFor(line);
  const dir = await tempDir(cleanup, `member-${line}`);
  const [client, peer] = (await freePorts(2)) as [number, number];
  const clientUrl = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const child = spawn(
    binaries.etcd,
    [
      '--name=m0',
      `--data-dir=${path.join(dir, 'data')}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=m0=${peerUrl}`,
      '--unsafe-no-fsync',
      '--log-level=error',
      ...flags,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  cleanup.add(() => {
    try {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGCONT'); // if a test paused it
    } catch {
      // already gone
    }
    return killAndWait(child, 2000);
  });
  const endpoint = parseEndpoint(clientUrl);
  const probe = new MemberClient(endpoint, { dialTimeoutMs: 500, commandTimeoutMs: 1000 });
  try {
    for (let i = 0; ; i += 1) {
      if (child.exitCode !== null) throw new Error(`etcd ${line} exited (${child.exitCode}):\n${stderr}`);
      try {
        await probe.status();
        break;
      } catch (error) {
        if (i > 100) throw error;
        await sleep(100);
      }
    }
  } finally {
    probe.close();
  }
  return { endpoint, pid: child.pid as number };
}
