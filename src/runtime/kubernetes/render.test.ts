import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseSpec } from '../../config/load.js';
import { InputError } from '../../errors.js';
import { Cleanup, runCli, tempDir } from '../../testing/harness.js';
import { probePaths } from './render-etcd.js';
import { validateObject } from './render-schemas.js';
import type { KubeObject } from './render-types.js';
import { renderKubernetes, toFiles, toYamlStream } from './render.js';

/** Snapshots live beside the source; UPDATE_SNAPSHOTS=1 rewrites them. */
const SNAPSHOTS = fileURLToPath(new URL('../../../src/runtime/kubernetes/__snapshots__/', import.meta.url));

export const FULL_SPEC = `
name: meta-etcd
runtime: kubernetes
members: 5
etcd:
  version: "3.6"
  quotaBackendBytes: 8GiB
  electionTimeoutMs: 2000
  heartbeatMs: 200
  snapshotCount: 10000
  maxRequestBytes: 4MiB
  autoCompaction: { mode: periodic, retention: 1h }
auth: { user: root, passwordEnv: ETCD_ROOT_PASSWORD }
backup:
  storage: /mnt/nfs/etcd-backups
  schedule: "*/30 * * * *"
  drillSchedule: "0 4 * * 0"
  retention: { keepLast: 2, maxAge: 7d }
kubernetes:
  namespace: etcd-cluster
  storageClass: fast-ssd
  storageSize: 20GiB
  resources: { requests: { cpu: "2", memory: 8Gi }, limits: { cpu: "2", memory: 8Gi } }
  podAntiAffinity: hard
  tolerations: [{ key: dedicated, operator: Equal, value: etcd, effect: NoSchedule }]
  nodeSelector: { node-role/etcd: "true" }
  serviceType: LoadBalancer
  imagePullSecrets: [regcred]
  labels: { team: platform }
  tls: { clientSecret: etcd-client-tls, agentClientSecret: etcd-steward-client-tls, peerSecret: etcd-peer-tls }
  authSecret: etcd-auth
  agentTokenSecret: steward-token
  backup: { pvc: { size: 100GiB, storageClass: nfs, accessModes: [ReadWriteMany] } }
  agentImage: registry.example.com/etcd-steward:1.2.3
  agentResources: { requests: { cpu: 100m, memory: 256Mi } }
  schedules: cronjobs
  cronJobs: { successfulJobsHistoryLimit: 2, failedJobsHistoryLimit: 2 }
  monitoring: { labels: { release: prometheus }, interval: 10s, scrapeTimeout: 10s }
greptimedb: { cluster: greptimedb, namespace: greptimedb }
`;

function render(text: string): KubeObject[] {
  return renderKubernetes(parseSpec(text, undefined));
}

function find(objects: KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.ok(
    found,
    `no ${kind} ${name ?? ''} in ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`,
  );
  return found;
}

interface Container {
  name: string;
  image: string;
  args: string[];
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  volumeMounts: { name: string; mountPath: string }[];
}
function initContainers(workload: KubeObject): Container[] {
  return (
    (workload['spec'] as { template: { spec: { initContainers?: Container[] } } }).template.spec
      .initContainers ?? []
  );
}

function containers(workload: KubeObject): Container[] {
  const spec = workload['spec'] as {
    template?: { spec: { containers: Container[] } };
    jobTemplate?: unknown;
  };
  if (spec.template) return spec.template.spec.containers;
  const job = spec.jobTemplate as { spec: { template: { spec: { containers: Container[] } } } };
  return job.spec.template.spec.containers;
}

async function matchSnapshot(name: string, text: string): Promise<void> {
  const file = path.join(SNAPSHOTS, name);
  if (process.env['UPDATE_SNAPSHOTS'] === '1') {
    await writeFile(file, text);
    return;
  }
  const expected = await readFile(file, 'utf8').catch(() => undefined);
  assert.ok(expected !== undefined, `no snapshot ${file}: run the test with UPDATE_SNAPSHOTS=1 once`);
  assert.equal(
    text,
    expected,
    `rendered output differs from ${file}; if intended, rerun with UPDATE_SNAPSHOTS=1`,
  );
}

