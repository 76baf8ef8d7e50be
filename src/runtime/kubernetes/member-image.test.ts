/**
 * Member-by-member etcd versions on Kubernetes: the rendered update strategy, `apply` keeping the
 * live etcd image, and the runtime's changeMemberVersion against a real kube-apiserver. No
 * kubelet or StatefulSet controller runs there, so pods never start: the test makes the member
 * pods by hand through the API and, where a member should come back, plays the controller
 * (recreates the deleted pod from the template and marks it Ready). The per-member etcd steps
 * against real members are the upgrade engine's tests (local runtime).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseSpec } from '../../config/load.js';
import { StewardError } from '../../errors.js';
import { Cleanup, runCli, tempDir } from '../../testing/harness.js';
import {
  kubeApiServerSkip,
  request,
  startKubeApiServer,
  type KubeApiServer,
} from '../../testing/kube-apiserver.js';
import { etcdImageForLine, etcdImageWarnings } from './render-images.js';
import { renderKubernetes } from './render.js';
import { KubernetesRuntime } from './runtime.js';

const skip = await kubeApiServerSkip();

function k8sSpec(name: string, ns: string, version: string, extra = ''): string {
  return `name: ${name}\nruntime: kubernetes\nmembers: 3\netcd: { version: "${version}" }\nkubernetes: { namespace: ${ns}, monitoring: { enabled: false }${extra} }\n`;
}

interface StatefulSetView {
  spec: {
    updateStrategy: { type: string };
    template: { spec: { containers: { name: string; image: string }[] } };
  };
}

function etcdImageOf(sts: StatefulSetView): string | undefined {
  return sts.spec.template.spec.containers.find((c) => c.name === 'etcd')?.image;
}

describe('etcd versions on Kubernetes: rendering', () => {
  it('renders the StatefulSet OnDelete, so only etcd-steward restarts a member (one at a time)', () => {
    const spec = parseSpec(k8sSpec('v', 'ns', '3.5'), undefined);
    const sts = renderKubernetes(spec).find((o) => o.kind === 'StatefulSet') as unknown as StatefulSetView;
    assert.deepEqual(sts.spec.updateStrategy, { type: 'OnDelete' });
    assert.equal(etcdImageOf(sts), 'gcr.io/etcd-development/etcd:v3.5.36');
  });

  it("picks the member image of a line from the spec's image (a mirror stays a mirror)", () => {
    const plain = parseSpec(k8sSpec('v', 'ns', '3.5'), undefined);
    assert.equal(etcdImageForLine(plain, '3.6'), 'gcr.io/etcd-development/etcd:v3.6.16');
    assert.equal(etcdImageForLine(plain, '3.5'), 'gcr.io/etcd-development/etcd:v3.5.36');
    const mirror = parseSpec(
      k8sSpec('v', 'ns', '3.5', ', image: "registry.local:5000/etcd:v3.5.36"'),
      undefined,
    );
    assert.equal(etcdImageForLine(mirror, '3.5'), 'registry.local:5000/etcd:v3.5.36');
    assert.equal(etcdImageForLine(mirror, '3.6'), 'registry.local:5000/etcd:v3.6.16');
    assert.deepEqual(etcdImageWarnings(mirror), []);
  });

  it('warns when kubernetes.image is of another line than etcd.version, naming upgrade --to', () => {
    const spec = parseSpec(
      k8sSpec('v', 'ns', '3.5', ', image: "registry.local:5000/etcd:v3.6.16"'),
      undefined,
    );
    const [warning, ...rest] = etcdImageWarnings(spec);
    assert.equal(rest.length, 0);
    assert.match(warning ?? '', /is etcd 3\.6\.16 but etcd\.version is 3\.5/);
    assert.match(warning ?? '', /etcd-steward upgrade --to 3\.6\.16/);
  });
});

describe('etcd versions on Kubernetes: against a real kube-apiserver', { skip }, () => {
  const cleanup = new Cleanup();
  let api: KubeApiServer;
  before(async () => {
    api = await startKubeApiServer(cleanup, { crds: false });
  });
  after(() => cleanup.run());

  const sts = async (ns: string, name: string) =>
    (await request(api, 'GET', `/apis/apps/v1/namespaces/${ns}/statefulsets/${name}`)) as StatefulSetView;

  it('apply of a spec with a new etcd version keeps the live image and says upgrade --to does it', async () => {
    const dir = await tempDir(cleanup, 'k8s-version');
    const ns = 'upk-apply';
    const file = path.join(dir, 'steward.yaml');
    const apply = async (version: string) => {
      await writeFile(file, k8sSpec('vx', ns, version));
      const result = await runCli(['apply', '--config', file, '--kubeconfig', api.kubeconfig]);
      assert.equal(result.code, 0, result.stderr);
      return result;
    };
    const first = await apply('3.5');
    assert.doesNotMatch(first.stderr, /etcd image kept/);
    assert.equal(etcdImageOf(await sts(ns, 'vx')), 'gcr.io/etcd-development/etcd:v3.5.36');
    assert.equal((await sts(ns, 'vx')).spec.updateStrategy.type, 'OnDelete');

    const second = await apply('3.6');
    assert.match(
      second.stderr,
      /etcd image kept at gcr\.io\/etcd-development\/etcd:v3\.5\.36 \(the spec asks for gcr\.io\/etcd-development\/etcd:v3\.6\.16\)/,
    );
    assert.match(second.stderr, /run `etcd-steward upgrade --to 3\.6\.16`/);
    assert.equal(etcdImageOf(await sts(ns, 'vx')), 'gcr.io/etcd-development/etcd:v3.5.36');
  });

  it('changeMemberVersion moves the template and deletes exactly the named pod, then waits for it Ready; times out naming the pod', async () => {
    const ns = 'upk-change';
    const spec = parseSpec(k8sSpec('vc', ns, '3.5'), undefined);
    const { applyObjects } = await import('./apply.js');
    await applyObjects(renderKubernetes(spec), { kubeconfig: api.kubeconfig });
    // An older etcd-steward rendered RollingUpdate: the first member change switches it in the same patch.
    await request(
      api,
      'PATCH',
      `/apis/apps/v1/namespaces/${ns}/statefulsets/vc`,
      { spec: { updateStrategy: { type: 'RollingUpdate' } } },
      'application/merge-patch+json',
    );
    // No controller manager: the namespace's default ServiceAccount and the member pods by hand.
    await request(api, 'POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'default' },
    });
    const makePod = async (name: string, image: string) => {
      await request(api, 'POST', `/api/v1/namespaces/${ns}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name,
          labels: { 'app.kubernetes.io/name': 'etcd', 'app.kubernetes.io/instance': 'vc' },
        },
        spec: { containers: [{ name: 'etcd', image }] },
      });
      const pod = (await request(api, 'GET', `/api/v1/namespaces/${ns}/pods/${name}`)) as Record<
        string,
        unknown
      >;
      await request(api, 'PUT', `/api/v1/namespaces/${ns}/pods/${name}/status`, {
        ...pod,
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      });
    };
    const uids = async () => {
      const list = (await request(api, 'GET', `/api/v1/namespaces/${ns}/pods`)) as {
        items: { metadata: { name: string; uid: string } }[];
      };
      return new Map(list.items.map((p) => [p.metadata.name, p.metadata.uid]));
    };
    for (const i of [0, 1, 2]) await makePod(`vc-${i}`, 'gcr.io/etcd-development/etcd:v3.5.36');
    const before = await uids();

    // The stand-in StatefulSet controller: once vc-1 is gone, recreate it from the template.
    const controller = (async () => {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        if (!(await uids()).has('vc-1')) {
          await makePod('vc-1', etcdImageOf(await sts(ns, 'vc')) ?? '?');
          return;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const runtime = new KubernetesRuntime(spec, { kubeconfig: api.kubeconfig, inCluster: false });
    await runtime.changeMemberVersion('vc-1', { line: '3.6' });
    await controller;
    const afterOne = await uids();
    assert.equal(afterOne.get('vc-0'), before.get('vc-0'), 'vc-0 untouched');
    assert.equal(afterOne.get('vc-2'), before.get('vc-2'), 'vc-2 untouched');
    assert.notEqual(afterOne.get('vc-1'), before.get('vc-1'), 'vc-1 recreated');
    const template = await sts(ns, 'vc');
    assert.equal(etcdImageOf(template), 'gcr.io/etcd-development/etcd:v3.6.16');
    assert.equal(template.spec.updateStrategy.type, 'OnDelete');

    // Nobody recreates vc-2: a clear timeout naming the pod, the image and where it stands.
    const slow = new KubernetesRuntime(spec, {
      kubeconfig: api.kubeconfig,
      inCluster: false,
      memberTimeoutMs: 3000,
    });
    await assert.rejects(slow.changeMemberVersion('vc-2', { line: '3.6' }), (error: unknown) => {
      assert.ok(error instanceof StewardError);
      assert.match(
        error.message,
        /pod upk-change\/vc-2 did not come back Ready on gcr\.io\/etcd-development\/etcd:v3\.6\.16 within 3 s: not recreated yet/,
      );
      assert.match(error.hint ?? '', /kubectl describe pod vc-2 -n upk-change/);
      return true;
    });
    const afterTwo = await uids();
    assert.equal(afterTwo.get('vc-0'), before.get('vc-0'), 'vc-0 still untouched');
    assert.equal(afterTwo.has('vc-2'), false, 'only vc-2 was deleted');
  });
});
