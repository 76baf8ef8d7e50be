import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify } from 'yaml';
import { renderKubernetes } from '../runtime/kubernetes/render.js';
import { validateObject } from '../runtime/kubernetes/render-schemas.js';
import { InputError } from '../errors.js';
import { Cleanup, runCli, tempDir } from '../testing/harness.js';
import { importBitnami, mergeValues } from './import-bitnami.js';
import { parseSpec } from './load.js';

/** The repository's root (dist/config → ../..); the guide's values files sit beside the clone. */
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES =
  process.env['STEWARD_FIXTURES'] ?? path.resolve(REPO_ROOT, '..', 'shared', 'fixtures', 'bitnami');
const fixture = (name: string) => path.join(FIXTURES, name);

/** What every file of the guide shares (its etcd.yaml). */
const BASE = {
  name: 'etcd',
  runtime: 'kubernetes',
  members: 3,
  etcd: {
    version: '3.6',
    autoCompaction: { mode: 'periodic', retention: '1h' },
    quotaBackendBytes: 8589934592,
    electionTimeoutMs: 2000,
    snapshotCount: 10000,
  },
  kubernetes: {
    storageSize: '8GiB',
    resources: { requests: { cpu: '2', memory: '8Gi' }, limits: { cpu: '2', memory: '8Gi' } },
  },
};

const IMAGE_WARNINGS = [
  /^global\.security\.allowInsecureImages: not needed/,
  /^image: .*3\.6\.1-debian-12-r3 is replaced by the official etcd image of line 3\.6/,
];

function assertWarnings(warnings: string[], expected: RegExp[]): void {
  assert.equal(warnings.length, expected.length, `warnings:\n${warnings.join('\n')}`);
  expected.forEach((pattern, i) => assert.match(warnings[i] ?? '', pattern));
}

/** The imported spec is a valid spec whose manifests validate. */
function assertUsable(spec: Record<string, unknown>): void {
  const parsed = parseSpec(stringify(spec), undefined);
  for (const object of renderKubernetes(parsed)) validateObject(object);
}

