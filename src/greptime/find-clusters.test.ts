/** How GreptimeDB's etcd endpoints are matched to an etcd's Services and pods. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { namesEtcd } from './find-clusters.js';

const etcd = {
  namespace: 'etcd-cluster',
  services: ['etcd', 'etcd-headless'],
  members: ['etcd-0', 'etcd-1', 'etcd-2'],
  headless: 'etcd-headless',
};

describe('namesEtcd', () => {
  it('matches the Services and member pods with or without scheme, port, namespace and domain', () => {
    for (const endpoint of [
      'etcd.etcd-cluster.svc.cluster.local:2379',
      'etcd.etcd-cluster:2379',
      'http://etcd-headless.etcd-cluster.svc:2379',
      'etcd-1.etcd-headless.etcd-cluster.svc.cluster.local:2379',
      'https://etcd-0.etcd-headless.etcd-cluster:2379',
    ])
      assert.ok(namesEtcd(endpoint, 'greptimedb', etcd), endpoint);
    assert.ok(namesEtcd('etcd:2379', 'etcd-cluster', etcd), 'a short name from the same namespace');
  });

  it('does not match another namespace, another Service or a short name from elsewhere', () => {
    for (const endpoint of [
      'etcd.other.svc.cluster.local:2379',
      'etcd-steward.etcd-cluster.svc.cluster.local:2379',
      'etcd-3.etcd-headless.etcd-cluster:2379',
      'etcd-0.other-headless.etcd-cluster:2379',
      'etcd:2379',
    ])
      assert.ok(!namesEtcd(endpoint, 'greptimedb', etcd), endpoint);
  });
});
