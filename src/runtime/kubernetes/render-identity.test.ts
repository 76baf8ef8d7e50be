// Encrypted backups on Kubernetes: the identity Secret is mounted into the restore init
// container only (never the etcd container, never the agent); nothing without encryption.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSpec } from '../../config/load.js';
import { renderKubernetes } from './render.js';
import { renderRestore } from './render-restore.js';
import { validateObject } from './render-schemas.js';
import type { KubeObject } from './render-types.js';

interface Container {
  name: string;
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Pod {
  initContainers?: Container[];
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string } }[];
}
const podOf = (object: KubeObject) =>
  (object['spec'] as { template?: { spec: Pod } } | undefined)?.template?.spec;

const RECIPIENT = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';

describe('encrypted backups on Kubernetes (rendering)', () => {
  it('restore: the identity Secret in the init container only; the agent never gets it', () => {
    const spec = parseSpec(
      `runtime: kubernetes\nbackup: { storage: /backups, encryption: { recipients: [${RECIPIENT}] } }\nkubernetes: { backup: { pvc: { existingClaim: nfs-backups }, identitySecret: etcd-age } }\n`,
      undefined,
    );
    const objects = renderRestore(spec, {
      backup: 'etcd-20261206T000000Z',
      sha256: 'ab'.repeat(32),
      newClusterName: 'etcd-recover',
    });
    for (const object of objects) validateObject(object);
    const pod = podOf(objects.find((o) => o.kind === 'StatefulSet') as KubeObject) as Pod;
    assert.deepEqual(
      pod.volumes?.filter((v) => v.secret?.secretName === 'etcd-age').map((v) => v.name),
      ['backup-identity'],
    );
    const init = pod.initContainers?.[0] as Container;
    assert.ok(init.volumeMounts?.some((m) => m.name === 'backup-identity' && m.readOnly === true));
    assert.deepEqual(
      init.env?.find((e) => e.name === 'ETCD_STEWARD_AGE_IDENTITY_FILE')?.value,
      '/etc/etcd-steward/age/identity',
    );
    for (const c of pod.containers)
      assert.equal(c.volumeMounts?.some((m) => m.name === 'backup-identity') ?? false, false, c.name);
    // The cluster's own manifests (agent, CronJobs, etcd) never mention the identity.
    const rendered = JSON.stringify(renderKubernetes(spec));
    assert.equal(rendered.includes('etcd-age'), false);
    assert.equal(rendered.includes('ETCD_STEWARD_AGE_IDENTITY'), false);
    assert.ok(rendered.includes(RECIPIENT) || !rendered.includes('recipients'), 'public keys only');
  });

  it('without encryption: no identity volume', () => {
    const spec = parseSpec(
      'runtime: kubernetes\nbackup: { storage: /backups }\nkubernetes: { backup: { pvc: { existingClaim: nfs-backups } } }\n',
      undefined,
    );
    const pod = podOf(
      renderRestore(spec, {
        backup: 'etcd-20261206T000000Z',
        sha256: 'ab'.repeat(32),
        newClusterName: 'etcd-recover',
      }).find((o) => o.kind === 'StatefulSet') as KubeObject,
    ) as Pod;
    assert.equal(pod.volumes?.some((v) => v.name === 'backup-identity') ?? false, false);
  });
});