describe('import bitnami', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  it('etcd.yaml (install)', async () => {
    const { spec, warnings } = await importBitnami([fixture('etcd.yaml')]);
    assert.deepEqual(spec, BASE);
    assertWarnings(warnings, IMAGE_WARNINGS);
    assertUsable(spec);
  });

  it('etcd-backup.yaml (disasterRecovery → backup schedule, retention, PVC)', async () => {
    const { spec, warnings } = await importBitnami([fixture('etcd-backup.yaml')]);
    assert.deepEqual(spec, {
      ...BASE,
      kubernetes: {
        ...BASE.kubernetes,
        cronJobs: { successfulJobsHistoryLimit: 2, failedJobsHistoryLimit: 2 },
        backup: { pvc: { existingClaim: '${YOUR_NFS_PVC_NAME_HERE}' } },
      },
      backup: { storage: '/backups', schedule: '*/30 * * * *', retention: { keepLast: 2 } },
    });
    assertWarnings(warnings, [
      ...IMAGE_WARNINGS,
      /^disasterRecovery\.pvc\.existingClaim: .* is a placeholder/,
    ]);
    // The placeholder never reaches a manifest: render refuses it, naming the field.
    assert.throws(
      () => renderKubernetes(parseSpec(stringify(spec), undefined)),
      (error: unknown) => {
        assert.ok(error instanceof InputError);
        assert.match(
          error.message,
          /^kubernetes\.backup\.pvc\.existingClaim is '\$\{YOUR_NFS_PVC_NAME_HERE\}', a placeholder/,
        );
        assert.match(error.hint ?? '', /kubernetes\.backup\.pvc\.existingClaim/);
        return true;
      },
    );
    const claim = structuredClone(spec) as { kubernetes: { backup: { pvc: { existingClaim: string } } } };
    claim.kubernetes.backup.pvc.existingClaim = 'nfs-etcd-backups';
    assertUsable(claim);
  });

  it('etcd-restore.yaml (startFromSnapshot → a warning that says to restore instead)', async () => {
    const { spec, warnings } = await importBitnami([fixture('etcd-restore.yaml')]);
    assert.deepEqual(spec, BASE);
    assertWarnings(warnings, [
      ...IMAGE_WARNINGS,
      /^startFromSnapshot: not mapped .*etcd-steward restore <backup> --runtime kubernetes/,
    ]);
  });

  it('etcd-monitoring.yaml (podMonitor → monitoring labels, interval, namespace)', async () => {
    const { spec, warnings } = await importBitnami([fixture('etcd-monitoring.yaml')]);
    assert.deepEqual(spec, {
      ...BASE,
      kubernetes: {
        ...BASE.kubernetes,
        namespace: 'etcd-cluster',
        monitoring: {
          enabled: true,
          interval: '10s',
          scrapeTimeout: '10s',
          labels: { release: 'prometheus' },
        },
      },
    });
    assertWarnings(warnings, [
      ...IMAGE_WARNINGS,
      /^metrics\.podMonitor\.namespace: 'etcd-cluster' taken as kubernetes\.namespace/,
    ]);
    assertUsable(spec);
  });

  it('etcd-defrag.yaml (defrag cronjob → defrag.schedule, history limits)', async () => {
    const { spec, warnings } = await importBitnami([fixture('etcd-defrag.yaml')]);
    assert.deepEqual(spec, {
      ...BASE,
      kubernetes: {
        ...BASE.kubernetes,
        cronJobs: { successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 1 },
      },
      defrag: { schedule: '0 3 * * *' },
    });
    assertWarnings(warnings, [...IMAGE_WARNINGS, /^defrag: the chart defragments every member in a row/]);
    assertUsable(spec);
  });

  it('client TLS without the chart’s client certificate authentication → clientCertAuth: false', async () => {
    const dir = await tempDir(cleanup, 'bitnami-tls');
    const values = path.join(dir, 'tls.yaml');
    for (const [enable, expected] of [
      ['false', false],
      ['true', true],
    ] as const) {
      await writeFile(
        values,
        `auth: { client: { secureTransport: true, existingSecret: etcd-tls, enableAuthentication: ${enable} } }\n`,
      );
      const { spec } = await importBitnami([values]);
      const tls = (spec['kubernetes'] as { tls: Record<string, unknown> }).tls;
      assert.deepEqual(tls, { clientSecret: 'etcd-tls', clientCertAuth: expected });
    }
  });

  it('merges several files in Helm’s order and warns about unknown keys and unmapped variables', async () => {
    const dir = await tempDir(cleanup, 'bitnami');
    const extra = path.join(dir, 'extra.yaml');
    await writeFile(
      extra,
      [
        'replicaCount: 5',
        'persistence: { size: 20Gi }',
        'auth: { rbac: { create: true, existingSecret: etcd-root, rootPassword: hunter2 } }',
        'extraEnvVars:',
        '  - { name: ETCD_HEARTBEAT_INTERVAL, value: "200" }',
        '  - { name: ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL, value: "5s" }',
        '  - { name: GOGC, value: "50" }',
        'shinyNewOption: true',
      ].join('\n'),
    );
    const { spec, warnings } = await importBitnami([fixture('etcd.yaml'), extra]);
    assert.equal(spec['members'], 5);
    const k = spec['kubernetes'] as Record<string, unknown>;
    assert.equal(k['storageSize'], '20GiB');
    assert.equal(k['authSecret'], 'etcd-root');
    // A later file's list replaces the earlier one (Helm does not merge lists).
    assert.deepEqual(spec['etcd'], {
      version: '3.6',
      autoCompaction: { mode: 'periodic', retention: '1h' },
      heartbeatMs: 200,
      extraArgs: ['--experimental-watch-progress-notify-interval=5s'],
    });
    assert.deepEqual(spec['auth'], { user: 'root', passwordEnv: 'ETCD_ROOT_PASSWORD' });
    assert.ok(!JSON.stringify(spec).includes('hunter2'), 'the password was copied');
    assert.ok(
      warnings.some((w) => /^shinyNewOption: unknown key/.test(w)),
      warnings.join('\n'),
    );
    assert.ok(warnings.some((w) => /^extraEnvVars\[2\] \(GOGC\): not an etcd setting/.test(w)));
    assert.ok(warnings.some((w) => /^auth\.rbac\.rootPassword: not copied/.test(w)));
    assert.deepEqual(mergeValues({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] }, d: 2 }), {
      a: { b: 1, c: [3] },
      d: 2,
    });
  });

  it('`import bitnami` writes a spec that loads, with --values merged after the arguments', async () => {
    const dir = await tempDir(cleanup, 'bitnami-cli');
    const out = path.join(dir, 'steward.yaml');
    const result = await runCli([
      'import',
      'bitnami',
      fixture('etcd.yaml'),
      '--values',
      fixture('etcd-monitoring.yaml'),
      '--out',
      out,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /warning: image: /);
    const rendered = await runCli(['render', 'kubernetes', '--config', out]);
    assert.equal(rendered.code, 0, rendered.stderr);
    assert.match(rendered.stdout, /namespace: etcd-cluster/);
    const json = await runCli(['import', 'bitnami', fixture('etcd.yaml'), '-o', 'json']);
    assert.deepEqual(json.json<{ spec: unknown }>().spec, BASE);
    const missing = await runCli(['import', 'bitnami', path.join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.ok(parseYaml(stringify(BASE)));
  });
});
