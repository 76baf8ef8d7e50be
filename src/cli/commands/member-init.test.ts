/**
 * `member-init`, each etcd pod's init step on Kubernetes, run here with the very arguments the
 * rendered StatefulSet gives its init container and its promote sidecar, and etcd started with the
 * etcd container's command — only the pod name, paths, host names and ports put in, as the pod's
 * downward API, volumes and DNS would (no kubelet runs here). Real etcd members on loopback:
 * three fresh members decide `new` together; a member whose data was wiped is removed and joins
 * as a learner under the same name and is promoted; present data means `start`; a pinned restore
 * refuses a backup whose SHA-256 differs and never restores twice.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseSpec } from '../../config/load.js';
import type { EtcdLine } from '../../config/etcd-lines.js';
import type { BackupManifest } from '../../engine/backup/manifest.js';
import { renderKubernetes } from '../../runtime/kubernetes/render.js';
import type { KubeObject } from '../../runtime/kubernetes/render-types.js';
import { freePorts } from '../../runtime/local/ports.js';
import {
  CLI,
  Cleanup,
  binariesFor,
  etcdctl,
  killRecordedMembers,
  runCli,
  scrubbedEnv,
  tempDir,
  upDetached,
  writeSpec,
} from '../../testing/harness.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

interface Container {
  name: string;
  command?: string[];
  args: string[];
}
interface PodSpec {
  initContainers: Container[];
  containers: Container[];
}

function podOf(objects: readonly KubeObject[]): PodSpec {
  const sts = objects.find((o) => o.kind === 'StatefulSet');
  assert.ok(sts, 'a StatefulSet was rendered');
  return (sts['spec'] as { template: { spec: PodSpec } }).template.spec;
}

/** One pod on loopback: its name, ports, and folders standing in for its volumes. */
interface LocalPod {
  readonly name: string;
  readonly client: number;
  readonly peer: number;
  readonly metrics: number;
  readonly dir: string;
  readonly dataDir: string;
  readonly etcdConfig: string;
}

/** Puts the pods' names, loopback ports and folders into rendered arguments. */
class PodWorld {
  constructor(
    readonly cluster: string,
    readonly pods: readonly LocalPod[],
    readonly specFile: string,
    readonly etcdutl = 'etcdutl',
  ) {}

  args(pod: LocalPod, args: readonly string[]): string[] {
    const host = (p: string) => `${p}.${this.cluster}-headless.default.svc.cluster.local`;
    // The kubelet expands these from the downward API (metadata.name, metadata.namespace).
    const pairs: [string, string][] = [
      ['$(POD_NAME)', pod.name],
      ['$(POD_NAMESPACE)', 'default'],
    ];
    for (const p of this.pods) {
      pairs.push([`http://${host(p.name)}:2380`, `http://127.0.0.1:${p.peer}`]);
      pairs.push([`http://${host(p.name)}:2379`, `http://127.0.0.1:${p.client}`]);
    }
    // The client Service: routed to the first member here.
    pairs.push([
      `http://${this.cluster}.default.svc.cluster.local:2379`,
      `http://127.0.0.1:${this.pods[0]?.client}`,
    ]);
    pairs.push(
      ['http://0.0.0.0:2379', `http://127.0.0.1:${pod.client}`],
      ['http://0.0.0.0:2380', `http://127.0.0.1:${pod.peer}`],
      ['http://0.0.0.0:2381', `http://127.0.0.1:${pod.metrics}`],
      ['/var/lib/etcd/data', pod.dataDir],
      ['/run/etcd-steward/etcd.yaml', pod.etcdConfig],
      ['/etc/etcd-steward/steward.yaml', this.specFile],
      ['/usr/local/bin/etcdutl', this.etcdutl],
    );
    return args.map((a) => pairs.reduce((s, [from, to]) => s.replaceAll(from, to), a));
  }
}

