/**
 * `etcd-steward certs` end to end: the files and their modes, no overwrite without --force,
 * renewal under the same CA; real etcd members (every supported line) serving peers and clients
 * with the certificates it made; GreptimeDB's path (server TLS + password, no client certificate)
 * with our client and with etcdctl; a client without a certificate refused when one is required;
 * and the agent's expiry gauge carrying each certificate's notAfter.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { clusterTarget, type GlobalOptions } from '../../cli/context.js';
import { startAgentFor } from '../../cli/commands/serve.js';
import { createLogger } from '../../server/logger.js';
import {
  Cleanup,
  binariesFor,
  etcdctl,
  runCli,
  tempDir,
  testLines,
  upDetached,
  writeSpec,
} from '../../testing/harness.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const PASSWORD = 'gr3ptime-Pa55';

interface CertsJson {
  files: { role: string; certFile: string; keyFile: string; notAfter: string; names: string[] }[];
}

async function certs(dir: string, ...args: string[]) {
  return runCli(['certs', '--out', path.join(dir, 'certs'), '-o', 'json', ...args], { cwd: dir });
}

/** `status -o json` against the endpoints, with only the flags given. */
function status(endpoints: readonly string[], ...flags: string[]) {
  return runCli(['status', '-o', 'json', '--endpoints', endpoints.join(','), ...flags]);
}

function files(dir: string) {
  const f = (name: string) => path.join(dir, 'certs', name);
  return {
    ca: f('ca.crt'),
    server: { cert: f('server.crt'), key: f('server.key') },
    peer: { cert: f('peer.crt'), key: f('peer.key') },
    client: { cert: f('client.crt'), key: f('client.key') },
  };
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    return `${e.stderr ?? ''} ${e.message}`;
  }
  assert.fail('expected a refusal');
}

