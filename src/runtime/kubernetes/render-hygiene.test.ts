/**
 * The production hygiene of `render kubernetes`: storage that can work (RWX or S3, member volumes
 * with room for a defrag, no placeholders), a namespace that a real kustomize overlay can move,
 * the agent rolling on config changes, CronJobs without the agent's rights, deadlines, the
 * NetworkPolicy, the etcd pods' pod-level settings, cloud identities and member-count warnings.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { parseSpec } from '../../config/load.js';
import { InputError } from '../../errors.js';
import { Cleanup, runCli, tempDir } from '../../testing/harness.js';
import { CONFIG_CHECKSUM } from './render-agent.js';
import { DEFAULT_ETCD_VERSIONS } from './render-images.js';
import { validateObject } from './render-schemas.js';
import type { KubeObject } from './render-types.js';
import { kubernetesWarnings, renderKubernetes, toFiles } from './render.js';

const exec = promisify(execFile);

function spec(text: string) {
  return parseSpec(`runtime: kubernetes\n${text}`, undefined);
}
function render(text: string): KubeObject[] {
  const objects = renderKubernetes(spec(text));
  for (const object of objects) validateObject(object);
  return objects;
}
function find(objects: KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.ok(
    found,
    `no ${kind} ${name ?? ''} in ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`,
  );
  return found;
}
/** The value at `path` (dotted keys and list indexes) inside `value`. */
function dig(value: unknown, path: string): unknown {
  let node = value;
  for (const key of path.split('.')) {
    node = (node as Record<string, unknown> | undefined)?.[key];
  }
  return node;
}
function refusal(text: string, message: RegExp, hint: RegExp): void {
  assert.throws(
    () => renderKubernetes(spec(text)),
    (error: unknown) => {
      assert.ok(error instanceof InputError, String(error));
      assert.match(error.message, message);
      assert.match(error.hint ?? '', hint);
      return true;
    },
  );
}