async function podWorld(
  dir: string,
  cluster: string,
  count: number,
  specText: string,
  etcdutl?: string,
): Promise<PodWorld> {
  const ports = await freePorts(count * 3);
  const pods: LocalPod[] = Array.from({ length: count }, (_, i) => {
    const podDir = path.join(dir, `pod-${i}`);
    return {
      name: `${cluster}-${i}`,
      client: ports[i * 3] as number,
      peer: ports[i * 3 + 1] as number,
      metrics: ports[i * 3 + 2] as number,
      dir: podDir,
      dataDir: path.join(podDir, 'var-lib-etcd', 'data'),
      etcdConfig: path.join(podDir, 'run', 'etcd.yaml'),
    };
  });
  const specFile = path.join(dir, 'steward.yaml');
  await mkdir(dir, { recursive: true });
  const world = new PodWorld(cluster, pods, specFile, etcdutl);
  // The spec ConfigMap the pods mount, with the members' addresses put in.
  await writeFile(specFile, world.args(pods[0] as LocalPod, [specText])[0] as string);
  return world;
}

/** The steward.yaml of the rendered ConfigMap. */
function configMapSpec(objects: readonly KubeObject[]): string {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-steward-config'));
  const text = (cm?.['data'] as Record<string, string> | undefined)?.['steward.yaml'];
  assert.ok(text, 'the agent ConfigMap holds steward.yaml');
  return text;
}

interface Decision {
  member: string;
  kind: string;
  reason: string;
  id?: string;
}

async function memberInit(world: PodWorld, pod: LocalPod, init: Container, extra: string[] = []) {
  const args = world.args(pod, init.args);
  const at = args.indexOf('--');
  return runCli([...args.slice(0, at), '-o', 'json', ...extra, ...args.slice(at)], { timeoutMs: 120_000 });
}

function startEtcd(world: PodWorld, pod: LocalPod, etcdBin: string, container: Container): ChildProcess {
  const child = spawn(etcdBin, world.args(pod, container.args), { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  child.once('exit', (code) => {
    if (code !== 0 && code !== null) process.stderr.write(`etcd ${pod.name} exited ${code}:\n${log}\n`);
  });
  cleanup.add(async () => {
    child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 50));
  });
  return child;
}

interface MemberRow {
  ID: string;
  name: string;
  isLearner?: boolean;
  peerURLs: string[];
}