describe('etcd-steward certs', { concurrency: true }, () => {
  it('writes a CA, member and client certificates (keys 0600) and never replaces them without --force', async () => {
    const dir = await tempDir(cleanup, 'certs-files');
    const made = await certs(dir, '--host', 'etcd.example.com', '--host', '10.1.2.3', '--days', '30');
    assert.equal(made.code, 0, made.stderr);
    const result = made.json<CertsJson>();
    assert.deepEqual(
      result.files.map((f) => f.role),
      ['ca', 'server', 'peer', 'client'],
    );
    const f = files(dir);
    const ca = new X509Certificate(await readFile(f.ca));
    assert.equal(ca.ca, true);
    for (const [role, pair] of Object.entries({ server: f.server, peer: f.peer, client: f.client })) {
      const cert = new X509Certificate(await readFile(pair.cert));
      assert.ok(cert.verify(ca.publicKey), `${role} is signed by the CA`);
      assert.ok(cert.checkIssued(ca), `${role} names the CA as issuer`);
      assert.equal((await stat(pair.key)).mode & 0o777, 0o600, `${role}.key is 0600`);
      const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
      assert.ok(days > 29 && days <= 30, `${role}: --days 30 (${days})`);
    }
    assert.equal((await stat(path.join(dir, 'certs', 'ca.key'))).mode & 0o777, 0o600);
    const server = new X509Certificate(await readFile(f.server.cert));
    for (const name of [
      'DNS:localhost',
      'IP Address:127.0.0.1',
      'DNS:etcd.example.com',
      'IP Address:10.1.2.3',
    ]) {
      assert.ok(server.subjectAltName?.includes(name), `${name} in ${server.subjectAltName ?? ''}`);
    }
    assert.match(server.toLegacyObject().ext_key_usage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.1/);
    const client = new X509Certificate(await readFile(f.client.cert));
    assert.equal(client.subject, 'CN=etcd-steward');
    assert.equal(client.subjectAltName, undefined);

    // A second run refuses, names the files, and changes nothing.
    const before = await readFile(f.server.key, 'utf8');
    const again = await certs(dir);
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, /already holds ca\.crt, ca\.key, server\.crt/);
    assert.match(again.stderr, /--force/);
    assert.equal(await readFile(f.server.key, 'utf8'), before);

    // Renewal under the same CA: new leaves, the CA untouched, the old CA still verifies them.
    const renewed = await certs(dir, '--reuse-ca', '--force');
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.notEqual(await readFile(f.server.key, 'utf8'), before);
    assert.equal(new X509Certificate(await readFile(f.ca)).fingerprint256, ca.fingerprint256);
    assert.ok(new X509Certificate(await readFile(f.server.cert)).verify(ca.publicKey));

    // --force makes a new CA.
    const forced = await certs(dir, '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(new X509Certificate(await readFile(f.ca)).fingerprint256, ca.fingerprint256);
    assert.equal((await stat(f.server.key)).mode & 0o777, 0o600, 'still 0600 after replacing');

    const badDays = await runCli(['certs', '--out', path.join(dir, 'x'), '--days', '0'], { cwd: dir });
    assert.equal(badDays.code, 2);
    assert.match(badDays.stderr, /--days 0/);
  });

  for (const line of testLines()) {
    it(`etcd ${line}: members serve peers and clients with them; without a client certificate a client is refused`, async () => {
      const dir = await tempDir(cleanup, `certs-mtls-${line}`);
      assert.equal((await certs(dir)).code, 0);
      const f = files(dir);
      const spec = await writeSpec(
        dir,
        {
          etcd: { version: line },
          tls: {
            caFile: f.ca,
            certFile: f.client.cert,
            keyFile: f.client.key,
            server: { certFile: f.server.cert, keyFile: f.server.key, clientCertAuth: true },
            peer: { certFile: f.peer.cert, keyFile: f.peer.key, caFile: f.ca, clientCertAuth: true },
          },
        },
        'cluster.yaml',
      );
      const up = await upDetached(cleanup, spec);
      assert.equal(up.status.healthy, true);
      assert.equal(up.status.members.length, 3);
      const binaries = await binariesFor(line);
      const withCert = ['--cacert', f.ca, '--cert', f.client.cert, '--key', f.client.key];
      // The members found each other over https (peer TLS with the peer certificates).
      const members = await etcdctl(binaries, up.endpoints, [...withCert, 'member', 'list', '-w', 'json']);
      const peerUrls = (JSON.parse(members) as { members: { peerURLs: string[] }[] }).members.flatMap(
        (m) => m.peerURLs,
      );
      assert.equal(peerUrls.length, 3);
      assert.ok(
        peerUrls.every((u) => u.startsWith('https://127.0.0.1:')),
        peerUrls.join(','),
      );
      await etcdctl(binaries, up.endpoints, [...withCert, 'put', '/greptime/k', 'v']);
      assert.match(await etcdctl(binaries, up.endpoints, [...withCert, 'get', '/greptime/k']), /v\n$/);

      // Our client and etcdctl without a certificate are refused by the TLS handshake.
      const noCert = await status(up.endpoints, '--cacert', f.ca, '--dial-timeout', '3s');
      assert.equal(noCert.code, 1, noCert.stderr);
      assert.equal(noCert.json<{ healthy: boolean }>().healthy, false);
      const refused = await rejection(
        etcdctl(binaries, up.endpoints, [
          '--cacert',
          f.ca,
          '--dial-timeout',
          '3s',
          '--command-timeout',
          '5s',
          'get',
          '/greptime/k',
        ]),
      );
      assert.match(refused, /certificate|handshake|deadline|context/i);
    });

    it(`etcd ${line}: GreptimeDB's path — server TLS and a password, no client certificate`, async () => {
      const dir = await tempDir(cleanup, `certs-greptime-${line}`);
      assert.equal((await certs(dir)).code, 0);
      const f = files(dir);
      const spec = await writeSpec(
        dir,
        {
          members: 1,
          etcd: { version: line },
          tls: {
            caFile: f.ca,
            server: { certFile: f.server.cert, keyFile: f.server.key, clientCertAuth: false },
          },
          auth: { user: 'root', passwordEnv: 'TEST_ROOT_PASSWORD' },
          monitoring: { listen: '127.0.0.1:0' },
        },
        'cluster.yaml',
      );
      const env = { TEST_ROOT_PASSWORD: PASSWORD };
      const up = await upDetached(cleanup, spec, env);
      assert.equal(up.status.healthy, true);
      assert.ok(up.endpoints.every((e) => e.startsWith('https://')));

      // Our client: the CA and the password, no certificate.
      const ours = await status(up.endpoints, '--cacert', f.ca, '--user', `root:${PASSWORD}`);
      assert.equal(ours.code, 0, ours.stdout + ours.stderr);
      assert.equal(ours.json<{ healthy: boolean }>().healthy, true);

      // etcdctl as GreptimeDB's metasrv connects: --cacert and --user.
      const binaries = await binariesFor(line);
      const greptime = ['--cacert', f.ca, '--user', `root:${PASSWORD}`];
      await etcdctl(binaries, up.endpoints, [...greptime, 'put', '/greptime/catalog', 'c1']);
      assert.match(await etcdctl(binaries, up.endpoints, [...greptime, 'get', '/greptime/catalog']), /c1\n$/);

      // No user: refused by auth, even with a certificate signed by the CA (a certificate is no login here).
      const anonymous = await rejection(
        etcdctl(binaries, up.endpoints, ['--cacert', f.ca, 'get', '/greptime/catalog']),
      );
      assert.match(anonymous, /user name is empty|authentication|permission denied/i);
      const certOnly = await rejection(
        etcdctl(binaries, up.endpoints, [
          '--cacert',
          f.ca,
          '--cert',
          f.client.cert,
          '--key',
          f.client.key,
          'get',
          '/greptime/catalog',
        ]),
      );
      assert.match(certOnly, /user name is empty|authentication|permission denied/i);
      // Wrong CA: the server certificate is not trusted.
      const otherDir = await tempDir(cleanup, `certs-other-${line}`);
      assert.equal((await certs(otherDir)).code, 0);
      const wrongCa = await rejection(
        etcdctl(binaries, up.endpoints, [
          '--cacert',
          files(otherDir).ca,
          '--user',
          `root:${PASSWORD}`,
          '--dial-timeout',
          '3s',
          '--command-timeout',
          '5s',
          'get',
          'x',
        ]),
      );
      assert.match(wrongCa, /certificate|authority|deadline|context/i);

      // The agent exports the CA's expiry, read from the file the spec names.
      const saved = process.env['TEST_ROOT_PASSWORD'];
      process.env['TEST_ROOT_PASSWORD'] = PASSWORD;
      try {
        const options: GlobalOptions = { config: spec, output: 'json' };
        const quiet = createLogger({ destination: new Writable({ write: (_c, _e, cb) => cb() }) });
        const agent = await startAgentFor(options, await clusterTarget(options), quiet);
        cleanup.add(() => agent.close());
        const text = await (await fetch(`${agent.url}/metrics`)).text();
        const ca = new X509Certificate(await readFile(f.ca));
        const expected = Date.parse(ca.validTo) / 1000;
        const sample = text
          .split('\n')
          .find(
            (l) =>
              l.startsWith('etcd_steward_tls_cert_expiry_timestamp_seconds{') && l.includes(`file="${f.ca}"`),
          );
        assert.ok(
          sample,
          text
            .split('\n')
            .filter((l) => l.includes('tls_cert'))
            .join('\n'),
        );
        assert.match(sample, /subject="CN=etcd-steward CA for etcd"/);
        assert.equal(Number(sample.split(' ').at(-1)), expected);
        // A renewed file shows at the next scrape.
        assert.equal((await certs(dir, '--force', '--ca-days', '400')).code, 0);
        const renewed = await (await fetch(`${agent.url}/metrics`)).text();
        const next = Date.parse(new X509Certificate(await readFile(f.ca)).validTo) / 1000;
        assert.ok(next < expected, 'the new CA expires sooner (400 days)');
        assert.ok(renewed.includes(`file="${f.ca}"`) && renewed.includes(` ${next}\n`), renewed);
      } finally {
        if (saved === undefined) delete process.env['TEST_ROOT_PASSWORD'];
        else process.env['TEST_ROOT_PASSWORD'] = saved;
      }
      // The alert rule's threshold (30 days) in the rendered rules.
      const rules = await runCli(['render', 'alerts', '-o', 'json'], { cwd: dir });
      assert.match(
        rules.stdout,
        /etcd_steward_tls_cert_expiry_timestamp_seconds\{[^}]*\} - time\(\) < 2592000/,
      );
    });
  }
});
