import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { etcdConfig, etcdConfigYaml, flagValue, goDurationNanos } from './etcd-config-file.js';

describe("etcd flags as etcd's config file", () => {
  it('keeps strings, types numbers and booleans, nests TLS, lists lists, turns durations into nanoseconds', () => {
    const flags = [
      '--name=etcd-0',
      '--initial-cluster-token=12345',
      '--auto-compaction-retention=1h',
      '--quota-backend-bytes=8589934592',
      '--election-timeout=2000',
      '--unsafe-no-fsync',
      '--strict-reconfig-check=false',
      '--log-outputs=stderr,/var/log/etcd.log',
      '--cert-file=/tls/tls.crt',
      '--client-cert-auth',
      '--peer-key-file=/peer/tls.key',
      '--peer-client-cert-auth',
      '--experimental-watch-progress-notify-interval=10m',
      '--feature-gates=StopGRPCServiceOnDefrag=true',
      '--snapshot-count',
      '10000',
    ];
    assert.deepEqual(etcdConfig(flags, { 'initial-cluster-state': 'existing' }), {
      name: 'etcd-0',
      'initial-cluster-token': '12345',
      'auto-compaction-retention': '1h',
      'quota-backend-bytes': 8589934592,
      'election-timeout': 2000,
      'unsafe-no-fsync': true,
      'strict-reconfig-check': false,
      'log-outputs': ['stderr', '/var/log/etcd.log'],
      'experimental-watch-progress-notify-interval': 600e9,
      'feature-gates': 'StopGRPCServiceOnDefrag=true',
      'snapshot-count': 10000,
      'initial-cluster-state': 'existing',
      'client-transport-security': { 'cert-file': '/tls/tls.crt', 'client-cert-auth': true },
      'peer-transport-security': { 'key-file': '/peer/tls.key', 'client-cert-auth': true },
    });
    assert.equal(
      (parse(etcdConfigYaml(['--name=a'], { 'initial-cluster-state': 'new' })) as Record<string, unknown>)[
        'initial-cluster-state'
      ],
      'new',
    );
    assert.equal(flagValue(flags, 'name'), 'etcd-0');
    assert.equal(goDurationNanos('1h30m'), 5400e9);
    assert.equal(goDurationNanos('250ms'), 250e6);
  });
});
