/**
 * apply and the GreptimeDB re-pointing against a real kube-apiserver (with its own etcd and the
 * fixture CRDs). No kubelet or controllers run there: readiness is simulated by writing the
 * StatefulSet's and Deployment's status subresources through the API.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { StewardError } from '../../errors.js';
import { repointGreptimeDb } from '../../greptime/repoint.js';
import { restoreOnKubernetes } from '../../greptime/restore-on-kubernetes.js';
import {
  Cleanup,
  binariesFor,
  etcdctl,
  killRecordedMembers,
  runCli,
  tempDir,
  upDetached,
  writeSpec,
} from '../../testing/harness.js';
import {
  SHARED_FIXTURES,
  kubeApiServerSkip,
  request,
  startKubeApiServer,
  type KubeApiServer,
} from '../../testing/kube-apiserver.js';
import { parseSpec } from '../../config/load.js';
import { applyObjects, type KubeObject } from './apply.js';
import { renderKubernetes } from './render.js';

const skip = await kubeApiServerSkip();

/** A hand-made set covering every kind the renderer emits. */
function objects(ns: string, change: { config?: string; storage?: string } = {}): KubeObject[] {
  const labels = { 'app.kubernetes.io/name': 'etcd', 'app.kubernetes.io/instance': 'test' };
  const agentLabels = { 'app.kubernetes.io/name': 'etcd-steward', 'app.kubernetes.io/instance': 'test' };
  const meta = (name: string, l = labels) => ({ name, namespace: ns, labels: l });
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta('test-steward'),
      data: { 'steward.yaml': change.config ?? 'name: test\n' },
    },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta('test-steward', agentLabels) },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta('test-steward', agentLabels),
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta('test-steward', agentLabels),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'test-steward' },
      subjects: [{ kind: 'ServiceAccount', name: 'test-steward', namespace: ns }],
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('test-headless'),
      spec: {
        clusterIP: 'None',
        publishNotReadyAddresses: true,
        selector: labels,
        ports: [
          { name: 'client', port: 2379 },
          { name: 'peer', port: 2380 },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('test-client'),
      spec: { selector: labels, ports: [{ name: 'client', port: 2379, targetPort: 2379 }] },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: meta('test'),
      spec: {
        serviceName: 'test-headless',
        replicas: 3,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: 'etcd',
                image: 'registry.k8s.io/etcd:3.6.16-0',
                command: ['etcd'],
                ports: [{ name: 'client', containerPort: 2379 }],
                volumeMounts: [{ name: 'data', mountPath: '/var/lib/etcd' }],
              },
            ],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data' },
            spec: {
              accessModes: ['ReadWriteOnce'],
              resources: { requests: { storage: change.storage ?? '8Gi' } },
            },
          },
        ],
      },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: meta('test'),
      spec: { minAvailable: 2, selector: { matchLabels: labels } },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta('test-steward', agentLabels),
      spec: {
        replicas: 1,
        selector: { matchLabels: agentLabels },
        template: {
          metadata: { labels: agentLabels },
          spec: {
            serviceAccountName: 'test-steward',
            containers: [{ name: 'agent', image: 'etcd-steward:test', args: ['serve'] }],
          },
        },
      },
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: meta('test'),
      spec: {
        selector: { matchLabels: labels },
        podMetricsEndpoints: [{ port: 'client', path: '/metrics' }],
      },
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: meta('test-steward', agentLabels),
      spec: { selector: { matchLabels: agentLabels }, endpoints: [{ port: 'http', path: '/metrics' }] },
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: meta('test'),
      spec: {
        groups: [
          {
            name: 'etcd',
            rules: [{ alert: 'EtcdNoLeader', expr: 'etcd_server_has_leader == 0', for: '1m' }],
          },
        ],
      },
    },
  ];
}

const PLURALS: Record<string, string> = {
  ConfigMap: 'configmaps',
  ServiceAccount: 'serviceaccounts',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  Service: 'services',
  StatefulSet: 'statefulsets',
  PodDisruptionBudget: 'poddisruptionbudgets',
  Deployment: 'deployments',
  PodMonitor: 'podmonitors',
  ServiceMonitor: 'servicemonitors',
  PrometheusRule: 'prometheusrules',
  CronJob: 'cronjobs',
  Job: 'jobs',
  NetworkPolicy: 'networkpolicies',
  PersistentVolumeClaim: 'persistentvolumeclaims',
  Secret: 'secrets',
};

