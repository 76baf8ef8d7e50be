/**
 * `adopt bitnami` against a real kube-apiserver. The release is Bitnami-shaped objects built from
 * GreptimeDB's values file (../shared/fixtures/bitnami/etcd.yaml, with root authentication on);
 * no pod runs there, so three real local etcd members stand in for the release's pods (reached
 * with --source-endpoints), and the new cluster's pods are stood in for the same way: once its
 * StatefulSet exists, the test reads the backup name pinned in its init container, restores that
 * backup into real local members with `etcd-steward restore`, reports the StatefulSet ready
 * through its status subresource, and lets loopback proxies (the new cluster's "Service") reach
 * them. A proxy with no members behind it is a new cluster that never gets healthy.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readValuesFiles, mergeValues } from '../../config/import-bitnami.js';
import { applyObjects, type KubeObject } from '../../runtime/kubernetes/apply.js';
import { resolveEtcd } from '../../runtime/etcd-binaries.js';
import { Cleanup, etcdctl, runCli, tempDir, upDetached, writeSpec } from '../../testing/harness.js';
import {
  SHARED_FIXTURES,
  kubeApiServerSkip,
  request,
  startKubeApiServer,
  type KubeApiServer,
} from '../../testing/kube-apiserver.js';
import { adoptBitnami, type AdoptOptions } from './adopt.js';

const skip = await kubeApiServerSkip();
const NS = 'etcd-cluster';
const PASSWORD = 'adopt-root-Pw';
const ENV = { ADOPT_ROOT_PW: PASSWORD };
const GREPTIME = '/apis/greptime.io/v1alpha1/namespaces/greptimedb/greptimedbclusters/mycluster';
const OLD_ENDPOINT = `etcd.${NS}.svc.cluster.local:2379`;

/** The objects `helm install etcd -f etcd.yaml` makes (those that matter here), from the values. */
function bitnamiRelease(values: Record<string, unknown>): KubeObject[] {
  const labels = {
    'app.kubernetes.io/instance': 'etcd',
    'app.kubernetes.io/name': 'etcd',
    'app.kubernetes.io/managed-by': 'Helm',
    'helm.sh/chart': 'etcd-12.0.18',
  };
  const meta = (name: string) => ({ name, namespace: NS, labels });
  const image = values['image'] as { registry: string; repository: string; tag: string };
  const replicas = values['replicaCount'] as number;
  const env = [
    { name: 'ETCD_ON_K8S', value: 'yes' },
    { name: 'ETCD_NAME', value: '$(MY_POD_NAME)' },
    { name: 'ETCD_DATA_DIR', value: '/bitnami/etcd/data' },
    { name: 'ETCD_ROOT_PASSWORD', valueFrom: { secretKeyRef: { name: 'etcd', key: 'etcd-root-password' } } },
    {
      name: 'ETCD_ADVERTISE_CLIENT_URLS',
      value: `http://$(MY_POD_NAME).etcd-headless.${NS}.svc.cluster.local:2379,http://etcd.${NS}.svc.cluster.local:2379`,
    },
    { name: 'ETCD_AUTO_COMPACTION_MODE', value: String(values['autoCompactionMode']) },
    { name: 'ETCD_AUTO_COMPACTION_RETENTION', value: String(values['autoCompactionRetention']) },
    { name: 'ETCD_INITIAL_CLUSTER_TOKEN', value: 'etcd-cluster-k8s' },
    ...(values['extraEnvVars'] as { name: string; value: string }[]),
  ];
  const persistence = values['persistence'] as { size: string };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta('etcd') },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta('etcd'),
      type: 'Opaque',
      data: { 'etcd-root-password': Buffer.from(PASSWORD).toString('base64') },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'sh.helm.release.v1.etcd.v1',
        namespace: NS,
        labels: { owner: 'helm', name: 'etcd', status: 'deployed' },
      },
      type: 'helm.sh/release.v1',
      data: { release: Buffer.from('H4sI').toString('base64') },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('etcd-headless'),
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
      metadata: meta('etcd'),
      spec: { selector: labels, ports: [{ name: 'client', port: 2379 }] },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: meta('etcd'),
      spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: meta('etcd'),
      spec: {
        replicas,
        serviceName: 'etcd-headless',
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: { 'app.kubernetes.io/instance': 'etcd', 'app.kubernetes.io/name': 'etcd' } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: 'etcd',
            containers: [
              {
                name: 'etcd',
                image: `${image.registry}/${image.repository}:${image.tag}`,
                env,
                resources: values['resources'],
                ports: [
                  { name: 'client', containerPort: 2379 },
                  { name: 'peer', containerPort: 2380 },
                ],
                volumeMounts: [{ name: 'data', mountPath: '/bitnami/etcd' }],
              },
            ],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data' },
            spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: persistence.size } } },
          },
        ],
      },
    },
    // The claims the StatefulSet controller would have made (labelled from the template).
    ...Array.from({ length: replicas }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: meta(`data-etcd-${i}`),
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: persistence.size } } },
    })),
  ];
}

