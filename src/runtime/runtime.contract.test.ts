/**
 * The runtime seam, runtime by runtime: the local one against real etcd members, the external
 * one from its spec, the Kubernetes one against a real kube-apiserver (no kubelet runs there, so
 * a port-forward must fail, and say why).
 */
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseSpec } from '../config/load.js';
import type { Spec } from '../config/spec.js';
import { upCluster } from '../engine/up.js';
import { clusterStatus, type ClusterStatus } from '../engine/status.js';
import { InputError, StewardError } from '../errors.js';
import { binariesFor, Cleanup, killRecordedMembers, tempDir } from '../testing/harness.js';
import {
  kubeApiServerSkip,
  request,
  startKubeApiServer,
  type KubeApiServer,
} from '../testing/kube-apiserver.js';
import { resolveEtcd } from './etcd-binaries.js';
import { applyObjects } from './kubernetes/apply.js';
import { renderKubernetes } from './kubernetes/render.js';
import { KubernetesRuntime } from './kubernetes/runtime.js';
import { openRuntime } from './open.js';
import { RuntimeUnsupportedError, namesByEndpoint, type ClusterRuntime } from './runtime.js';

const CONNECTION = { dialTimeoutMs: 1_000, commandTimeoutMs: 2_000 };

async function waitFor(
  runtime: ClusterRuntime,
  accept: (status: ClusterStatus) => boolean,
  what: string,
): Promise<ClusterStatus> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const members = await runtime.members();
    const status = await clusterStatus({
      endpoints: members.map((m) => m.endpoint),
      connection: CONNECTION,
      names: namesByEndpoint(members),
    });
    if (accept(status)) return status;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function rejectsUnsupported(call: Promise<unknown>, runtime: string, operation: RegExp): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof RuntimeUnsupportedError, String(error));
    assert.ok(error instanceof InputError);
    assert.equal(error.runtime, runtime);
    assert.match(error.message, new RegExp(`^the ${runtime} runtime cannot `));
    assert.match(error.message, operation);
    assert.ok((error.hint ?? '').length > 20, 'the hint says what to do instead');
    return true;
  });
}

