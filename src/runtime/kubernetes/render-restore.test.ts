import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSpec } from '../../config/load.js';
import { runCli } from '../../testing/harness.js';
import { validateObject } from './render-schemas.js';
import type { KubeObject } from './render-types.js';
import { renderRestore } from './render-restore.js';

interface Pod {
  initContainers: {
    args: string[];
    volumeMounts: { name: string; mountPath: string }[];
    envFrom?: unknown[];
  }[];
  containers: { args: string[] }[];
  volumes: { name: string; persistentVolumeClaim?: { claimName: string } }[];
}
function pod(objects: KubeObject[]): Pod {
  const sts = objects.find((o) => o.kind === 'StatefulSet');
  assert.ok(sts);
  return (sts['spec'] as { template: { spec: Pod } }).template.spec;
}
const arg = (args: string[], flag: string) => args[args.indexOf(flag) + 1];
const SHA = 'ab'.repeat(32);
const etcdFlag = (args: string[], key: string) =>
  args.find((a) => a.startsWith(`--${key}=`))?.slice(key.length + 3);

describe('restore on Kubernetes (rendering)', () => {
  it('from a file backup on the PVC: a new cluster whose init step restores the pinned backup', () => {
    const spec = parseSpec(
      'runtime: kubernetes\nbackup: { storage: /backups }\nkubernetes: { namespace: etcd-cluster, backup: { pvc: { existingClaim: nfs-backups } } }\n',
      undefined,
    );
    const objects = renderRestore(spec, {
      backup: 'etcd-20261204T120000Z',
      sha256: SHA,
      newClusterName: 'etcd-recover',
    });
    for (const object of objects) validateObject(object);
    assert.deepEqual(
      objects.map((o) => `${o.kind}/${o.metadata.name}`),
      [
        'Service/etcd-recover-headless',
        'Service/etcd-recover',
        'StatefulSet/etcd-recover',
        'PodDisruptionBudget/etcd-recover',
      ],
    );
    const p = pod(objects);
    const init = p.initContainers[0];
    assert.ok(init);
    assert.equal(init.args[0], 'member-init');
    // Pinned: one name and its hash, never latest.
    assert.equal(arg(init.args, '--restore'), 'etcd-20261204T120000Z');
    assert.equal(arg(init.args, '--restore-sha256'), SHA);
    assert.ok(!init.args.includes('latest'));
    assert.equal(arg(init.args, '--storage'), 'file:///backups');
    assert.equal(arg(init.args, '--etcdutl'), '/usr/local/bin/etcdutl');
    assert.equal(etcdFlag(init.args, 'data-dir'), '/var/lib/etcd/data');
    assert.match(
      etcdFlag(init.args, 'initial-cluster') ?? '',
      /^etcd-recover-0=http:\/\/etcd-recover-0\.etcd-recover-headless\.etcd-cluster\.svc\.cluster\.local:2380,/,
    );
    assert.equal(etcdFlag(init.args, 'initial-cluster-token'), 'etcd-recover-etcd-cluster-restored');
    assert.equal(etcdFlag(init.args, 'initial-cluster-state'), undefined, 'the init step decides the state');
    // etcd starts from the config file the init step writes.
    assert.deepEqual(p.containers[0]?.args, ['--config-file=/run/etcd-steward/etcd.yaml']);
    assert.ok(p.volumes.some((v) => v.persistentVolumeClaim?.claimName === 'nfs-backups'));
    assert.ok(init.volumeMounts.some((m) => m.name === 'data' && m.mountPath === '/var/lib/etcd'));
  });

  it('from an S3 backup: the credentials Secret by reference, no volume', () => {
    const spec = parseSpec(
      'runtime: kubernetes\nbackup: { storage: "s3://etcd-backups/prod?region=eu-west-1" }\nkubernetes: { backup: { s3CredentialsSecret: s3-creds } }\n',
      undefined,
    );
    const objects = renderRestore(spec, {
      backup: 'etcd-20261204T120000Z',
      sha256: SHA,
      newClusterName: 'etcd-recover',
    });
    for (const object of objects) validateObject(object);
    const init = pod(objects).initContainers[0];
    assert.equal(arg(init?.args ?? [], '--storage'), 's3://etcd-backups/prod?region=eu-west-1');
    assert.deepEqual(init?.envFrom, [{ secretRef: { name: 's3-creds' } }]);
    assert.throws(
      () => renderRestore(spec, { backup: 'x', sha256: SHA, newClusterName: 'etcd' }),
      /the spec's own cluster/,
    );
    assert.throws(
      () => renderRestore(spec, { backup: 'latest', sha256: SHA, newClusterName: 'etcd-recover' }),
      /pinned to one backup and its SHA-256/,
    );
    assert.throws(
      () => renderRestore(spec, { backup: 'x', sha256: 'nope', newClusterName: 'etcd-recover' }),
      /pinned to one backup and its SHA-256/,
    );
  });

  it('`restore NAME --sha256 HEX --runtime kubernetes --new-cluster NAME` prints the pinned manifests; latest cannot be pinned blind', async () => {
    const { writeFile, mkdtemp, rm } = await import('node:fs/promises');
    const { TEST_TMP_PREFIX } = await import('../../testing/harness.js');
    const dir = await mkdtemp(`${TEST_TMP_PREFIX}restore-k8s-`);
    try {
      await writeFile(`${dir}/steward.yaml`, 'runtime: kubernetes\nbackup: { storage: "s3://b/p" }\n');
      const result = await runCli([
        'restore',
        'etcd-20261204T120000Z',
        '--sha256',
        SHA,
        '--runtime',
        'kubernetes',
        '--new-cluster',
        'etcd-recover',
        '--config',
        `${dir}/steward.yaml`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /kind: StatefulSet\n/);
      assert.match(result.stdout, /- member-init\n/);
      assert.match(result.stdout, new RegExp(`- --restore-sha256\n\\s+- ${SHA}\n`));
      const blind = await runCli([
        'restore',
        'latest',
        '--sha256',
        SHA,
        '--runtime',
        'kubernetes',
        '--config',
        `${dir}/steward.yaml`,
      ]);
      assert.equal(blind.code, 2, blind.stderr);
      assert.match(blind.stderr, /--sha256 pins one backup: name it instead of latest/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