/** The fields of live objects the test reads (each object has some of them). */
interface Live {
  metadata: { resourceVersion: string; generation: number; annotations: Record<string, string> };
  spec: {
    replicas: number;
    ports: { port: number }[];
    template: { spec: { initContainers: { name: string; args: string[] }[] } };
    meta: { backendStorage: { etcd: { endpoints: string[] } } };
  };
  data: Record<string, string>;
}

/** A loopback "Service" for the new cluster: refuses connections until members are behind it. */
class Proxy {
  backend: number | undefined;
  readonly server = net.createServer((socket) => {
    if (this.backend === undefined) return socket.destroy();
    const upstream = net.connect(this.backend, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }
}

describe(
  'adopt bitnami (real kube-apiserver; real local etcd members stand in for the pods)',
  { skip },
  () => {
    const cleanup = new Cleanup();
    let api: KubeApiServer;
    let dir: string;
    let storage: string;
    let source: string[];
    let standinSpec: string;
    const proxies = [new Proxy(), new Proxy(), new Proxy()];
    let targets: string[];
    let releaseObjects: KubeObject[];
    const values = path.join(SHARED_FIXTURES, 'bitnami', 'etcd.yaml');

    const get = (urlPath: string) => request(api, 'GET', urlPath) as Promise<Live>;
    const rv = async (o: KubeObject) => {
      const group = o.apiVersion === 'v1' ? '/api/v1' : `/apis/${o.apiVersion}`;
      const plural = {
        StatefulSet: 'statefulsets',
        Service: 'services',
        Secret: 'secrets',
        ServiceAccount: 'serviceaccounts',
        PodDisruptionBudget: 'poddisruptionbudgets',
        PersistentVolumeClaim: 'persistentvolumeclaims',
      }[o.kind];
      return (await get(`${group}/namespaces/${NS}/${plural}/${o.metadata.name}`))['metadata']
        .resourceVersion;
    };
    const greptimeEndpoints = async () => (await get(GREPTIME))['spec'].meta.backendStorage.etcd.endpoints;
    const backups = async () => (await readdir(storage)).filter((f) => f.endsWith('.json')).sort();
    const sourceRevision = async (binaries: Awaited<ReturnType<typeof resolveEtcd>>) =>
      (
        JSON.parse(
          await etcdctl(binaries, source.slice(0, 1), [
            '--user',
            `root:${PASSWORD}`,
            'endpoint',
            'status',
            '-w',
            'json',
          ]),
        ) as { Status: { header: { revision: number } } }[]
      )[0]!.Status.header.revision;

    const options = (extra: Partial<AdoptOptions> = {}): AdoptOptions => ({
      release: 'etcd',
      namespace: NS,
      values: [values],
      storage: `file://${storage}`,
      backupClaim: 'nfs-backups',
      greptimedb: 'mycluster.greptimedb',
      connection: { dialTimeoutMs: 2000, commandTimeoutMs: 10_000 },
      sourceEndpoints: source,
      targetEndpoints: targets,
      kubeconfig: api.kubeconfig,
      timeoutMs: 60_000,
      ...extra,
    });

    /** The kubelet's part: once the StatefulSet exists, report it ready. */
    async function markReady(name: string): Promise<Live> {
      const stsPath = `/apis/apps/v1/namespaces/${NS}/statefulsets/${name}`;
      for (let i = 0; ; i++) {
        const sts = await get(stsPath).catch(() => undefined);
        if (sts) {
          await request(
            api,
            'PATCH',
            `${stsPath}/status`,
            {
              status: {
                replicas: sts['spec'].replicas,
                readyReplicas: sts['spec'].replicas,
                observedGeneration: sts['metadata'].generation,
              },
            },
            'application/merge-patch+json',
          );
          return sts;
        }
        if (i > 600) throw new Error(`StatefulSet ${name} never appeared`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }

    before(async () => {
      api = await startKubeApiServer(cleanup);
      dir = await tempDir(cleanup, 'adopt');
      storage = path.join(dir, 'backups');
      for (const p of proxies) p.server.unref();
      targets = await Promise.all(proxies.map((p) => p.listen()));
      cleanup.add(() => Promise.all(proxies.map((p) => new Promise((r) => p.server.close(r)))));
      // The release's members: a real 3-member etcd with root authentication, some GreptimeDB metadata.
      const specFile = await writeSpec(dir, {
        name: 'release',
        auth: { user: 'root', passwordEnv: 'ADOPT_ROOT_PW' },
      });
      source = (await upDetached(cleanup, specFile, ENV)).endpoints;
      const binaries = await resolveEtcd('3.6');
      for (const [key, value] of [
        ['__table_name/greptime/public/metrics', '{"table_id":1024}'],
        ['__table_info/1024', '{"name":"metrics"}'],
        ['__schema_name/greptime/public', '{}'],
      ])
        await etcdctl(binaries, source, [
          '--user',
          `root:${PASSWORD}`,
          'put',
          key as string,
          value as string,
        ]);
      standinSpec = await writeSpec(
        dir,
        { name: 'standin', dataDir: './standin', auth: { user: 'root', passwordEnv: 'ADOPT_ROOT_PW' } },
        'standin.yaml',
      );

      const merged = mergeValues(await readValuesFiles([values]), { auth: { rbac: { create: true } } });
      releaseObjects = bitnamiRelease(merged);
      await applyObjects(releaseObjects, { kubeconfig: api.kubeconfig, fieldManager: 'helm' });
      // Someone else's Service already has the first name adopt would pick.
      await applyObjects(
        [
          {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: 'etcd-steward', namespace: NS },
            spec: { ports: [{ port: 80 }] },
          },
        ],
        { kubeconfig: api.kubeconfig, fieldManager: 'someone' },
      );
      const greptime = await readValuesFiles([
        path.join(SHARED_FIXTURES, 'greptimedb', 'cluster-basic.yaml'),
      ]);
      greptime['metadata'] = { name: 'mycluster', namespace: 'greptimedb' };
      (greptime['spec'] as { meta: Record<string, unknown> }).meta = {
        ...(greptime['spec'] as { meta: Record<string, unknown> }).meta,
        backendStorage: { etcd: { endpoints: [OLD_ENDPOINT] } },
      };
      await applyObjects([greptime as unknown as KubeObject], { kubeconfig: api.kubeconfig });
      // Another GreptimeDB, on another etcd: adopt must never point it at this release's data.
      await applyObjects(
        [
          {
            ...(greptime as unknown as KubeObject),
            metadata: { name: 'other', namespace: 'greptimedb' },
            spec: {
              ...(greptime['spec'] as object),
              meta: {
                replicas: 1,
                backendStorage: { etcd: { endpoints: ['etcd.other-ns.svc.cluster.local:2379'] } },
              },
            },
          },
        ],
        { kubeconfig: api.kubeconfig },
      );
    });
    after(() => cleanup.run());

    it('--dry-run shows the plan, the objects and the leftovers, and changes nothing', async () => {
      const before = await Promise.all(releaseObjects.map(rv));
      const cli = await runCli(
        [
          'adopt',
          'bitnami',
          `etcd.${NS}`,
          '--values',
          values,
          '--storage',
          `file://${storage}`,
          '--backup-claim',
          'nfs-backups',
          '--greptimedb',
          'mycluster.greptimedb',
          '--source-endpoints',
          source.join(','),
          '--kubeconfig',
          api.kubeconfig,
          '--dry-run',
        ],
        { timeoutMs: 120_000 },
      );
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(
        cli.stdout,
        /plan \(dry run: nothing was changed\) to move Helm release etcd-cluster\/etcd to etcd-cluster\/etcd-steward-2/,
      );
      assert.match(cli.stdout, /snapshot\s+│\s+planned\s+│\s+etcd-\d{8}T\d{6}Z into file:\/\//);
      assert.match(cli.stdout, /StatefulSet\s+│\s+etcd-cluster\s+│\s+etcd-steward-2\s+│\s+created/);
      assert.match(cli.stdout, /\$ helm uninstall etcd -n etcd-cluster/);
      assert.match(cli.stdout, /\$ kubectl -n etcd-cluster delete pvc data-etcd-0 data-etcd-1 data-etcd-2/);
      assert.match(
        cli.stdout,
        new RegExp(
          `${OLD_ENDPOINT.replace(/\./g, '\\.')} → etcd-steward-2\\.etcd-cluster\\.svc\\.cluster\\.local:2379`,
        ),
      );
      assert.doesNotMatch(cli.stdout + cli.stderr, new RegExp(PASSWORD));
      // Nothing stored: no backup, no object of ours, the release and GreptimeDB as they were.
      assert.deepEqual(await backups().catch(() => []), []);
      await assert.rejects(get(`/apis/apps/v1/namespaces/${NS}/statefulsets/etcd-steward-2`), /HTTP 404/);
      await assert.rejects(get(`/api/v1/namespaces/${NS}/configmaps/etcd-steward-adopt-etcd`), /HTTP 404/);
      assert.deepEqual(await Promise.all(releaseObjects.map(rv)), before);
      assert.deepEqual(await greptimeEndpoints(), [OLD_ENDPOINT]);
    });

    it('from outside the cluster the pods are port-forwarded: with none running it says so; a GreptimeDBCluster not on the release is refused; nothing changes', async () => {
      await assert.rejects(
        adoptBitnami(options({ sourceEndpoints: undefined, inCluster: false })),
        /cluster 'etcd' has no member pods in namespace etcd-cluster/,
      );
      await assert.rejects(
        adoptBitnami(options({ greptimedb: 'other.greptimedb', dryRun: true })),
        /GreptimeDBCluster greptimedb\/other does not keep its metadata in the release etcd-cluster\/etcd/,
      );
      const plan = await adoptBitnami(options({ greptimedb: undefined, dryRun: true }));
      assert.match(
        plan.steps.find((s) => s.step === 'repoint')?.detail ?? '',
        /using the release: greptimedb\/mycluster \(rerun with --greptimedb mycluster\.greptimedb\)/,
      );
      assert.deepEqual(await backups().catch(() => []), []);
      await assert.rejects(get(`/api/v1/namespaces/${NS}/configmaps/etcd-steward-adopt-etcd`), /HTTP 404/);
      assert.deepEqual(await greptimeEndpoints(), [OLD_ENDPOINT]);
    });

    it('a new cluster that never gets healthy leaves GreptimeDB on the old endpoints', async () => {
      const ready = markReady('etcd-steward-2');
      ready.catch(() => undefined); // awaited below; a failure before it is the test's failure
      await assert.rejects(adoptBitnami(options({ timeoutMs: 8000 })), (error: Error) =>
        /the new cluster etcd-steward-2 did not become healthy in time/.test(error.message),
      );
      await ready;
      assert.deepEqual(await greptimeEndpoints(), [OLD_ENDPOINT]);
      assert.equal((await backups()).length, 1, 'the backup was taken once');
      const record = await get(`/api/v1/namespaces/${NS}/configmaps/etcd-steward-adopt-etcd`);
      assert.equal(record['data'].phase, 'applied');
    });

    it('adopt (a rerun): reuses the backup, restores it pinned into its own objects, checks it, re-points GreptimeDB last; the release is untouched', async () => {
      const binaries = await resolveEtcd('3.6');
      const before = await Promise.all(releaseObjects.map(rv));
      const revision = await sourceRevision(binaries);
      const [manifestFile] = await backups();
      const backup = path.basename(manifestFile!, '.json');
      // The pods: restore the backup the StatefulSet pins, and put those members behind the proxies.
      const sts = await get(`/apis/apps/v1/namespaces/${NS}/statefulsets/etcd-steward-2`);
      const init = (sts['spec'].template.spec.initContainers as { name: string; args: string[] }[]).find(
        (c) => c.name === 'member-init',
      )!;
      assert.ok(init.args.includes(backup), `the restore pins ${backup}: ${init.args.join(' ')}`);
      assert.ok(!init.args.includes('latest'));
      const restored = await runCli(
        [
          '--config',
          standinSpec,
          'restore',
          backup,
          '--storage',
          `file://${storage}`,
          '--new-cluster',
          'pods',
          '-o',
          'json',
        ],
        { env: ENV, timeoutMs: 120_000 },
      );
      assert.equal(restored.code, 0, restored.stderr);
      restored
        .json<{ endpoints: string[] }>()
        .endpoints.forEach((e, i) => (proxies[i]!.backend = Number(new URL(e).port)));

      // A write to the release after the backup: the new cluster lacks it, so GreptimeDB stays.
      const user = ['--user', `root:${PASSWORD}`];
      await etcdctl(binaries, source, [...user, 'put', '__table_name/greptime/public/late', '{}']);
      await assert.rejects(
        adoptBitnami(options()),
        /the release's etcd changed 1 key\(s\) after the backup .* re-pointing GreptimeDB now would lose them/,
      );
      assert.deepEqual(await greptimeEndpoints(), [OLD_ENDPOINT]);
      await etcdctl(binaries, source, [...user, 'del', '__table_name/greptime/public/late']);
      const revisionAfter = await sourceRevision(binaries);

      const lines: string[] = [];
      const result = await adoptBitnami(options({ onProgress: (l) => lines.push(l) }));
      assert.equal(result.newCluster.name, 'etcd-steward-2');
      assert.deepEqual(
        result.steps.map((s) => `${s.step}:${s.outcome}`),
        ['read:done', 'snapshot:reused', 'apply:done', 'verify:done', 'repoint:done'],
        JSON.stringify(result.steps, null, 1),
      );
      assert.equal(result.backup?.name, backup);
      assert.deepEqual(result.digest?.restored, result.digest?.snapshot);
      assert.equal(result.digest?.snapshot.keyCount, 3);
      assert.equal(result.changedSinceBackup, 0);
      assert.deepEqual(await greptimeEndpoints(), ['etcd-steward-2.etcd-cluster.svc.cluster.local:2379']);
      // Our objects do not collide with the release's, and carry where they came from.
      const ours = result.objects.map((o) => `${o.kind}/${o.name}`);
      for (const o of releaseObjects)
        assert.ok(!ours.includes(`${o.kind}/${o.metadata.name}`), `${o.kind}/${o.metadata.name}`);
      assert.ok(
        ours.includes('StatefulSet/etcd-steward-2') && ours.includes('Secret/etcd-steward-2-auth'),
        ours.join(' '),
      );
      assert.equal(sts['metadata'].annotations['etcd-steward.io/adopted-from'], 'etcd-cluster/etcd');
      const secret = await get(`/api/v1/namespaces/${NS}/secrets/etcd-steward-2-auth`);
      assert.equal(Buffer.from(secret['data'].password ?? '', 'base64').toString(), PASSWORD);
      assert.equal((await get(`/api/v1/namespaces/${NS}/services/etcd-steward`))['spec'].ports[0]?.port, 80);
      // Nothing of the old release was written: its objects and its etcd are as they were.
      assert.deepEqual(await Promise.all(releaseObjects.map(rv)), before);
      assert.equal(await sourceRevision(binaries), revisionAfter);
      assert.equal(revisionAfter, revision + 2, 'only the test wrote to the release');
      assert.ok(
        result.leftovers.includes('helm uninstall etcd -n etcd-cluster'),
        result.leftovers.join('\n'),
      );
      assert.ok(
        result.release.objects.some((o) => o.kind === 'Secret' && o.name === 'sh.helm.release.v1.etcd.v1'),
      );
      assert.equal(
        (await get(`/api/v1/namespaces/${NS}/configmaps/etcd-steward-adopt-etcd`))['data'].phase,
        'repointed',
      );
      assert.doesNotMatch(JSON.stringify(result) + lines.join('\n'), new RegExp(PASSWORD));
      // The spec left for the new cluster: its name, the release's settings, no password.
      assert.equal(result.spec['name'], 'etcd-steward-2');
      assert.equal((result.spec['etcd'] as Record<string, unknown>)['quotaBackendBytes'], 8589934592);

      // A third run finds everything done and changes nothing.
      const again = await adoptBitnami(options());
      assert.ok(
        again.objects.every((o) => o.outcome === 'unchanged'),
        JSON.stringify(again.objects),
      );
      assert.equal(again.repoint?.changed, false);
      assert.equal((await backups()).length, 1);
    });
  },
);
