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

describe('restore on Kubernetes (rendering)', () => {
  it('from a file backup on the PVC: a new cluster whose init containers restore each member', () => {
    const spec = parseSpec(
      'runtime: kubernetes\nbackup: { storage: /backups }\nkubernetes: { namespace: etcd-cluster, backup: { pvc: { existingClaim: nfs-backups } } }\n',
      undefined,
    );
    const objects = renderRestore(spec, { backup: 'latest', newClusterName: 'etcd-recover' });
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
    assert.equal(init.args[0], 'restore-member');
    assert.equal(init.args[1], 'latest');
    assert.equal(arg(init.args, '--storage'), 'file:///backups');
    assert.equal(arg(init.args, '--etcdutl'), '/usr/local/bin/etcdutl');
    assert.equal(arg(init.args, '--data-dir'), '/var/lib/etcd/data');
    assert.match(
      arg(init.args, '--initial-cluster') ?? '',
      /^etcd-recover-0=http:\/\/etcd-recover-0\.etcd-recover-headless\.etcd-cluster\.svc\.cluster\.local:2380,/,
    );
    // The member starts with the same token its data dir was built with.
    const etcdArgs = p.containers[0]?.args ?? [];
    assert.ok(etcdArgs.includes(`--initial-cluster-token=${arg(init.args, '--initial-cluster-token')}`));
    assert.ok(p.volumes.some((v) => v.persistentVolumeClaim?.claimName === 'nfs-backups'));
    assert.ok(init.volumeMounts.some((m) => m.name === 'data' && m.mountPath === '/var/lib/etcd'));
  });

  it('from an S3 backup: the credentials Secret by reference, no volume', () => {
    const spec = parseSpec(
      'runtime: kubernetes\nbackup: { storage: "s3://etcd-backups/prod?region=eu-west-1" }\nkubernetes: { backup: { s3CredentialsSecret: s3-creds } }\n',
      undefined,
    );
    const objects = renderRestore(spec, { backup: 'etcd-20261204T120000Z', newClusterName: 'etcd-recover' });
    for (const object of objects) validateObject(object);
    const init = pod(objects).initContainers[0];
    assert.equal(arg(init?.args ?? [], '--storage'), 's3://etcd-backups/prod?region=eu-west-1');
    assert.deepEqual(init?.envFrom, [{ secretRef: { name: 's3-creds' } }]);
    assert.throws(
      () => renderRestore(spec, { backup: 'x', newClusterName: 'etcd' }),
      /the spec's own cluster/,
    );
  });

  it('`restore --runtime kubernetes --new-cluster NAME` prints the manifests', async () => {
    const { writeFile, mkdtemp, rm } = await import('node:fs/promises');
    const { TEST_TMP_PREFIX } = await import('../../testing/harness.js');
    const dir = await mkdtemp(`${TEST_TMP_PREFIX}restore-k8s-`);
    try {
      await writeFile(`${dir}/steward.yaml`, 'runtime: kubernetes\nbackup: { storage: "s3://b/p" }\n');
      const result = await runCli([
        'restore',
        'latest',
        '--runtime',
        'kubernetes',
        '--new-cluster',
        'etcd-recover',
        '--config',
        `${dir}/steward.yaml`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /kind: StatefulSet\n/);
      assert.match(result.stdout, /- restore-member\n/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