async function memberList(
  bin: Awaited<ReturnType<typeof binariesFor>>,
  endpoint: string,
): Promise<MemberRow[]> {
  const out = await etcdctl(bin, [endpoint], ['member', 'list', '-w', 'json']);
  return (JSON.parse(out) as { members: MemberRow[] }).members;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

const lines: EtcdLine[] = process.env['STEWARD_TEST_ALL_LINES'] ? ['3.5', '3.6', '3.7'] : ['3.6'];

describe('member-init (the etcd pods’ init step on Kubernetes)', () => {
  for (const line of lines) {
    it(`${line}: three fresh members decide new together; a wiped member rejoins as a learner under its name and is promoted; data present means start`, async () => {
      const bin = await binariesFor(line);
      const dir = await tempDir(cleanup, 'member-init');
      const objects = renderKubernetes(
        parseSpec(
          `name: etcd\nruntime: kubernetes\nmembers: 3\netcd: { version: "${line}", unsafeNoFsync: true }\n`,
          undefined,
        ),
      );
      const pod = podOf(objects);
      const [init, promote] = pod.initContainers;
      const etcdContainer = pod.containers[0];
      assert.ok(init && promote && etcdContainer);
      assert.equal(init.name, 'member-init');
      assert.equal(promote.name, 'promote');
      assert.ok(
        !init.args.some((a) => a.startsWith('--initial-cluster-state')),
        'no hard-coded initial-cluster-state',
      );
      const world = await podWorld(dir, 'etcd', 3, configMapSpec(objects));
      const [p0, p1, p2] = world.pods as [LocalPod, LocalPod, LocalPod];

      // Pod 0 alone finds nobody: it waits for the other initial members instead of starting a cluster.
      const alone = await memberInit(world, p0, init, ['--timeout', '3s']);
      assert.equal(alone.code, 1, alone.stderr);
      assert.match(alone.stderr, /waiting for etcd-1, etcd-2/);
      assert.equal(existsSync(p0.etcdConfig), false);

      const decisions = await Promise.all(
        world.pods.map((p) => memberInit(world, p, init, ['--timeout', '60s'])),
      );
      for (const d of decisions) assert.equal(d.code, 0, d.stderr);
      assert.deepEqual(
        decisions.map((d) => d.json<Decision>().kind),
        ['new', 'new', 'new'],
      );
      const written = await readFile(p0.etcdConfig, 'utf8');
      assert.match(written, /^initial-cluster-state: new$/m);
      assert.match(written, /^unsafe-no-fsync: true$/m);

      const etcds = world.pods.map((p) => startEtcd(world, p, bin.etcd, etcdContainer));
      const endpoint = (p: LocalPod) => `http://127.0.0.1:${p.client}`;
      await until('the new cluster to serve', () =>
        etcdctl(bin, [endpoint(p0)], ['put', '/greptime/k', 'v']).then(() => true),
      );
      for (let i = 0; i < 20; i += 1) await etcdctl(bin, [endpoint(p0)], ['put', `/greptime/t${i}`, `${i}`]);
      const before = await memberList(bin, endpoint(p0));
      assert.deepEqual(before.map((m) => m.name).sort(), ['etcd-0', 'etcd-1', 'etcd-2']);
      const oldId = before.find((m) => m.name === 'etcd-2')?.ID;

      // A restarted pod with its data: start as it is.
      const restarted = await memberInit(world, p1, init);
      assert.equal(restarted.code, 0, restarted.stderr);
      assert.equal(restarted.json<Decision>().kind, 'start');

      // etcd-2 loses its volume: the step removes the stale member and adds it back as a learner.
      await kill(etcds[2] as ChildProcess);
      await rm(p2.dir, { recursive: true, force: true });
      const joined = await memberInit(world, p2, init);
      assert.equal(joined.code, 0, joined.stderr);
      const decision = joined.json<Decision>();
      assert.equal(decision.kind, 'join');
      assert.match(decision.reason, /removed stale member etcd-2/);
      // A crash before etcd started, then the step again: the same learner, no second add.
      const again = await memberInit(world, p2, init);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.json<Decision>().kind, 'join');
      assert.equal(again.json<Decision>().id, decision.id);
      const duringJoin = await memberList(bin, endpoint(p0));
      assert.equal(duringJoin.length, 3, JSON.stringify(duringJoin));
      assert.ok(!duringJoin.some((m) => m.ID === oldId), 'the stale member is gone');
      assert.equal(
        duringJoin.find((m) => m.peerURLs.includes(`http://127.0.0.1:${p2.peer}`))?.isLearner,
        true,
      );
      assert.match(await readFile(p2.etcdConfig, 'utf8'), /^initial-cluster-state: existing$/m);

      startEtcd(world, p2, bin.etcd, etcdContainer);
      // The promote sidecar, with its rendered arguments.
      const sidecar = spawn(process.execPath, [CLI, ...world.args(p2, promote.args)], {
        env: scrubbedEnv(),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let sidecarLog = '';
      sidecar.stderr?.on('data', (d: Buffer) => (sidecarLog += d.toString()));
      cleanup.add(() => kill(sidecar));
      const promoted = await until(
        'etcd-2 to be promoted',
        async () => {
          const members = await memberList(bin, endpoint(p0));
          const m = members.find((x) => x.name === 'etcd-2');
          return m && !m.isLearner ? members : undefined;
        },
        90_000,
      );
      assert.equal(promoted.length, 3);
      assert.notEqual(promoted.find((m) => m.name === 'etcd-2')?.ID, oldId, 'a new member id, the same name');
      await until('the sidecar to say so', () =>
        Promise.resolve(/promoted etcd-2/.test(sidecarLog) ? true : undefined),
      );
      assert.equal(sidecar.exitCode, null, 'the sidecar stays up beside etcd');
      const got = await until('etcd-2 to serve the keys', async () => {
        const out = await etcdctl(bin, [endpoint(p2)], ['get', '/greptime/t19', '--print-value-only']);
        return out.trim() === '19' ? out : undefined;
      });
      assert.equal(got.trim(), '19');
    });
  }

  it('3.6: a pinned restore checks the SHA-256, restores once, and never again on that volume', async () => {
    const bin = await binariesFor('3.6');
    const dir = await tempDir(cleanup, 'member-init-restore');
    cleanup.add(() => killRecordedMembers(dir));
    const sourceSpec = await writeSpec(dir, { members: 1, backup: { storage: './backups' } });
    const up = await upDetached(cleanup, sourceSpec);
    for (let i = 0; i < 10; i += 1) await etcdctl(bin, up.endpoints, ['put', `/greptime/r${i}`, `${i}`]);
    const env = { ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool') };
    const created = await runCli(['--config', sourceSpec, 'backup', 'create', '-o', 'json'], { env });
    assert.equal(created.code, 0, created.stderr);
    const backup = created.json<{ backup: BackupManifest }>().backup;

    // `restore latest --runtime kubernetes` pins latest to that backup's name and hash.
    const k8sDir = path.join(dir, 'k8s');
    await mkdir(k8sDir, { recursive: true });
    const k8sSpec = path.join(k8sDir, 'steward.yaml');
    await writeFile(
      k8sSpec,
      'name: etcd\nruntime: kubernetes\nmembers: 1\netcd: { unsafeNoFsync: true }\nbackup: { storage: /backups }\nkubernetes: { backup: { pvc: { existingClaim: nfs-backups } } }\n',
    );
    const rendered = await runCli([
      'restore',
      'latest',
      '--runtime',
      'kubernetes',
      '--new-cluster',
      'etcd-recover',
      '--storage',
      path.join(dir, 'backups'),
      '--config',
      k8sSpec,
    ]);
    assert.equal(rendered.code, 0, rendered.stderr);
    const objects = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as KubeObject);
    const pod = podOf(objects);
    const [init] = pod.initContainers;
    const etcdContainer = pod.containers[0];
    assert.ok(init && etcdContainer);
    const flag = (f: string) => init.args[init.args.indexOf(f) + 1];
    assert.equal(flag('--restore'), backup.name);
    assert.equal(flag('--restore-sha256'), backup.sha256);
    assert.ok(!init.args.includes('latest'));

    const world = await podWorld(
      path.join(dir, 'pods'),
      'etcd-recover',
      1,
      await readFile(sourceSpec, 'utf8'),
      bin.etcdutl,
    );
    const p0 = world.pods[0] as LocalPod;

    // Another hash than the pinned one: refused, nothing built.
    const wrong = init.args.map((a) => (a === backup.sha256 ? 'f'.repeat(64) : a));
    const refused = await memberInit(world, p0, { ...init, args: wrong });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /pinned to f{64}/);
    assert.equal(existsSync(p0.dataDir), false, 'a mismatching backup builds nothing');

    const restored = await memberInit(world, p0, init);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(restored.json<Decision>().kind, 'restore');
    const marker = path.join(path.dirname(p0.dataDir), 'etcd-steward-restored.json');
    assert.equal((JSON.parse(await readFile(marker, 'utf8')) as { sha256: string }).sha256, backup.sha256);
    const etcd = startEtcd(world, p0, bin.etcd, etcdContainer);
    const endpoint = `http://127.0.0.1:${p0.client}`;
    const value = await until('the restored member to serve', async () => {
      const out = await etcdctl(bin, [endpoint], ['get', '/greptime/r9', '--print-value-only']);
      return out.trim() === '9' ? out : undefined;
    });
    assert.equal(value.trim(), '9');

    const restart = await memberInit(world, p0, init);
    assert.equal(restart.json<Decision>().kind, 'start');

    // Its data dir lost later, the volume (and marker) kept, no cluster answering: never restored again.
    await kill(etcd);
    await rm(p0.dataDir, { recursive: true, force: true });
    const twice = await memberInit(world, p0, init, ['--timeout', '2s']);
    assert.equal(twice.code, 1, twice.stderr);
    assert.match(twice.stderr, /restored on this volume before/);
    assert.equal(existsSync(p0.dataDir), false);
  });
});