describe('runtime seam: local', () => {
  const cleanup = new Cleanup();
  let spec: Spec;
  let runtime: ClusterRuntime;
  before(async () => {
    const dir = await tempDir(cleanup, 'rt-local');
    cleanup.add(() => killRecordedMembers(dir));
    spec = parseSpec(
      `name: seam\nruntime: local\nmembers: 3\ndataDir: ${path.join(dir, 'data')}\netcd: { version: "3.6", unsafeNoFsync: true }\n`,
      undefined,
    );
    const binaries = await binariesFor('3.6');
    const up = await upCluster({ spec, binaries, connection: CONNECTION });
    cleanup.add(() => up.runtime.stop(0));
    runtime = await openRuntime(spec, { binaries });
  });
  after(() => cleanup.run());

  it('names its members and their endpoints from the state file, and where their data lives', async () => {
    assert.equal(runtime.kind, 'local');
    assert.equal(runtime.recordsDir, spec.dataDir);
    const members = await runtime.members();
    assert.deepEqual(
      members.map((m) => m.name),
      ['seam-0', 'seam-1', 'seam-2'],
    );
    for (const m of members) assert.match(m.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    // Membership changes reach the same members through the seam.
    const hosted = await runtime.membership().members();
    assert.deepEqual(
      hosted.map((h) => [h.name, h.clientUrl]),
      members.map((m) => [m.name, m.endpoint]),
    );
    const status = await waitFor(runtime, (s) => s.healthy, 'a healthy cluster');
    assert.deepEqual(
      status.members.map((m) => m.name),
      ['seam-0', 'seam-1', 'seam-2'],
    );
    const data = await runtime.memberData('seam-1');
    assert.deepEqual(data, { kind: 'dir', path: path.join(spec.dataDir, 'seam-1', 'data') });
    await access(path.join(data.path, 'member', 'wal')); // etcd really writes there
    const boot = await runtime.memberBootstrap('seam-1');
    assert.equal(boot.dataDir, data.path);
    assert.equal(boot.initialCluster.split(',').length, 3);
    assert.match(boot.initialCluster, /^seam-0=http:\/\/127\.0\.0\.1:\d+,seam-1=/);
    assert.match(boot.initialAdvertisePeerUrls, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(boot.initialClusterToken, /^seam-[0-9a-f]{12}$/);
    await assert.rejects(runtime.memberData('seam-9'), /has no member 'seam-9'[\s\S]*/);
  });

  it('stops one member, which then fails its health check, and starts it again on its data', async () => {
    const stopped = await runtime.stopMember('seam-1', { graceMs: 5_000 });
    assert.deepEqual(stopped, { name: 'seam-1', outcome: 'stopped' });
    const down = await waitFor(
      runtime,
      (s) => s.members.filter((m) => m.health.ok).length === 2,
      'one member down',
    );
    assert.equal(down.members.find((m) => !m.health.ok)?.name, 'seam-1');
    assert.deepEqual(await runtime.stopMember('seam-1'), { name: 'seam-1', outcome: 'not-running' });
    await runtime.startMember('seam-1');
    await waitFor(runtime, (s) => s.healthy && s.members.every((m) => m.health.ok), 'seam-1 back');
  });

  it('changes one member to another etcd line and keeps its data', async (t) => {
    const newer = await resolveEtcd('3.7').catch(() => undefined);
    if (!newer) {
      t.skip('SKIPPED: no etcd 3.7 binaries (bash scripts/install-etcd.sh 3.7)');
      return;
    }
    await runtime.changeMemberVersion('seam-2', { line: '3.7' });
    const status = await waitFor(
      runtime,
      (s) => s.healthy && s.members.find((m) => m.name === 'seam-2')?.version?.startsWith('3.7.') === true,
      'seam-2 on 3.7',
    );
    for (const m of status.members.filter((x) => x.name !== 'seam-2'))
      assert.match(m.version ?? '', /^3\.6\./);
  });

  it('says to run `up` when the cluster was never started', async () => {
    const dir = await tempDir(cleanup, 'rt-none');
    const fresh = await openRuntime({ ...spec, dataDir: path.join(dir, 'none') });
    await assert.rejects(fresh.members(), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.match(error.message, /no local cluster in .*none yet/);
      assert.match(error.hint ?? '', /etcd-steward up/);
      return true;
    });
  });
});

describe('runtime seam: external', () => {
  const spec = parseSpec(
    'name: theirs\nruntime: external\nendpoints: [http://10.0.0.1:2379, http://10.0.0.2:2379]\n',
    undefined,
  );

  it('reaches the members through the spec’s endpoints, names unknown', async () => {
    const runtime = await openRuntime(spec);
    assert.equal(runtime.kind, 'external');
    assert.equal(runtime.recordsDir, undefined);
    const members = await runtime.members();
    assert.deepEqual(
      members.map((m) => m.endpoint),
      ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'],
    );
    assert.equal(namesByEndpoint(members), undefined);
  });

  it('refuses what only whoever runs the members can do, and says what to do instead', async () => {
    const runtime = await openRuntime(spec);
    await rejectsUnsupported(runtime.startMember('a'), 'external', /start member a/);
    await rejectsUnsupported(runtime.stopMember('a'), 'external', /stop member a/);
    await rejectsUnsupported(
      Promise.resolve().then(() => runtime.membership()),
      'external',
      /add, remove or replace members/,
    );
    await rejectsUnsupported(runtime.memberData('a'), 'external', /where member a keeps its data/);
    await rejectsUnsupported(runtime.memberBootstrap('a'), 'external', /restored or replaced member a/);
    await rejectsUnsupported(
      runtime.changeMemberVersion('a', { line: '3.6' }),
      'external',
      /change the etcd version of member a/,
    );
  });
});

const skip = await kubeApiServerSkip();

describe('runtime seam: kubernetes', () => {
  const spec = parseSpec(
    'name: seam-k8s\nruntime: kubernetes\nmembers: 3\nkubernetes: { namespace: seam-rt }\n',
    undefined,
  );

  it('reaches the members by their headless Service DNS names inside the cluster', async () => {
    const runtime = new KubernetesRuntime(spec, { inCluster: true });
    assert.equal(runtime.kind, 'kubernetes');
    assert.deepEqual(await runtime.members(), [
      { name: 'seam-k8s-0', endpoint: 'http://seam-k8s-0.seam-k8s-headless.seam-rt.svc.cluster.local:2379' },
      { name: 'seam-k8s-1', endpoint: 'http://seam-k8s-1.seam-k8s-headless.seam-rt.svc.cluster.local:2379' },
      { name: 'seam-k8s-2', endpoint: 'http://seam-k8s-2.seam-k8s-headless.seam-rt.svc.cluster.local:2379' },
    ]);
    assert.deepEqual(await runtime.memberData('seam-k8s-1'), {
      kind: 'volume',
      namespace: 'seam-rt',
      claim: 'data-seam-k8s-1',
      path: '/var/lib/etcd/data',
    });
    const boot = await runtime.memberBootstrap('seam-k8s-1');
    assert.equal(
      boot.initialAdvertisePeerUrls,
      'http://seam-k8s-1.seam-k8s-headless.seam-rt.svc.cluster.local:2380',
    );
    await rejectsUnsupported(runtime.startMember('seam-k8s-0'), 'kubernetes', /start member seam-k8s-0/);
    await rejectsUnsupported(runtime.stopMember('seam-k8s-0'), 'kubernetes', /stop member seam-k8s-0/);
    await rejectsUnsupported(
      Promise.resolve().then(() => runtime.membership()),
      'kubernetes',
      /change membership/,
    );
    // Changing one member's image works through the API server (member-image.test.ts); names are checked first.
    await assert.rejects(
      runtime.changeMemberVersion('seam-k8s-9', { line: '3.7' }),
      /has no member 'seam-k8s-9'/,
    );
  });

  describe('from a laptop, through a real kube-apiserver', { skip }, () => {
    const cleanup = new Cleanup();
    let api: KubeApiServer;
    before(async () => {
      api = await startKubeApiServer(cleanup);
    });
    after(() => cleanup.run());

    it('says the cluster is not applied when its Service is missing', async () => {
      const runtime = new KubernetesRuntime(spec, { kubeconfig: api.kubeconfig, inCluster: false });
      await assert.rejects(runtime.members(), (error: unknown) => {
        assert.ok(error instanceof StewardError);
        assert.match(
          error.message,
          /is not on https:\/\/127\.0\.0\.1:\d+: no Service seam-rt\/seam-k8s-headless/,
        );
        assert.match(error.hint ?? '', /apply/);
        return true;
      });
    });

    it('finds the member pods of an applied cluster, and says a port-forward cannot reach them without a kubelet', async () => {
      await applyObjects(renderKubernetes(spec), { kubeconfig: api.kubeconfig });
      const runtime = new KubernetesRuntime(spec, { kubeconfig: api.kubeconfig, inCluster: false });
      await assert.rejects(runtime.members(), /has no member pods in namespace seam-rt/);
      // No controller manager runs here: stand in for the service account controller (pods need
      // the namespace's `default` ServiceAccount), the StatefulSet controller and a scheduler.
      await request(api, 'POST', '/api/v1/namespaces/seam-rt/serviceaccounts', {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'default' },
      });
      for (const [i, node, phase] of [
        [0, 'node-a', 'Running'],
        [1, 'node-b', 'Running'],
        [2, undefined, 'Pending'],
      ] as const) {
        const name = `seam-k8s-${i}`;
        await request(api, 'POST', '/api/v1/namespaces/seam-rt/pods', {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name,
            labels: { 'app.kubernetes.io/name': 'etcd', 'app.kubernetes.io/instance': 'seam-k8s' },
          },
          spec: { ...(node ? { nodeName: node } : {}), containers: [{ name: 'etcd', image: 'etcd' }] },
        });
        const pod = (await request(api, 'GET', `/api/v1/namespaces/seam-rt/pods/${name}`)) as Record<
          string,
          unknown
        >;
        await request(api, 'PUT', `/api/v1/namespaces/seam-rt/pods/${name}/status`, {
          ...pod,
          status: { phase },
        });
      }
      const found = await runtime.discover();
      assert.deepEqual(found, {
        namespace: 'seam-rt',
        headlessService: 'seam-k8s-headless',
        pods: [
          { name: 'seam-k8s-0', phase: 'Running', node: 'node-a' },
          { name: 'seam-k8s-1', phase: 'Running', node: 'node-b' },
          { name: 'seam-k8s-2', phase: 'Pending', node: undefined },
        ],
      });
      await assert.rejects(runtime.members(), (error: unknown) => {
        assert.ok(error instanceof StewardError);
        const text = error.message;
        assert.match(
          text,
          /cannot reach any member of 'seam-k8s' through the API server https:\/\/127\.0\.0\.1:\d+/,
        );
        assert.match(text, /port-forward to pod seam-k8s-0 failed \(.+\): .*kubelet of its node node-a/);
        assert.match(text, /port-forward to pod seam-k8s-1 failed/);
        assert.match(text, /pod seam-k8s-2 is Pending and not on any node yet/);
        assert.match(error.hint ?? '', /inside the cluster/);
        return true;
      });
      await runtime.close();
    });
  });
});