function get(api: KubeApiServer, o: KubeObject): Promise<KubeObject> {
  const group = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  const plural = PLURALS[o.kind] ?? '?';
  return request(
    api,
    'GET',
    `${group}/namespaces/${o.metadata.namespace}/${plural}/${o.metadata.name}`,
  ) as Promise<KubeObject>;
}

/** The object with its first volume claim template asking for `storage`. */
function withStorage(o: KubeObject, storage: string): KubeObject {
  const copy = structuredClone(o) as KubeObject & {
    spec: { volumeClaimTemplates: { spec: { resources: { requests: { storage: string } } } }[] };
  };
  copy.spec.volumeClaimTemplates[0]!.spec.resources.requests.storage = storage;
  return copy;
}

/** A StatefulSet with `replicas` (other objects as they are). */
function withReplicas(o: KubeObject, replicas: number): KubeObject {
  if (o.kind !== 'StatefulSet') return o;
  return { ...o, spec: { ...(o['spec'] as object), replicas } };
}

async function exists(api: KubeApiServer, urlPath: string): Promise<boolean> {
  return request(api, 'GET', urlPath).then(
    () => true,
    (e: Error) => {
      if (/HTTP 404/.test(e.message)) return false;
      throw e;
    },
  );
}

describe('apply against a real kube-apiserver', { skip }, () => {
  const cleanup = new Cleanup();
  let api: KubeApiServer;
  before(async () => {
    api = await startKubeApiServer(cleanup);
  });
  after(() => cleanup.run());

  it('creates every object and its namespace, then reports unchanged, then configures only what changed', async () => {
    const ns = 'steward-apply';
    const first = await applyObjects(objects(ns), { kubeconfig: api.kubeconfig });
    assert.deepEqual(first.namespacesCreated, [ns]);
    assert.deepEqual(
      first.objects.map((o) => o.outcome),
      objects(ns).map(() => 'created'),
    );
    for (const o of objects(ns)) {
      const live = await get(api, o);
      assert.equal(live.metadata.name, o.metadata.name, `${o.kind} stored`);
      const managers = (live.metadata['managedFields'] as { manager: string; operation: string }[]).map(
        (m) => `${m.manager}/${m.operation}`,
      );
      assert.ok(
        managers.includes('etcd-steward/Apply'),
        `${o.kind} applied by etcd-steward: ${managers.join(',')}`,
      );
    }

    const second = await applyObjects(objects(ns), { kubeconfig: api.kubeconfig });
    assert.deepEqual(second.namespacesCreated, []);
    assert.deepEqual(
      second.objects.filter((o) => o.outcome !== 'unchanged'),
      [],
    );

    const changed = await applyObjects(objects(ns, { config: 'name: test\nmembers: 3\n' }), {
      kubeconfig: api.kubeconfig,
    });
    assert.deepEqual(
      changed.objects.filter((o) => o.outcome !== 'unchanged').map((o) => `${o.kind}/${o.name}:${o.outcome}`),
      ['ConfigMap/test-steward:configured'],
    );
    const cm = (await get(api, objects(ns)[0]!)) as KubeObject & { data: Record<string, string> };
    assert.equal(cm.data['steward.yaml'], 'name: test\nmembers: 3\n');

    // 8Gi written as 8192Mi is the same claim: not a change.
    const same = await applyObjects(objects(ns, { config: 'name: test\nmembers: 3\n', storage: '8192Mi' }), {
      kubeconfig: api.kubeconfig,
    });
    assert.ok(same.objects.every((o) => o.outcome === 'unchanged'));
  });

  it('applies everything `render kubernetes` makes (default and full spec), again as a no-op, then a change in place', async () => {
    const spec = (extra: string) =>
      renderKubernetes(
        parseSpec(
          `name: meta-etcd
runtime: kubernetes
members: 3
backup: { storage: /backups, schedule: "*/30 * * * *" }
defrag: { schedule: "0 3 * * *" }
auth: { user: root, passwordEnv: ETCD_ROOT_PASSWORD }
greptimedb: { cluster: greptimedb, namespace: steward-greptime }
kubernetes:
  namespace: steward-rendered
  authSecret: etcd-auth
  priorityClassName: system-cluster-critical
  serviceAccountAnnotations: { eks.amazonaws.com/role-arn: "arn:aws:iam::1:role/backups" }
  networkPolicy: { clientNamespaces: [apps], metricsNamespaces: [monitoring] }
  storageSize: 8GiB
  podAntiAffinity: hard
  tolerations: [{ key: dedicated, operator: Equal, value: etcd, effect: NoSchedule }]
  serviceType: LoadBalancer
  backup: { pvc: { size: 10GiB, accessModes: [ReadWriteMany] } }
${extra}`,
          undefined,
        ),
      ) as KubeObject[];
    const defaults = renderKubernetes(
      parseSpec('name: plain\nruntime: kubernetes\n', undefined),
    ) as KubeObject[];
    const plain = await applyObjects(defaults, { kubeconfig: api.kubeconfig });
    assert.ok(plain.objects.length > 5);
    assert.ok(plain.objects.every((o) => o.outcome === 'created'));

    for (const schedules of ['agent', 'cronjobs']) {
      const objects = spec(`  schedules: ${schedules}\n`);
      const kinds = new Set(objects.map((o) => o.kind));
      for (const kind of [
        'StatefulSet',
        'Service',
        'PodDisruptionBudget',
        'ConfigMap',
        'PodMonitor',
        'NetworkPolicy',
        'Job',
        ...(schedules === 'cronjobs' ? ['CronJob'] : []),
      ])
        assert.ok(kinds.has(kind), `${kind} rendered`);
      const first = await applyObjects(objects, { kubeconfig: api.kubeconfig });
      assert.ok(first.objects.length === objects.length);
      for (const o of objects.filter((x) => x.kind in PLURALS)) {
        const live = await get(api, o);
        assert.equal(live.metadata.name, o.metadata.name, `${o.kind} ${o.metadata.name} stored`);
      }
      const again = await applyObjects(objects, { kubeconfig: api.kubeconfig });
      assert.deepEqual(
        again.objects.filter((o) => o.outcome !== 'unchanged'),
        [],
      );
    }
    const five = await applyObjects(
      spec('  schedules: cronjobs\n').map((o) => withReplicas(o, 5)),
      {
        kubeconfig: api.kubeconfig,
      },
    );
    assert.deepEqual(
      five.objects.filter((o) => o.outcome !== 'unchanged').map((o) => `${o.kind}:${o.outcome}`),
      ['StatefulSet:configured'],
    );
    await assert.rejects(
      applyObjects(
        spec('  schedules: cronjobs\n').map((o) => (o.kind === 'StatefulSet' ? withStorage(o, '20Gi') : o)),
        {
          kubeconfig: api.kubeconfig,
        },
      ),
      /refusing to change the volumeClaimTemplates of StatefulSet steward-rendered\/meta-etcd/,
    );
  });

  it('refuses a volumeClaimTemplates change itself, before sending anything', async () => {
    const ns = 'steward-vct';
    await applyObjects(objects(ns), { kubeconfig: api.kubeconfig });
    const before = await get(api, objects(ns)[0]!);
    await assert.rejects(
      applyObjects(objects(ns, { storage: '16Gi', config: 'changed: true\n' }), {
        kubeconfig: api.kubeconfig,
      }),
      (error: unknown) => {
        assert.ok(error instanceof StewardError);
        assert.match(
          error.message,
          /refusing to change the volumeClaimTemplates of StatefulSet steward-vct\/test/,
        );
        assert.match(error.message, /data\.spec\.resources\.requests\.storage: "8Gi" → "16Gi"/);
        assert.match(error.hint ?? '', /--cascade=orphan/);
        return true;
      },
    );
    const afterRefusal = await get(api, objects(ns)[0]!);
    assert.equal(
      afterRefusal.metadata.resourceVersion,
      before.metadata.resourceVersion,
      'the ConfigMap before it was not sent',
    );
  });

  it('--dry-run=server validates everything and stores nothing, not even the namespace', async () => {
    const ns = 'steward-dry';
    const result = await applyObjects(objects(ns), { kubeconfig: api.kubeconfig, dryRun: 'server' });
    assert.equal(result.dryRun, true);
    assert.deepEqual(result.namespacesCreated, [ns]);
    assert.ok(result.objects.every((o) => o.outcome === 'created'));
    assert.equal(await exists(api, `/api/v1/namespaces/${ns}`), false);
    assert.equal(await exists(api, `/apis/apps/v1/namespaces/default/statefulsets/test`), false);

    // A dry run against what exists reports the change and leaves it.
    await applyObjects(objects(ns), { kubeconfig: api.kubeconfig });
    const dry = await applyObjects(objects(ns, { config: 'dry: true\n' }), {
      kubeconfig: api.kubeconfig,
      dryRun: 'server',
    });
    assert.deepEqual(
      dry.objects.filter((o) => o.outcome !== 'unchanged').map((o) => `${o.kind}:${o.outcome}`),
      ['ConfigMap:configured'],
    );
    const cm = (await get(api, objects(ns)[0]!)) as KubeObject & { data: Record<string, string> };
    assert.equal(cm.data['steward.yaml'], 'name: test\n');
  });

  it('--wait returns once the StatefulSet is ready and the agent available (status written through the API)', async () => {
    const ns = 'steward-wait';
    const lines: string[] = [];
    let waiting!: () => void;
    const started = new Promise<void>((resolve) => (waiting = resolve));
    const applying = applyObjects(objects(ns), {
      kubeconfig: api.kubeconfig,
      wait: true,
      timeoutMs: 120_000,
      onProgress: (line) => {
        lines.push(line);
        waiting();
      },
    });
    await started;
    const sts = await get(api, objects(ns)[6]!);
    await request(
      api,
      'PATCH',
      `/apis/apps/v1/namespaces/${ns}/statefulsets/test/status`,
      {
        status: {
          replicas: 3,
          readyReplicas: 3,
          currentReplicas: 3,
          observedGeneration: sts.metadata.generation,
        },
      },
      'application/merge-patch+json',
    );
    const deploy = await get(api, objects(ns)[8]!);
    await request(
      api,
      'PATCH',
      `/apis/apps/v1/namespaces/${ns}/deployments/test-steward/status`,
      {
        status: {
          replicas: 1,
          readyReplicas: 1,
          availableReplicas: 1,
          observedGeneration: deploy.metadata.generation,
        },
      },
      'application/merge-patch+json',
    );
    const result = await applying;
    assert.deepEqual(result.ready, [`StatefulSet ${ns}/test`, `Deployment ${ns}/test-steward`]);
    assert.ok(lines.includes(`StatefulSet ${ns}/test: 0/3 ready`), lines.join('\n'));
    assert.ok(lines.includes(`StatefulSet ${ns}/test: 3/3 ready`), lines.join('\n'));
  });

  it('--wait gives up at the timeout with what it waited for', async () => {
    const ns = 'steward-timeout';
    await assert.rejects(
      applyObjects(objects(ns), { kubeconfig: api.kubeconfig, wait: true, timeoutMs: 1 }),
      /timed out after 0 s waiting for StatefulSet steward-timeout\/test \(0\/3 ready\)/,
    );
  });

  it("passes the server's rejection of an invalid object on, naming the object", async () => {
    const bad: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'bad', namespace: 'steward-bad' },
      spec: { ports: [{ name: 'client', port: 99999 }] },
    };
    await assert.rejects(applyObjects([bad], { kubeconfig: api.kubeconfig }), (error: unknown) => {
      assert.ok(error instanceof StewardError);
      assert.match(
        error.message,
        /applying Service steward-bad\/bad: the API server rejected it \(HTTP 422\): .*spec\.ports\[0\]\.port: Invalid value: 99999/,
      );
      return true;
    });
  });

  it('the CLI applies a manifest file and prints a row per object', async () => {
    const dir = await tempDir(cleanup, 'apply-cli');
    const file = path.join(dir, 'etcd.yaml');
    await writeFile(
      file,
      objects('steward-cli')
        .map((o) => stringify(o))
        .join('---\n'),
    );
    const first = await runCli(['apply', '-f', file, '--kubeconfig', api.kubeconfig, '-o', 'json']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.json<{ objects: unknown[] }>().objects.length, objects('x').length);
    const second = await runCli(['apply', '-f', file, '--kubeconfig', api.kubeconfig]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /StatefulSet\s*│\s*steward-cli\s*│\s*test\s*│\s*unchanged/);
    const noContext = await runCli([
      'apply',
      '-f',
      file,
      '--kubeconfig',
      api.kubeconfig,
      '--context',
      'nope',
    ]);
    assert.equal(noContext.code, 2);
    assert.match(noContext.stderr, /no context 'nope'[\s\S]*known contexts: steward-test/);
  });

  it('scales one member per apply: removes the member from etcd before lowering replicas, raises by one, the budget follows the voters', async () => {
    // Real etcd members on loopback stand in for the pods (no kubelet here): etcd-0..2, reached with --endpoints.
    const dir = await tempDir(cleanup, 'apply-scale');
    cleanup.add(() => killRecordedMembers(dir));
    const bin = await binariesFor('3.6');
    const up = await upDetached(cleanup, await writeSpec(dir, { members: 3 }));
    const specFile = path.join(dir, 'k8s.yaml');
    const ns = 'steward-scale';
    const apply = async (members: number) => {
      await writeFile(
        specFile,
        `name: etcd\nruntime: kubernetes\nmembers: ${members}\nkubernetes: { namespace: ${ns}, monitoring: { enabled: false } }\n`,
      );
      const result = await runCli([
        'apply',
        '--config',
        specFile,
        '--kubeconfig',
        api.kubeconfig,
        '--endpoints',
        up.endpoints.join(','),
      ]);
      assert.equal(result.code, 0, result.stderr);
      const sts = (await request(api, 'GET', `/apis/apps/v1/namespaces/${ns}/statefulsets/etcd`)) as {
        spec: { replicas: number; template: { spec: { initContainers: { args: string[] }[] } } };
      };
      const pdb = (await request(
        api,
        'GET',
        `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/etcd`,
      )) as {
        spec: { maxUnavailable: number };
      };
      const initial = sts.spec.template.spec.initContainers[0]?.args.find((a) =>
        a.startsWith('--initial-cluster='),
      );
      return {
        stderr: result.stderr,
        replicas: sts.spec.replicas,
        maxUnavailable: pdb.spec.maxUnavailable,
        initial,
      };
    };
    const names = async () =>
      (await etcdctl(bin, up.endpoints, ['member', 'list', '-w', 'simple']))
        .trim()
        .split('\n')
        .map((l) => l.split(', ')[2])
        .sort();

    const created = await apply(3);
    assert.deepEqual([created.replicas, created.maxUnavailable], [3, 1]);
    const initialSet = created.initial;
    assert.match(initialSet ?? '', /^--initial-cluster=etcd-0=.*,etcd-1=.*,etcd-2=/);

    const down = await apply(2);
    assert.match(down.stderr, /removed etcd-2 from etcd, then replicas 2/);
    assert.deepEqual(await names(), ['etcd-0', 'etcd-1']);
    assert.deepEqual([down.replicas, down.maxUnavailable], [2, 0], 'two voters keep no member to spare');
    assert.equal(down.initial, initialSet, 'the initial set stays: scaling rolls no pod');

    const grow = await apply(3);
    assert.match(grow.stderr, /pod etcd-2 joins as a learner/);
    assert.deepEqual([grow.replicas, grow.maxUnavailable], [3, 0]);
    assert.deepEqual(
      await names(),
      ['etcd-0', 'etcd-1'],
      'the new pod joins by itself, apply adds nothing to etcd',
    );

    const further = await apply(5);
    assert.match(further.stderr, /scaling 3 → 5 waits: 1 pod\(s\) have not joined yet/);
    assert.equal(further.replicas, 3, 'one member at a time');
  });

  describe('greptimedb repoint', () => {
    const cluster = async (ns: string, name: string, meta?: Record<string, unknown>) => {
      const fixture = parse(
        await readFile(path.join(SHARED_FIXTURES, 'greptimedb', 'cluster-basic.yaml'), 'utf8'),
      ) as {
        metadata: Record<string, unknown>;
        spec: { meta: Record<string, unknown> };
      };
      fixture.metadata = { name, namespace: ns };
      if (meta) fixture.spec.meta = { replicas: 1, ...meta };
      await applyObjects([fixture as unknown as KubeObject], { kubeconfig: api.kubeconfig });
    };
    const live = (ns: string, name: string) =>
      request(
        api,
        'GET',
        `/apis/greptime.io/v1alpha1/namespaces/${ns}/greptimedbclusters/${name}`,
      ) as Promise<{
        spec: { meta: { backendStorage?: { etcd?: { endpoints?: string[] } }; etcdEndpoints?: string[] } };
      }>;

    it('patches spec.meta.backendStorage.etcd.endpoints of the fixture cluster', async () => {
      await cluster('greptimedb', 'basic');
      const result = await repointGreptimeDb({
        name: 'basic',
        namespace: 'greptimedb',
        endpoints: ['etcd-restored-client.etcd.svc.cluster.local:2379'],
        kubeconfig: api.kubeconfig,
      });
      assert.equal(result.field, 'spec.meta.backendStorage.etcd.endpoints');
      assert.deepEqual(result.oldEndpoints, ['etcd.etcd-cluster.svc.cluster.local:2379']);
      assert.equal(result.changed, true);
      assert.match(result.stepsLeft.join('\n'), /rolls metasrv[\s\S]*table reconciliation/);
      assert.deepEqual((await live('greptimedb', 'basic')).spec.meta.backendStorage?.etcd?.endpoints, [
        'etcd-restored-client.etcd.svc.cluster.local:2379',
      ]);
      const again = await repointGreptimeDb({
        name: 'basic',
        namespace: 'greptimedb',
        endpoints: ['etcd-restored-client.etcd.svc.cluster.local:2379'],
        kubeconfig: api.kubeconfig,
      });
      assert.equal(again.changed, false);
    });

    it('patches the older spec.meta.etcdEndpoints when that is what the object has (older operator CRD)', async () => {
      // An older operator's CRD knows spec.meta.etcdEndpoints; add it to the installed schema.
      const crdPath =
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/greptimedbclusters.greptime.io';
      interface Schema {
        properties: Record<string, Schema>;
      }
      const crd = (await request(api, 'GET', crdPath)) as {
        spec: { versions: { name: string; schema: { openAPIV3Schema: Schema } }[] };
      };
      for (const v of crd.spec.versions) {
        const meta = v.schema.openAPIV3Schema.properties['spec']?.properties['meta'];
        assert.ok(meta, 'the CRD has spec.meta');
        meta.properties['etcdEndpoints'] = { type: 'array', items: { type: 'string' } } as unknown as Schema;
      }
      await request(api, 'PUT', crdPath, crd);
      // The server takes the new schema into its apply machinery a moment after the PUT.
      for (let i = 0; ; i += 1) {
        try {
          await cluster('greptimedb-old', 'old', { etcdEndpoints: ['etcd.default.svc:2379'] });
          break;
        } catch (error) {
          if (i >= 100 || !/field not declared in schema/.test((error as Error).message)) throw error;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      assert.deepEqual((await live('greptimedb-old', 'old')).spec.meta.etcdEndpoints, [
        'etcd.default.svc:2379',
      ]);

      const cli = await runCli([
        'greptimedb',
        'repoint',
        'old.greptimedb-old',
        '--endpoints',
        'a:2379,b:2379',
        '--kubeconfig',
        api.kubeconfig,
      ]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /spec\.meta\.etcdEndpoints:\n\s+etcd\.default\.svc:2379 → a:2379,b:2379/);
      assert.match(cli.stdout, /steps left:\n\s+1\. the GreptimeDB operator rolls metasrv/);
      const after = (await live('greptimedb-old', 'old')).spec.meta;
      assert.deepEqual(after.etcdEndpoints, ['a:2379', 'b:2379']);
      assert.equal(after.backendStorage, undefined);
    });

    it('restore on Kubernetes: applies the new cluster, waits until it is ready, then re-points GreptimeDB at its client Service', async () => {
      await cluster('greptimedb-r', 'restored');
      const ns = 'steward-restored';
      const restoreObjects = objects(ns).filter((o) => o.kind === 'Service' || o.kind === 'StatefulSet');
      let waiting!: () => void;
      const started = new Promise<void>((resolve) => (waiting = resolve));
      const restoring = restoreOnKubernetes(restoreObjects, {
        kubeconfig: api.kubeconfig,
        greptimedb: 'restored.greptimedb-r',
        timeoutMs: 120_000,
        onProgress: () => waiting(),
      });
      await started;
      assert.deepEqual((await live('greptimedb-r', 'restored')).spec.meta.backendStorage?.etcd?.endpoints, [
        'etcd.etcd-cluster.svc.cluster.local:2379',
      ]);
      const sts = await get(
        api,
        restoreObjects.find((o) => o.kind === 'StatefulSet')!,
      );
      await request(
        api,
        'PATCH',
        `/apis/apps/v1/namespaces/${ns}/statefulsets/test/status`,
        { status: { replicas: 3, readyReplicas: 3, observedGeneration: sts.metadata.generation } },
        'application/merge-patch+json',
      );
      const result = await restoring;
      assert.equal(result.endpoint, `test-client.${ns}.svc.cluster.local:2379`);
      assert.deepEqual(result.applied.ready, [`StatefulSet ${ns}/test`]);
      assert.deepEqual(result.repoint?.newEndpoints, [result.endpoint]);
      assert.deepEqual((await live('greptimedb-r', 'restored')).spec.meta.backendStorage?.etcd?.endpoints, [
        result.endpoint,
      ]);
    });

    it('`restore --runtime kubernetes --greptimedb` applies the restore objects, waits, then re-points', async () => {
      await cluster('greptimedb-cli', 'cli');
      const dir = await tempDir(cleanup, 'restore-k8s-cli');
      const specFile = path.join(dir, 'steward.yaml');
      await writeFile(
        specFile,
        'runtime: kubernetes\nbackup: { storage: /backups }\nkubernetes: { namespace: steward-cli-restore, backup: { pvc: { existingClaim: nfs-backups } } }\n',
      );
      // Pinned to a named backup and its hash: the backup PVC is not readable from here.
      const cli = runCli([
        'restore',
        'etcd-20261204T120000Z',
        '--sha256',
        'ab'.repeat(32),
        '--runtime',
        'kubernetes',
        '--new-cluster',
        'etcd-recover',
        '--greptimedb',
        'cli.greptimedb-cli',
        '--kubeconfig',
        api.kubeconfig,
        '--timeout',
        '2m',
        '--config',
        specFile,
      ]);
      // No kubelet runs here: once the StatefulSet exists, report it ready through its status.
      const stsPath = '/apis/apps/v1/namespaces/steward-cli-restore/statefulsets/etcd-recover';
      let sts: { metadata: { generation: number }; spec: { replicas: number } } | undefined;
      for (let i = 0; i < 600 && sts === undefined; i++) {
        sts = (await request(api, 'GET', stsPath).catch(() => undefined)) as typeof sts;
        if (sts === undefined) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(sts, 'the restore StatefulSet was applied');
      assert.deepEqual(
        (await live('greptimedb-cli', 'cli')).spec.meta.backendStorage?.etcd?.endpoints,
        ['etcd.etcd-cluster.svc.cluster.local:2379'],
        'not re-pointed before the new cluster is ready',
      );
      await request(
        api,
        'PATCH',
        `${stsPath}/status`,
        {
          status: {
            replicas: sts.spec.replicas,
            readyReplicas: sts.spec.replicas,
            observedGeneration: sts.metadata.generation,
          },
        },
        'application/merge-patch+json',
      );
      const result = await cli;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /StatefulSet\s+│?\s*steward-cli-restore\s+│?\s*etcd-recover/);
      const endpoints = (await live('greptimedb-cli', 'cli')).spec.meta.backendStorage?.etcd?.endpoints ?? [];
      assert.equal(endpoints.length, 1);
      assert.match(endpoints[0] ?? '', /^etcd-recover.*\.steward-cli-restore\.svc\.cluster\.local:2379$/);
      assert.match(result.stdout, /→/);
    });

    it('names a missing cluster clearly', async () => {
      await assert.rejects(
        repointGreptimeDb({
          name: 'nope',
          namespace: 'greptimedb',
          endpoints: ['x:2379'],
          kubeconfig: api.kubeconfig,
        }),
        /no GreptimeDBCluster greptimedb\/nope/,
      );
    });
  });
});
