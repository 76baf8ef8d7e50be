import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';
import { loadSpecFile, parseSpec } from './load.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function invalid(text: string, ...expected: RegExp[]): void {
  assert.throws(
    () => parseSpec(text, '/tmp/steward.yaml'),
    (error: unknown) => {
      assert.ok(error instanceof InputError, `not an InputError: ${String(error)}`);
      assert.equal(error.exitCode, 2);
      for (const pattern of expected) assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('cluster spec', () => {
  it('fills defaults for an empty spec', () => {
    const spec = parseSpec('', '/srv/x/steward.yaml');
    assert.equal(spec.name, 'etcd');
    assert.equal(spec.runtime, 'local');
    assert.equal(spec.members, 3);
    assert.equal(spec.dataDir, '/srv/x/.steward');
    assert.deepEqual(spec.ports, { client: 'auto', peer: 'auto' });
    assert.equal(spec.etcd.version, '3.6');
    assert.equal(spec.etcd.quotaBackendBytes, 2 * 2 ** 30);
    assert.equal(spec.etcd.maxRequestBytes, 1572864);
    assert.deepEqual(spec.etcd.autoCompaction, {
      mode: 'periodic',
      retention: '3600000ms',
      retentionMs: 3_600_000,
    });
    assert.ok(Object.isFrozen(spec.etcd), 'spec is frozen');
  });

  it('reads sizes, durations, versions and resolves paths against the spec folder', () => {
    const spec = parseSpec(
      [
        'name: meta-etcd',
        'members: 5',
        'dataDir: data',
        'ports: { client: 23790, peer: auto }',
        'etcd:',
        '  version: 3.5',
        '  quotaBackendBytes: 8GiB',
        '  maxRequestBytes: 10MiB',
        '  autoCompaction: { mode: revision, retention: 10000 }',
        '  electionTimeoutMs: 2000',
        'tls: { caFile: certs/ca.pem, certFile: certs/c.pem, keyFile: certs/c.key }',
        'auth: { user: root, passwordFile: secret/pw }',
      ].join('\n'),
      '/etc/steward/steward.yaml',
    );
    assert.equal(spec.name, 'meta-etcd');
    assert.equal(spec.members, 5);
    assert.equal(spec.dataDir, '/etc/steward/data');
    assert.equal(spec.ports.client, 23790);
    assert.equal(spec.etcd.version, '3.5');
    assert.equal(spec.etcd.quotaBackendBytes, 8 * 2 ** 30);
    assert.equal(spec.etcd.maxRequestBytes, 10 * 2 ** 20);
    assert.deepEqual(spec.etcd.autoCompaction, {
      mode: 'revision',
      retention: '10000',
      retentionMs: undefined,
    });
    assert.equal(spec.tls?.caFile, '/etc/steward/certs/ca.pem');
    assert.equal(spec.auth?.passwordFile, '/etc/steward/secret/pw');
    assert.equal(spec.auth?.passwordEnv, 'ETCD_STEWARD_PASSWORD');
  });

  it('accepts an external cluster with endpoints', () => {
    const spec = parseSpec(
      'runtime: external\nendpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]',
      undefined,
    );
    assert.deepEqual(spec.endpoints, ['https://10.0.0.1:2379', 'https://10.0.0.2:2379']);
  });

  it('names the field, the bad value and what is allowed', () => {
    invalid('members: 0', /members: must be at least 1 \(got 0\)/);
    invalid('members: three', /members: expected number \(got "three"\)/);
    invalid('runtime: docker', /runtime: got "docker"; allowed: "local", "external"/);
    invalid(
      'etcd: { version: "3.4" }',
      /etcd\.version: etcd 3\.4 is out of support; use one of 3\.5, 3\.6, 3\.7/,
    );
    invalid('etcd: { version: "4.0" }', /etcd\.version: '4\.0' is not a supported etcd line/);
    invalid('etcd: { quotaBackendBytes: 8 gigs }', /etcd\.quotaBackendBytes: '8 gigs' is not a size/);
    invalid(
      'etcd: { autoCompaction: { retention: soon } }',
      /etcd\.autoCompaction\.retention: 'soon' is not a duration/,
    );
    invalid(
      'etcd: { autoCompaction: { mode: revision, retention: 1h } }',
      /retention is a number of revisions/,
    );
    invalid(
      'etcd: { electionTimeoutMs: 200, heartbeatMs: 100 }',
      /etcd\.electionTimeoutMs: must be at least 5 × heartbeatMs \(500\)/,
    );
    invalid('memebers: 3', /\(top level\): unknown field 'memebers'/);
    invalid('name: My_Cluster', /name: must be lower-case letters, digits and dashes/);
    invalid('ports: { client: 70000 }', /ports\.client/);
    invalid('members: 12', /members: must be at most 9 \(got 12\)/);
    invalid('runtime: external', /endpoints: runtime 'external' needs the members' client URLs/);
    invalid('endpoints: [a:1]', /endpoints: runtime 'local' picks its own endpoints/);
    invalid(
      'auth: { user: root, password: hunter2 }',
      /auth\.password: passwords are not written in the spec/,
    );
    invalid('members: [', /not valid YAML/);
    invalid('- a\n- b', /must be a mapping/);
  });

  it('reads the backup section: storage resolved against the spec, cron checked, retention', () => {
    const spec = parseSpec(
      'backup: { storage: ./backups, schedule: "*/30 * * * *", retention: { keepLast: 2, maxAge: 7d }, compression: none }',
      '/srv/steward.yaml',
    );
    assert.equal(spec.backup?.storage, 'file:///srv/backups');
    assert.equal(spec.backup?.schedule, '*/30 * * * *');
    assert.deepEqual(spec.backup?.retention, { keepLast: 2, maxAge: '7d', maxAgeMs: 7 * 86_400_000 });
    assert.equal(spec.backup?.compression, 'none');
    const s3 = parseSpec(
      'backup: { storage: "s3://bucket/etcd?region=eu-west-1", s3: { accessKeyIdEnv: KEY_ID } }',
      '/srv/s.yaml',
    );
    assert.equal(s3.backup?.storage, 's3://bucket/etcd?region=eu-west-1');
    assert.equal(s3.backup?.compression, 'gzip');
    assert.deepEqual(s3.backup?.retention, { keepLast: 7, maxAge: undefined, maxAgeMs: undefined });
    invalid(
      'backup: { storage: /b, schedule: "every day" }',
      /backup\.schedule: 'every day' is not a cron expression .*write e\.g\. "\*\/30 \* \* \* \*"/,
    );
    invalid(
      'backup: { storage: /b, schedule: "*/61 * * * *" }',
      /backup\.schedule: .*steps cannot be greater/,
    );
    invalid(
      'backup: { storage: "ftp://host/x" }',
      /backup\.storage: 'ftp:\/\/host\/x' is not a storage this tool writes to/,
    );
    invalid('backup: { schedule: "0 * * * *" }', /backup\.storage: expected string/);
    invalid(
      'backup: { storage: /b, retention: { maxAge: forever } }',
      /backup\.retention\.maxAge: 'forever' is not a duration/,
    );
    invalid(
      'backup: { storage: /b, s3: { secretAccessKey: abc } }',
      /backup\.s3: unknown field 'secretAccessKey'/,
    );
  });

  it('never echoes a password it refuses', () => {
    assert.throws(
      () => parseSpec('auth: { user: root, password: hunter2 }', 's.yaml'),
      (e: Error) => !e.message.includes('hunter2'),
    );
  });

  it('says how to get a spec when the file is missing', async () => {
    await assert.rejects(
      loadSpecFile('/nonexistent/steward.yaml'),
      /spec file \/nonexistent\/steward\.yaml does not exist/,
    );
  });

  it('loads every spec shipped in the repository', async () => {
    const files = [
      'steward.yaml',
      ...(await readdir(path.join(root, 'examples'))).map((f) => path.join('examples', f)),
    ];
    for (const file of files.filter((f) => f.endsWith('.yaml'))) {
      const text = await readFile(path.join(root, file), 'utf8');
      assert.doesNotThrow(() => parseSpec(text, path.join(root, file)), file);
    }
  });
});