describe('render kubernetes', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  it('renders the default spec: every object validates, the output is locked by a snapshot', async () => {
    const objects = render('runtime: kubernetes\n');
    for (const object of objects) validateObject(object);
    assert.deepEqual(
      objects.map((o) => `${o.kind}/${o.metadata.name}`),
      [
        'ServiceAccount/etcd-steward',
        'Role/etcd-steward',
        'RoleBinding/etcd-steward',
        'ConfigMap/etcd-steward-config',
        'Service/etcd-headless',
        'Service/etcd',
        'NetworkPolicy/etcd',
        'StatefulSet/etcd',
        'PodDisruptionBudget/etcd',
        'Deployment/etcd-steward',
        'Service/etcd-steward',
        'PodMonitor/etcd',
        'ServiceMonitor/etcd-steward',
        ...objects.slice(13).map((o) => `${o.kind}/${o.metadata.name}`),
      ],
    );
    await matchSnapshot('default.yaml', toYamlStream(objects));
  });

  it('renders a full spec: every object validates, the output is locked by a snapshot', async () => {
    const objects = render(FULL_SPEC);
    for (const object of objects) validateObject(object);
    await matchSnapshot('full.yaml', toYamlStream(objects));
  });

  it('bootstraps from pod DNS names through the init step, with the spec’s flags, on the official image', () => {
    const objects = render(FULL_SPEC);
    const sts = find(objects, 'StatefulSet', 'meta-etcd');
    const [etcdContainer] = containers(sts);
    assert.ok(etcdContainer);
    assert.equal(etcdContainer.image, 'gcr.io/etcd-development/etcd:v3.6.16');
    // etcd starts from the config file its init step writes; the flags are the init step's.
    assert.deepEqual(etcdContainer.args, ['--config-file=/run/etcd-steward/etcd.yaml']);
    const [init, promote] = initContainers(sts);
    assert.equal(init?.name, 'member-init');
    assert.equal(promote?.name, 'promote');
    assert.equal((promote as { restartPolicy?: string } | undefined)?.restartPolicy, 'Always');
    const etcd = { args: init?.args.slice(init.args.indexOf('--') + 1) ?? [] };
    assert.ok(!etcd.args.some((a) => a.startsWith('--initial-cluster-state')), 'no hard-coded state');
    assert.equal(
      init?.args[init.args.indexOf('--endpoints') + 1],
      // The kubelet expands $(POD_NAMESPACE) (the init container has it from the downward API).
      [0, 1, 2, 3, 4]
        .map((i) => `https://meta-etcd-${i}.meta-etcd-headless.$(POD_NAMESPACE).svc.cluster.local:2379`)
        .concat('https://meta-etcd.$(POD_NAMESPACE).svc.cluster.local:2379')
        .join(','),
    );
    assert.ok(init?.env?.some((e) => e.name === 'POD_NAMESPACE'));
    const initial = etcd.args.find((a) => a.startsWith('--initial-cluster='));
    assert.equal(
      initial,
      '--initial-cluster=' +
        [0, 1, 2, 3, 4]
          .map(
            (i) =>
              `meta-etcd-${i}=https://meta-etcd-${i}.meta-etcd-headless.$(POD_NAMESPACE).svc.cluster.local:2380`,
          )
          .join(','),
    );
    for (const flag of [
      '--quota-backend-bytes=8589934592',
      '--auto-compaction-mode=periodic',
      '--auto-compaction-retention=1h',
      '--election-timeout=2000',
      '--heartbeat-interval=200',
      '--snapshot-count=10000',
      '--max-request-bytes=4194304',
      '--listen-metrics-urls=http://0.0.0.0:2381',
      '--client-cert-auth',
      '--peer-client-cert-auth',
    ]) {
      assert.ok(etcd.args.includes(flag), `missing ${flag} in ${etcd.args.join(' ')}`);
    }
    const spec = sts['spec'] as { podManagementPolicy: string; replicas: number };
    assert.equal(spec.podManagementPolicy, 'Parallel');
    assert.equal(spec.replicas, 5);
    const headless = find(objects, 'Service', 'meta-etcd-headless')['spec'] as Record<string, unknown>;
    assert.equal(headless['publishNotReadyAddresses'], true);
    assert.equal(headless['clusterIP'], 'None');
  });

  it('keeps quorum in the PodDisruptionBudget', () => {
    for (const [members, max] of [
      [1, 0],
      [3, 1],
      [5, 2],
    ] as const) {
      const pdb = find(render(`runtime: kubernetes\nmembers: ${members}\n`), 'PodDisruptionBudget');
      assert.equal((pdb['spec'] as { maxUnavailable: number }).maxUnavailable, max, `${members} members`);
    }
  });

  it('probes /livez and /readyz from 3.5.11 on, /health before', () => {
    assert.deepEqual(probePaths('3.6.16'), { live: '/livez', ready: '/readyz' });
    assert.deepEqual(probePaths('3.5.11'), { live: '/livez', ready: '/readyz' });
    assert.deepEqual(probePaths('3.5.10'), { live: '/health?serializable=true', ready: '/health' });
    const objects = render(
      'runtime: kubernetes\netcd: { version: "3.5" }\nkubernetes: { image: quay.io/coreos/etcd:v3.5.9 }\n',
    );
    const sts = find(objects, 'StatefulSet')['spec'] as {
      template: {
        spec: {
          containers: { readinessProbe: { httpGet: { path: string } } }[];
          initContainers: { args: string[] }[];
        };
      };
    };
    const etcd = sts.template.spec.containers[0];
    assert.equal(etcd?.readinessProbe.httpGet.path, '/health');
    assert.ok(
      sts.template.spec.initContainers[0]?.args.includes('--experimental-stop-grpc-service-on-defrag'),
    );
  });

  it('gives the agent a valid spec of the same cluster, seen from a pod', () => {
    const objects = render(FULL_SPEC);
    const config = find(objects, 'ConfigMap', 'meta-etcd-steward-config')['data'] as Record<string, string>;
    const text = config['steward.yaml'] ?? '';
    const agentSpec = parseSpec(text, undefined);
    assert.equal(agentSpec.runtime, 'external');
    assert.equal(agentSpec.endpoints?.length, 5);
    assert.equal(
      agentSpec.endpoints?.[0],
      'https://meta-etcd-0.meta-etcd-headless.etcd-cluster.svc.cluster.local:2379',
    );
    assert.equal(agentSpec.backup?.storage, 'file:///backups');
    // schedules: cronjobs — the agent does not run backups as well.
    assert.equal(agentSpec.backup?.schedule, undefined);
    assert.equal(agentSpec.backup?.drillSchedule, '0 4 * * 0');
    assert.equal(agentSpec.tls?.caFile, '/etc/etcd-steward/tls/ca.crt');
    assert.equal(agentSpec.tls?.certFile, '/etc/etcd-steward/tls/tls.crt');
    assert.equal(agentSpec.tls?.keyFile, '/etc/etcd-steward/tls/tls.key');
    assert.equal(agentSpec.auth?.passwordEnv, 'ETCD_ROOT_PASSWORD');
    assert.equal(agentSpec.etcd.quotaBackendBytes, 8 * 2 ** 30);
    // The password comes from the Secret, by reference.
    const [agent] = containers(find(objects, 'Deployment'));
    const password = agent?.env?.find((e) => e.name === 'ETCD_ROOT_PASSWORD');
    assert.deepEqual(password?.valueFrom, { secretKeyRef: { name: 'etcd-auth', key: 'password' } });
    assert.deepEqual(agent?.args, ['serve', '--config', '/etc/etcd-steward/steward.yaml']);
  });

  it('with schedules: cronjobs, runs backups as a CronJob that never overlaps', () => {
    const objects = render(FULL_SPEC);
    const cron = find(objects, 'CronJob', 'meta-etcd-backup');
    const spec = cron['spec'] as Record<string, unknown>;
    assert.equal(spec['schedule'], '*/30 * * * *');
    assert.equal(spec['concurrencyPolicy'], 'Forbid');
    assert.equal(spec['successfulJobsHistoryLimit'], 2);
    assert.equal(spec['failedJobsHistoryLimit'], 2);
    const [job] = containers(cron);
    assert.deepEqual(job?.args, ['backup', 'create', '--config', '/etc/etcd-steward/steward.yaml']);
    assert.ok(job?.volumeMounts.some((m) => m.mountPath === '/backups'));
    // The agent schedules them by default: no CronJob then.
    assert.equal(
      render('runtime: kubernetes\nbackup: { storage: "s3://b/p", schedule: "0 * * * *" }\n').filter(
        (o) => o.kind === 'CronJob',
      ).length,
      0,
    );
  });

  it('creates the backup PVC when asked, mounts an existing claim otherwise, references the S3 Secret', () => {
    const created = find(render(FULL_SPEC), 'PersistentVolumeClaim', 'meta-etcd-backups');
    assert.deepEqual((created['spec'] as Record<string, unknown>)['accessModes'], ['ReadWriteMany']);
    const existing = render(
      'runtime: kubernetes\nbackup: { storage: /backups }\nkubernetes: { backup: { pvc: { existingClaim: nfs-backups } } }\n',
    );
    assert.equal(existing.filter((o) => o.kind === 'PersistentVolumeClaim').length, 0);
    const deployment = find(existing, 'Deployment')['spec'] as {
      template: { spec: { volumes: { name: string; persistentVolumeClaim?: { claimName: string } }[] } };
    };
    assert.ok(
      deployment.template.spec.volumes.some((v) => v.persistentVolumeClaim?.claimName === 'nfs-backups'),
    );
    const s3 = render(
      'runtime: kubernetes\nbackup: { storage: "s3://bucket/etcd?region=eu-west-1" }\nkubernetes: { backup: { s3CredentialsSecret: s3-creds } }\n',
    );
    const yaml = toYamlStream(s3);
    assert.match(yaml, /secretRef:\n\s+name: s3-creds/);
    assert.ok(!/AWS_SECRET_ACCESS_KEY:/.test(yaml));
  });

  it('grants the agent only what it needs', () => {
    const objects = render(FULL_SPEC);
    const role = find(objects, 'Role', 'meta-etcd-steward')['rules'] as {
      verbs: string[];
      resources: string[];
    }[];
    assert.ok(role.every((r) => r.verbs.every((v) => ['get', 'list', 'watch'].includes(v))));
    const greptime = find(objects, 'Role', 'meta-etcd-steward-greptimedb');
    assert.equal(greptime.metadata.namespace, 'greptimedb');
    assert.deepEqual(greptime['rules'], [
      {
        apiGroups: ['greptime.io'],
        resources: ['greptimedbclusters'],
        resourceNames: ['greptimedb'],
        verbs: ['get', 'patch'],
      },
    ]);
    assert.equal(render('runtime: kubernetes\n').filter((o) => o.kind === 'Role').length, 1);
  });

  it('refuses what cannot run on Kubernetes, saying how to fix it', () => {
    assert.throws(
      () => render('runtime: kubernetes\nbackup: { storage: /var/backups }\n'),
      (error: unknown) => {
        assert.ok(error instanceof InputError);
        assert.match(error.message, /file path/);
        assert.match(error.hint ?? '', /kubernetes\.backup\.pvc/);
        return true;
      },
    );
    assert.throws(
      () => render('runtime: kubernetes\nauth: { user: root }\n'),
      /no Secret holds its password/,
    );
    assert.throws(
      () => render('runtime: kubernetes\nkubernetes: { tls: { clientSecret: x } }\n'),
      /agentClientSecret|client certificates/,
    );
  });

  it('the schema check fails on objects that are wrong (so passing means something)', () => {
    const sts = find(render('runtime: kubernetes\n'), 'StatefulSet');
    const broken = { ...sts, spec: { ...(sts['spec'] as object), podManagementPolicy: 'AllAtOnce' } };
    assert.throws(() => validateObject(broken), /does not validate/);
    const noSelector = { ...sts, spec: { ...(sts['spec'] as object), selector: undefined } };
    assert.throws(() => validateObject(noSelector), /does not validate/);
  });

  it('is stable: the same spec renders the same bytes', () => {
    assert.equal(toYamlStream(render(FULL_SPEC)), toYamlStream(render(FULL_SPEC)));
  });

  it('`render kubernetes` prints one stream, and with --output-dir one file per object and a kustomization', async () => {
    const dir = await tempDir(cleanup, 'render');
    const spec = path.join(dir, 'steward.yaml');
    await writeFile(spec, 'runtime: kubernetes\nkubernetes: { namespace: etcd-cluster }\n');
    const printed = await runCli(['render', 'kubernetes', '--config', spec]);
    assert.equal(printed.code, 0, printed.stderr);
    const docs = parseAllDocuments(printed.stdout).map((d) => d.toJS() as KubeObject);
    assert.deepEqual(docs, render('runtime: kubernetes\nkubernetes: { namespace: etcd-cluster }\n'));
    const out = path.join(dir, 'manifests');
    const written = await runCli(['render', 'kubernetes', '--config', spec, '--output-dir', out]);
    assert.equal(written.code, 0, written.stderr);
    const files = (await readdir(out)).sort();
    assert.equal(files.length, docs.length + 1);
    const kustomization = parseYaml(await readFile(path.join(out, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    assert.deepEqual(
      kustomization.resources,
      toFiles(docs)
        .slice(0, -1)
        .map((f) => f.name),
    );
    const bad = await runCli(['render', 'kubernetes', '--config', path.join(dir, 'missing.yaml')]);
    assert.equal(bad.code, 2);
  });
});
