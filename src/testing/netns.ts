/**
 * A real etcd cluster whose members each live in their own Linux network namespace, joined by a
 * bridge (veth pairs), for partition tests. The test process reaches every member on the bridge;
 * `isolate(name)` cuts one member off from the others with blackhole routes on both sides (its
 * client port stays reachable from us, as a partition between racks would leave it), and
 * `reconnect()` removes them. Needs root and `ip` (iproute2); `netnsSkip()` says why not.
 * Everything (processes, namespaces, bridge) is removed by the Cleanup, whatever happened.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { EtcdBinaries } from '../runtime/etcd-binaries.js';
import { killAndWait } from './child-process.js';
import type { Cleanup } from './harness.js';

const exec = promisify(execFile);

async function ip(...args: string[]): Promise<void> {
  await exec('ip', args);
}

/** Why network-namespace tests cannot run here (not root, no `ip`, no namespaces), or false. */
export async function netnsSkip(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'partition tests need root (network namespaces)';
  const probe = `st-probe-${randomBytes(3).toString('hex')}`;
  try {
    await ip('netns', 'add', probe);
    await ip('netns', 'del', probe);
    return false;
  } catch (error) {
    return `network namespaces are not available (${(error as Error).message.split('\n')[0]}); install iproute2 (scripts/install-test-deps.sh)`;
  }
}

export interface NetnsMember {
  readonly name: string;
  readonly ns: string;
  readonly ip: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
}

export interface NetnsCluster {
  readonly members: readonly NetnsMember[];
  readonly endpoints: readonly string[];
  /** Cuts `name` off from every other member (both directions); we still reach its client port. */
  isolate(name: string): Promise<void>;
  /** Removes every cut: the partition heals. */
  reconnect(): Promise<void>;
}

/** Starts `size` members of `binaries` in their own namespaces under `dir`. */
export async function startNetnsCluster(
  cleanup: Cleanup,
  binaries: EtcdBinaries,
  dir: string,
  size = 3,
): Promise<NetnsCluster> {
  const tag = randomBytes(2).toString('hex');
  const net = `10.${200 + ((randomBytes(1)[0] as number) % 50)}.${randomBytes(1)[0] as number}`;
  const bridge = `stb${tag}`;
  // Cleanups run in reverse order: processes first, then namespaces, then the bridge.
  await ip('link', 'add', bridge, 'type', 'bridge');
  cleanup.add(() => ip('link', 'del', bridge).catch(() => undefined));
  await ip('addr', 'add', `${net}.1/24`, 'dev', bridge);
  await ip('link', 'set', bridge, 'up');
  const members: NetnsMember[] = [];
  for (let i = 0; i < size; i += 1) {
    const ns = `st${tag}-${i}`;
    const address = `${net}.${10 + i}`;
    await ip('netns', 'add', ns);
    cleanup.add(() => ip('netns', 'del', ns).catch(() => undefined));
    await ip('link', 'add', `stv${tag}${i}`, 'type', 'veth', 'peer', 'name', `stp${tag}${i}`);
    await ip('link', 'set', `stp${tag}${i}`, 'netns', ns);
    await ip('link', 'set', `stv${tag}${i}`, 'master', bridge, 'up');
    await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', `stp${tag}${i}`);
    await ip('-n', ns, 'link', 'set', `stp${tag}${i}`, 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    members.push({
      name: `etcd-${i}`,
      ns,
      ip: address,
      clientUrl: `http://${address}:2379`,
      peerUrl: `http://${address}:2380`,
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const children: ChildProcess[] = [];
  cleanup.add(() => Promise.all(children.map((c) => killAndWait(c, 2000))));
  for (const m of members) {
    const memberDir = path.join(dir, m.name);
    await mkdir(memberDir, { recursive: true });
    const log = await open(path.join(memberDir, 'etcd.log'), 'a');
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        m.ns,
        binaries.etcd,
        `--name=${m.name}`,
        `--data-dir=${path.join(memberDir, 'data')}`,
        `--listen-client-urls=${m.clientUrl}`,
        `--advertise-client-urls=${m.clientUrl}`,
        `--listen-peer-urls=${m.peerUrl}`,
        `--initial-advertise-peer-urls=${m.peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=netns-${tag}`,
        '--heartbeat-interval=100',
        '--election-timeout=1000',
        '--unsafe-no-fsync',
      ],
      { stdio: ['ignore', log.fd, log.fd] },
    );
    child.once('exit', () => void log.close().catch(() => undefined));
    children.push(child);
  }
  const cuts: string[][] = [];
  const route = async (args: string[]) => {
    await ip(...args);
    cuts.push(args);
  };
  return {
    members,
    endpoints: members.map((m) => m.clientUrl),
    async isolate(name) {
      const cut = members.find((m) => m.name === name);
      if (!cut) throw new Error(`no member ${name}`);
      for (const other of members.filter((m) => m !== cut)) {
        await route(['-n', cut.ns, 'route', 'add', 'blackhole', `${other.ip}/32`]);
        await route(['-n', other.ns, 'route', 'add', 'blackhole', `${cut.ip}/32`]);
      }
    },
    async reconnect() {
      for (const args of cuts.splice(0)) await ip(...args.map((a) => (a === 'add' ? 'del' : a)));
    },
  };
}
