/**
 * Bench row: quorum loss. A 3-member cluster of its own (BENCH_RECOVER_KEYS keys of 1 KiB,
 * default 2000) loses two members (SIGKILL, data dirs removed); measured is the wall time from
 * there to three healthy members: `etcd-steward recover --yes` (a whole process: offline survey,
 * plan, force-new-cluster, two learners joined and promoted, member lists checked) against the
 * same by hand with etcd's tools as its disaster-recovery guide goes (the survivor restarted with
 * --force-new-cluster, then `etcdctl member add` and a start with `existing` per member, no
 * learner phase and no checks). Every key is read back on each member after both.
 */
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parseSpec } from '../config/load.js';
import type { Spec } from '../config/spec.js';
import { upCluster } from '../engine/up.js';
import { clusterStatus } from '../engine/status.js';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient } from '../etcd/member-client.js';
import type { EtcdBinaries } from '../runtime/etcd-binaries.js';
import { LocalRuntime } from '../runtime/local/cluster.js';
import { LocalMembershipHost } from '../runtime/local/membership.js';
import type { Cleanup } from '../testing/harness.js';
import { seconds, timeProcess, type BenchRow } from './measure.js';

const exec = promisify(execFile);
const connection = { dialTimeoutMs: 2000, commandTimeoutMs: 10_000 };

export interface RecoverBenchContext {
  readonly binaries: EtcdBinaries;
  readonly cli: string;
  readonly dir: string;
  readonly keys: number;
  readonly env: NodeJS.ProcessEnv;
  readonly cleanup: Cleanup;
  readonly log: (message: string) => void;
}

interface Lost {
  readonly spec: Spec;
  readonly specFile: string;
  readonly endpoints: readonly string[];
}

/** A fresh cluster with the keys written, then etcd-1 and etcd-2 SIGKILLed and their data removed. */
async function lostQuorum(ctx: RecoverBenchContext, label: string): Promise<Lost> {
  const specText =
    `name: ${label}\nmembers: 3\ndataDir: ${JSON.stringify(path.join(ctx.dir, label, 'data'))}\n` +
    `etcd: { version: "${ctx.binaries.line}", unsafeNoFsync: true }\n`;
  const specFile = path.join(ctx.dir, `${label}.yaml`);
  await writeFile(specFile, specText);
  const spec = parseSpec(specText, specFile);
  const { runtime } = await upCluster({ spec, binaries: ctx.binaries, connection });
  runtime.detach();
  ctx.cleanup.add(() => new LocalRuntime(spec).stop(2_000).then(() => undefined));
  const endpoints = await runtime.endpoints();
  const writer = new MemberClient(parseEndpoint(endpoints[0] as string), connection);
  try {
    const value = 'v'.repeat(1024);
    for (let i = 0; i < ctx.keys; i += 64) {
      await Promise.all(
        Array.from({ length: Math.min(64, ctx.keys - i) }, (_, j) => writer.put(`/bench/${i + j}`, value)),
      );
    }
  } finally {
    writer.close();
  }
  const state = JSON.parse(await readFile(path.join(spec.dataDir, 'state.json'), 'utf8')) as {
    members: { name: string; pid: number | null }[];
  };
  const host = new LocalMembershipHost(spec);
  for (const name of [`${label}-1`, `${label}-2`]) {
    const pid = state.members.find((m) => m.name === name)?.pid;
    if (pid) process.kill(pid, 'SIGKILL');
    while (await host.isRunning(name)) await sleep(10);
    await rm((await host.dataDir(name)).path, { recursive: true, force: true });
  }
  return { spec, specFile, endpoints };
}

/** Waits until every endpoint serves, then checks that each holds every key. */
async function healthyWithKeys(endpoints: readonly string[], keys: number): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const status = await clusterStatus({ endpoints: [...endpoints], connection });
    if (status.members.every((m) => m.health.ok)) break;
    if (Date.now() > deadline)
      throw new Error(`not healthy: ${JSON.stringify(status.members.map((m) => m.health))}`);
    await sleep(100);
  }
  for (const e of endpoints) {
    const c = new MemberClient(parseEndpoint(e), connection);
    try {
      const { count } = await c.countKeys();
      if (count < keys) throw new Error(`${e} holds ${count} keys, not ${keys}`);
    } finally {
      c.close();
    }
  }
}

/** The by-hand path: --force-new-cluster on the survivor, then member add + start per member. */
async function byHand(ctx: RecoverBenchContext, lost: Lost): Promise<number> {
  const started = Date.now();
  const host = new LocalMembershipHost(lost.spec, ctx.binaries);
  const [survivor, ...others] = await host.members();
  if (!survivor) throw new Error('no members');
  await host.stop(survivor.name);
  await host.startForceNewCluster(survivor.name);
  await healthyWithKeys([survivor.clientUrl], 0);
  for (const member of others) {
    // etcd refuses an add ("unhealthy cluster") until its leader has been connected to every
    // voter for 5 s: an operator runs the command again, as this loop does every 0.5 s.
    let stdout: string;
    for (;;) {
      try {
        ({ stdout } = await exec(ctx.binaries.etcdctl, [
          `--endpoints=${survivor.clientUrl}`,
          'member',
          'add',
          member.name,
          `--peer-urls=${member.peerUrl}`,
        ]));
        break;
      } catch (error) {
        if (!/unhealthy cluster/.test(String((error as { stderr?: string }).stderr))) throw error;
        await sleep(500);
      }
    }
    const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(stdout)?.[1];
    if (!initialCluster) throw new Error(`etcdctl member add said: ${stdout}`);
    await host.startJoining(member.name, initialCluster);
    await healthyWithKeys([member.clientUrl], 0);
  }
  await healthyWithKeys(lost.endpoints, ctx.keys);
  return Date.now() - started;
}

/** The recover row: ours and by hand, one run each (each on its own fresh cluster). */
export async function benchRecover(ctx: RecoverBenchContext): Promise<BenchRow> {
  ctx.log(`recover: ${ctx.keys} keys of 1 KiB, two of three members lost`);
  const a = await lostQuorum(ctx, 'recover-ours');
  const started = Date.now();
  await timeProcess(process.execPath, [ctx.cli, '--config', a.specFile, 'recover', '--yes'], {
    env: ctx.env,
    cwd: ctx.dir,
  });
  await healthyWithKeys(a.endpoints, ctx.keys);
  const ours = Date.now() - started;
  ctx.log(`recover: etcd-steward recover --yes ${seconds(ours)}`);
  const b = await lostQuorum(ctx, 'recover-hand');
  const theirs = await byHand(ctx, b);
  ctx.log(`recover: by hand ${seconds(theirs)}`);
  return {
    name: `recover: two of three members lost → healthy three (${ctx.keys} keys)`,
    ours: seconds(ours),
    theirs: seconds(theirs),
    ratio: ours / theirs,
    goal: '-',
    met: undefined,
    note:
      'ours: `recover --yes` as a process (offline survey, plan, force-new-cluster, restart, learners added and promoted, member lists checked); ' +
      'by hand: restart with --force-new-cluster, `etcdctl member add` + start with existing per member (no learners, no checks); every key read back on each member',
  };
}
