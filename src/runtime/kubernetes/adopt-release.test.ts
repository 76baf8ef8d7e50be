/**
 * The pure parts of reading a Bitnami release: its reference, the chart values a live
 * StatefulSet implies (and what `import bitnami` makes of them), and the commands that remove
 * what is left of it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapBitnamiValues } from '../../config/import-bitnami.js';
import type { InputError } from '../../errors.js';
import {
  leftoverCommands,
  memberDnsUrls,
  parseReleaseRef,
  valuesFromStatefulSet,
  type BitnamiRelease,
} from './adopt-release.js';

const container = {
  name: 'etcd',
  image: 'docker.io/bitnami/etcd:3.6.4-debian-12-r1',
  env: [
    { name: 'ETCD_ROOT_PASSWORD', valueFrom: { secretKeyRef: { name: 'etcd', key: 'etcd-root-password' } } },
    { name: 'ETCD_AUTO_COMPACTION_MODE', value: 'periodic' },
    { name: 'ETCD_AUTO_COMPACTION_RETENTION', value: '1h' },
    { name: 'ETCD_QUOTA_BACKEND_BYTES', value: '8589934592' },
    { name: 'ETCD_SNAPSHOT_COUNT', value: '10000' },
    { name: 'ETCD_INITIAL_CLUSTER_TOKEN', value: 'etcd-cluster-k8s' },
  ],
  resources: { requests: { cpu: '2', memory: '8Gi' } },
};
const sts = {
  spec: {
    replicas: 3,
    volumeClaimTemplates: [
      {
        metadata: { name: 'data' },
        spec: { storageClassName: 'fast', resources: { requests: { storage: '8Gi' } } },
      },
    ],
  },
};

function release(objects: BitnamiRelease['objects']): BitnamiRelease {
  return {
    release: 'etcd',
    namespace: 'etcd-cluster',
    fullname: 'etcd',
    headlessService: 'etcd-headless',
    replicas: 3,
    image: container.image,
    clientScheme: 'http',
    memberNames: ['etcd-0', 'etcd-1', 'etcd-2'],
    auth: undefined,
    values: {},
    objects,
  };
}
const object = (kind: string, name: string) => ({ apiVersion: 'v1', kind, name, resourceVersion: '1' });

describe('adopt: a Bitnami release read back', () => {
  it('parses RELEASE and RELEASE.NAMESPACE, and refuses anything else with the way to find it', () => {
    assert.deepEqual(parseReleaseRef('etcd'), { release: 'etcd', namespace: 'default' });
    assert.deepEqual(parseReleaseRef('etcd.etcd-cluster'), { release: 'etcd', namespace: 'etcd-cluster' });
    assert.throws(() => parseReleaseRef('Etcd'), /not a Helm release reference/);
    assert.throws(
      () => parseReleaseRef('a.b.c'),
      (error: InputError) => /helm list -A/.test(error.hint ?? ''),
    );
  });

  it('reads the chart values back from the StatefulSet, and import bitnami maps them', () => {
    const values = valuesFromStatefulSet(sts, container, true);
    assert.deepEqual(values, {
      replicaCount: 3,
      image: { tag: '3.6.4-debian-12-r1' },
      auth: { rbac: { create: true } },
      persistence: { size: '8Gi', storageClass: 'fast' },
      resources: { requests: { cpu: '2', memory: '8Gi' } },
      autoCompactionMode: 'periodic',
      autoCompactionRetention: '1h',
      extraEnvVars: [
        { name: 'ETCD_QUOTA_BACKEND_BYTES', value: '8589934592' },
        { name: 'ETCD_SNAPSHOT_COUNT', value: '10000' },
      ],
    });
    const { spec } = mapBitnamiValues(values);
    assert.equal(spec['members'], 3);
    assert.deepEqual(spec['etcd'], {
      version: '3.6',
      autoCompaction: { mode: 'periodic', retention: '1h' },
      quotaBackendBytes: 8589934592,
      snapshotCount: 10000,
    });
    assert.deepEqual(spec['auth'], { user: 'root', passwordEnv: 'ETCD_ROOT_PASSWORD' });
  });

  it('leftovers: helm uninstall when Helm installed it, and the member claims Helm keeps', () => {
    const helm = release([
      object('StatefulSet', 'etcd'),
      object('Secret', 'sh.helm.release.v1.etcd.v3'),
      object('PersistentVolumeClaim', 'data-etcd-0'),
      object('PersistentVolumeClaim', 'data-etcd-1'),
      object('PersistentVolumeClaim', 'etcd-snapshotter'),
    ]);
    assert.deepEqual(leftoverCommands(helm), [
      'helm uninstall etcd -n etcd-cluster',
      'kubectl -n etcd-cluster delete pvc data-etcd-0 data-etcd-1',
      "kubectl -n etcd-cluster delete pvc etcd-snapshotter   # the chart's snapshot volume: only once you no longer need its old snapshots",
    ]);
  });

  it('leftovers: kubectl delete of each object when no Helm release Secret exists (helm template | kubectl apply)', () => {
    const plain = release([
      object('StatefulSet', 'etcd'),
      object('Service', 'etcd'),
      object('Service', 'etcd-headless'),
    ]);
    assert.deepEqual(leftoverCommands(plain), [
      'kubectl -n etcd-cluster delete statefulset/etcd service/etcd service/etcd-headless',
    ]);
  });

  it('names the members by their headless Service DNS names', () => {
    assert.deepEqual(memberDnsUrls(release([])), [
      'http://etcd-0.etcd-headless.etcd-cluster.svc.cluster.local:2379',
      'http://etcd-1.etcd-headless.etcd-cluster.svc.cluster.local:2379',
      'http://etcd-2.etcd-headless.etcd-cluster.svc.cluster.local:2379',
    ]);
  });
});