/** Every string anywhere in `value`, with its path. */
function strings(value: unknown, at = ''): { at: string; text: string }[] {
  if (typeof value === 'string') return [{ at, text: value }];
  if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${at}[${i}]`));
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => strings(v, at ? `${at}.${k}` : k));
  return [];
}

const SCHEDULED = `name: meta
members: 3
auth: { user: root, passwordEnv: ETCD_ROOT_PASSWORD }
backup: { storage: /backups, schedule: "*/30 * * * *" }
defrag: { schedule: "0 3 * * *" }
kubernetes:
  namespace: etcd-cluster
  authSecret: etcd-auth
  schedules: cronjobs
  backup: { pvc: { size: 20GiB } }
`;

describe('render kubernetes: production hygiene', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  it('shared backup storage must be ReadWriteMany or S3: a single-node claim is refused, naming the field', () => {
    refusal(
      'backup: { storage: /backups }\nkubernetes: { backup: { pvc: { accessModes: [ReadWriteOnce] } } }\n',
      /^kubernetes\.backup\.pvc\.accessModes is \[ReadWriteOnce\].*agent, the CronJobs and every restore pod/,
      /accessModes: \[ReadWriteMany\].*s3:\/\//,
    );
    refusal(
      'backup: { storage: /backups }\nkubernetes: { backup: { pvc: { accessModes: [ReadWriteOncePod] } } }\n',
      /ReadWriteOncePod/,
      /ReadWriteMany/,
    );
    // The default claim is ReadWriteMany; S3 needs no claim at all.
    const claim = find(
      render('backup: { storage: /backups }\nkubernetes: { backup: { pvc: {} } }\n'),
      'PersistentVolumeClaim',
    );
    assert.deepEqual(dig(claim, 'spec.accessModes'), ['ReadWriteMany']);
    const s3 = render(
      'backup: { storage: "s3://b/p" }\nkubernetes: { backup: { pvc: { accessModes: [ReadWriteOnce] } } }\n',
    );
    assert.equal(s3.filter((o) => o.kind === 'PersistentVolumeClaim').length, 0);
    // An existing claim cannot be checked here: a warning says what it must be.
    const warnings = kubernetesWarnings(
      spec('backup: { storage: /backups }\nkubernetes: { backup: { pvc: { existingClaim: nfs } } }\n'),
    );
    assert.ok(
      warnings.some((w) => /existingClaim 'nfs' must be ReadWriteMany/.test(w)),
      warnings.join('\n'),
    );
  });

  it('member volumes: below the quota is refused, below twice the quota warns (a defrag copies the database)', () => {
    refusal(
      'etcd: { quotaBackendBytes: 8GiB }\nkubernetes: { storageSize: 4GiB }\n',
      /^kubernetes\.storageSize \(4GiB\) is smaller than etcd\.quotaBackendBytes \(8GiB\)/,
      /at least 16GiB.*defrag/,
    );
    const warned = kubernetesWarnings(
      spec('etcd: { quotaBackendBytes: 8GiB }\nkubernetes: { storageSize: 8GiB }\n'),
    );
    assert.ok(
      warned.some((w) =>
        /^kubernetes\.storageSize \(8GiB\) is less than twice etcd\.quotaBackendBytes.*defrag/.test(w),
      ),
      warned.join('\n'),
    );
    const roomy = kubernetesWarnings(
      spec('etcd: { quotaBackendBytes: 8GiB }\nkubernetes: { storageSize: 16GiB }\n'),
    );
    assert.ok(!roomy.some((w) => /storageSize/.test(w)), roomy.join('\n'));
  });

  it('refuses ${…} placeholders anywhere in the spec, naming the field', () => {
    refusal(
      'backup: { storage: /backups }\nkubernetes: { backup: { pvc: { existingClaim: "${YOUR_NFS_PVC_NAME_HERE}" } } }\n',
      /^kubernetes\.backup\.pvc\.existingClaim is '\$\{YOUR_NFS_PVC_NAME_HERE\}', a placeholder/,
      /kubernetes\.backup\.pvc\.existingClaim/,
    );
    refusal(
      'kubernetes: { authSecret: "${SECRET}" }\n',
      /^kubernetes\.authSecret is/,
      /kubernetes\.authSecret/,
    );
  });

  it('warns about 1, 2 or an even number of members, not about 3 or 5', () => {
    const about = (members: number) =>
      kubernetesWarnings(spec(`members: ${members}\n`)).filter((w) => w.startsWith('members:'));
    assert.match(about(1).join(), /tolerates no failure/);
    assert.match(about(2).join(), /needs both members/);
    assert.match(about(4).join(), /members: 4 tolerates as many failures as 3.*use 3 or 5/);
    assert.deepEqual(about(3), []);
    assert.deepEqual(about(5), []);
  });

  it('the agent rolls when its ConfigMap changes, and only then', () => {
    const checksum = (text: string) =>
      String(
        (
          dig(find(render(text), 'Deployment'), 'spec.template.metadata.annotations') as Record<
            string,
            string
          >
        )[CONFIG_CHECKSUM],
      );
    const base = checksum('members: 3\n');
    assert.match(base, /^[0-9a-f]{64}$/);
    assert.equal(checksum('members: 3\n'), base);
    assert.notEqual(checksum('members: 3\ndefrag: { rule: "dbSizeFree > 1GiB" }\n'), base);
    // A change that is not in the agent's config (the etcd image) does not restart the agent.
    assert.equal(checksum('members: 3\nkubernetes: { image: quay.io/coreos/etcd:v3.6.16 }\n'), base);
  });

  it('CronJobs and the auth Job run as their own ServiceAccount with no rights, with deadlines', () => {
    const objects = render(`${SCHEDULED}greptimedb: { cluster: greptimedb, namespace: greptimedb }\n`);
    const jobsAccount = find(objects, 'ServiceAccount', 'meta-steward-jobs');
    assert.equal(jobsAccount['automountServiceAccountToken'], false);
    // No binding names it: it cannot read pods, let alone patch the GreptimeDBCluster.
    for (const binding of objects.filter((o) => o.kind === 'RoleBinding')) {
      const subjects = binding['subjects'] as { name: string }[];
      assert.ok(
        subjects.every((s) => s.name === 'meta-steward'),
        `${binding.metadata.name} binds the jobs account`,
      );
    }
    for (const name of ['meta-backup', 'meta-defrag']) {
      const cron = find(objects, 'CronJob', name);
      assert.equal(dig(cron, 'spec.startingDeadlineSeconds'), 300);
      assert.equal(dig(cron, 'spec.jobTemplate.spec.activeDeadlineSeconds'), 3600);
      const pod = dig(cron, 'spec.jobTemplate.spec.template.spec');
      assert.equal(dig(pod, 'serviceAccountName'), 'meta-steward-jobs');
      assert.equal(dig(pod, 'automountServiceAccountToken'), false);
    }
    const job = objects.find((o) => o.kind === 'Job');
    assert.ok(job, 'the auth bootstrap Job');
    assert.match(job.metadata.name, /^meta-auth-[0-9a-f]{8}$/);
    assert.ok(Number(dig(job, 'spec.activeDeadlineSeconds')) > 0);
    assert.equal(dig(job, 'spec.template.spec.serviceAccountName'), 'meta-steward-jobs');
    // The Job's name follows its template: same spec, same name; another image, another Job.
    const again = render(`${SCHEDULED}greptimedb: { cluster: greptimedb, namespace: greptimedb }\n`);
    assert.equal(find(again, 'Job').metadata.name, job.metadata.name);
    const moved = render(
      SCHEDULED.replace('schedules: cronjobs', 'schedules: cronjobs\n  agentImage: r.example/steward:2'),
    );
    assert.notEqual(find(moved, 'Job').metadata.name, job.metadata.name);
    // Without auth there is nothing to bootstrap; without CronJobs or a Job no jobs account.
    const plain = render('members: 3\n');
    assert.equal(plain.filter((o) => o.kind === 'Job').length, 0);
    assert.equal(plain.filter((o) => o.metadata.name.endsWith('-jobs')).length, 0);
  });

  it('etcd pods: no Service links, no API token, spread across zones, a PriorityClass', () => {
    const pod = (text: string) =>
      dig(find(render(text), 'StatefulSet'), 'spec.template.spec') as Record<string, unknown>;
    const soft = pod('members: 3\n');
    assert.equal(soft.enableServiceLinks, false);
    assert.equal(soft.automountServiceAccountToken, false);
    assert.deepEqual(soft.topologySpreadConstraints, [
      {
        maxSkew: 1,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: {
          matchLabels: { 'app.kubernetes.io/name': 'etcd', 'app.kubernetes.io/instance': 'etcd' },
        },
      },
    ]);
    assert.equal(soft.priorityClassName, undefined);
    const hard = pod('kubernetes: { zoneSpread: hard, priorityClassName: etcd-critical }\n');
    assert.equal(dig(hard, 'topologySpreadConstraints.0.whenUnsatisfiable'), 'DoNotSchedule');
    assert.equal(hard.priorityClassName, 'etcd-critical');
    assert.equal(pod('kubernetes: { zoneSpread: none }\n').topologySpreadConstraints, undefined);
  });

  it('a NetworkPolicy admits peers, etcd-steward pods and the named client namespaces', () => {
    const objects = render(
      'kubernetes: { namespace: etcd-cluster, networkPolicy: { clientNamespaces: [apps], metricsNamespaces: [monitoring] } }\ngreptimedb: { cluster: g, namespace: greptimedb }\n',
    );
    const policy = dig(find(objects, 'NetworkPolicy', 'etcd'), 'spec');
    assert.deepEqual(dig(policy, 'podSelector.matchLabels'), {
      'app.kubernetes.io/name': 'etcd',
      'app.kubernetes.io/instance': 'etcd',
    });
    const rules = dig(policy, 'ingress') as { from?: unknown[]; ports: { port: number }[] }[];
    const ports = (rule: { ports: { port: number }[] }) => rule.ports.map((p) => p.port);
    assert.deepEqual(ports(rules[0]!), [2379, 2380]);
    assert.deepEqual(rules[0]!.from, [
      {
        podSelector: {
          matchLabels: { 'app.kubernetes.io/name': 'etcd', 'app.kubernetes.io/instance': 'etcd' },
        },
      },
    ]);
    assert.deepEqual(rules[1]!.from, [
      {
        podSelector: {
          matchLabels: { 'app.kubernetes.io/name': 'etcd-steward', 'app.kubernetes.io/instance': 'etcd' },
        },
      },
    ]);
    assert.deepEqual(dig(rules[2], 'from.0.namespaceSelector.matchExpressions.0.values'), [
      'apps',
      'greptimedb',
    ]);
    assert.deepEqual(ports(rules[2]!), [2379]);
    assert.deepEqual(rules[3], {
      from: [
        {
          namespaceSelector: {
            matchExpressions: [
              { key: 'kubernetes.io/metadata.name', operator: 'In', values: ['monitoring'] },
            ],
          },
        },
      ],
      ports: [{ protocol: 'TCP', port: 2381 }],
    });
    // GreptimeDB beside etcd: every pod of the namespace is a client.
    const beside = find(
      render('kubernetes: { namespace: db }\ngreptimedb: { cluster: g, namespace: db }\n'),
      'NetworkPolicy',
    );
    assert.deepEqual(dig(beside, 'spec.ingress.1.from'), [{ podSelector: {} }]);
    assert.equal(
      render('kubernetes: { networkPolicy: { enabled: false } }\n').filter((o) => o.kind === 'NetworkPolicy')
        .length,
      0,
    );
    assert.ok(
      kubernetesWarnings(spec('members: 3\n')).some((w) => /networkPolicy\.clientNamespaces/.test(w)),
    );
  });

  it('ServiceAccount annotations carry a cloud identity (S3 without static keys)', () => {
    const objects = render(
      `${SCHEDULED}  serviceAccountAnnotations: { eks.amazonaws.com/role-arn: "arn:aws:iam::1:role/etcd-backups" }\n`,
    );
    for (const name of ['meta-steward', 'meta-steward-jobs']) {
      assert.deepEqual(find(objects, 'ServiceAccount', name).metadata.annotations, {
        'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/etcd-backups',
      });
    }
  });

  it('the 3.5 line defaults to the newest 3.5 patch, above the 3.5.26 floor etcd requires before 3.6', () => {
    const [major, minor, patch] = DEFAULT_ETCD_VERSIONS['3.5'].split('.').map(Number);
    assert.equal(`${major}.${minor}`, '3.5');
    assert.ok((patch ?? 0) >= 36, DEFAULT_ETCD_VERSIONS['3.5']);
    assert.equal(
      dig(find(render('etcd: { version: "3.5" }\n'), 'StatefulSet'), 'spec.template.spec.containers.0.image'),
      'gcr.io/etcd-development/etcd:v3.5.36',
    );
  });

  it('kubernetes.clusterDomain reaches every member DNS name', () => {
    const sts = find(render('kubernetes: { clusterDomain: corp.internal }\n'), 'StatefulSet');
    // etcd's flags go to the init step (member-init), which writes etcd's config file.
    const args = (dig(sts, 'spec.template.spec.initContainers.0.args') as string[]).join(' ');
    assert.match(args, /etcd-0\.etcd-headless\.\$\(POD_NAMESPACE\)\.svc\.corp\.internal:2380/);
    assert.doesNotMatch(args, /cluster\.local/);
  });

  it('a kustomize namespace overlay (real kustomize, kubectl kustomize) moves everything: nothing names the old namespace', async (t) => {
    const kubectl = await exec('kubectl', ['version', '--client']).then(
      () => true,
      () => false,
    );
    if (!kubectl) {
      t.skip('SKIPPED LOUDLY: kubectl (with its built-in kustomize) is not on PATH');
      return;
    }
    const dir = await tempDir(cleanup, 'kustomize');
    const text = `${SCHEDULED.replace('members: 3', 'members: 3\nmonitoring: { listen: "0.0.0.0:9779" }')}`;
    const objects = render(text);
    await mkdir(path.join(dir, 'base'));
    for (const file of toFiles(objects)) await writeFile(path.join(dir, 'base', file.name), file.content);
    await mkdir(path.join(dir, 'overlay'));
    await writeFile(
      path.join(dir, 'overlay', 'kustomization.yaml'),
      'namespace: moved-here\nresources: [../base]\n',
    );
    const { stdout } = await exec('kubectl', ['kustomize', path.join(dir, 'overlay')], {
      maxBuffer: 64 << 20,
    });
    const moved = parseAllDocuments(stdout).map((d) => d.toJS() as KubeObject);
    assert.equal(moved.length, objects.length);
    const left = moved.flatMap((o) =>
      strings(o)
        .filter((s) => /etcd-cluster/.test(s.text))
        .map((s) => `${o.kind}/${o.metadata.name} ${s.at}: ${s.text.slice(0, 120)}`),
    );
    assert.deepEqual(left, [], 'strings still naming the old namespace');
    for (const o of moved) assert.equal(o.metadata.namespace, 'moved-here', `${o.kind}/${o.metadata.name}`);
    // Pods name their namespace through the downward API, so the members' DNS names follow.
    const etcd = dig(
      moved.find((o) => o.kind === 'StatefulSet'),
      'spec.template.spec.initContainers.0',
    ) as { args: string[]; env: { name: string }[] };
    assert.ok(etcd.args.some((a) => a.includes('.$(POD_NAMESPACE).svc.')));
    assert.deepEqual(
      etcd.env.find((e) => e.name === 'POD_NAMESPACE'),
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    );
    const binding = moved.find((o) => o.kind === 'RoleBinding') as KubeObject & {
      subjects: { namespace: string }[];
    };
    assert.equal(binding.subjects[0]?.namespace, 'moved-here');
  });

  it('`render kubernetes` prints the warnings on stderr and the manifests alone on stdout', async () => {
    const dir = await tempDir(cleanup, 'warn');
    const file = path.join(dir, 'steward.yaml');
    await writeFile(file, 'runtime: kubernetes\nmembers: 2\n');
    const result = await runCli(['render', 'kubernetes', '--config', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /^warning: members: 2 needs both members/m);
    assert.doesNotMatch(result.stdout, /^warning:/m);
    assert.match(result.stdout, /^apiVersion: /);
  });
});
