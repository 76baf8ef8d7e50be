// Connecting with TLS (client certificates required) and user/password auth, on every supported
// line: from the spec, from etcdctl-style flags, from ETCDCTL_* variables, and every way it can
// be wrong (wrong CA, no client cert, missing file, mismatched key, no user, wrong password).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Cleanup, makeCerts, runCli, tempDir, testLines, upDetached, writeSpec } from '../testing/harness.js';

interface StatusJson {
  healthy: boolean;
  members: { endpoint: string; health: { ok: boolean; error: string | null } }[];
}

const cleanup = new Cleanup();
after(() => cleanup.run());

const PASSWORD = 's3cret-Pa55';

describe('TLS and authentication', { concurrency: true }, () => {
  for (const line of testLines()) {
    it(`etcd ${line}: a TLS + auth cluster is reachable only with the right settings`, async () => {
      const dir = await tempDir(cleanup, `tls-${line}`);
      const certs = await makeCerts(dir);
      const spec = await writeSpec(
        dir,
        {
          etcd: { version: line },
          tls: {
            caFile: certs.ca,
            certFile: certs.clientCert,
            keyFile: certs.clientKey,
            server: { certFile: certs.serverCert, keyFile: certs.serverKey, clientCertAuth: true },
          },
          auth: { user: 'root', passwordEnv: 'TEST_ROOT_PASSWORD' },
        },
        'cluster.yaml',
      ); // not steward.yaml: the commands below run in `dir` and must not pick it up
      const env = { TEST_ROOT_PASSWORD: PASSWORD };
      const up = await upDetached(cleanup, spec, env);
      assert.equal(up.mode, 'created');
      assert.ok(
        up.endpoints.every((e) => e.startsWith('https://127.0.0.1:')),
        up.endpoints.join(','),
      );
      const endpoints = up.endpoints.join(',');

      const status = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
        const r = await runCli(['status', '-o', 'json', ...args], { env: extraEnv, cwd: dir });
        assert.ok(
          !r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD),
          'the password never appears in output',
        );
        return r;
      };

      // From the spec: TLS files and the password from its environment variable.
      const fromSpec = await status(['--config', spec], env);
      assert.equal(fromSpec.code, 0, fromSpec.stdout + fromSpec.stderr);
      assert.equal(fromSpec.json<StatusJson>().healthy, true);

      // etcdctl's flags, with --user name:password.
      const tlsFlags = [
        '--endpoints',
        endpoints,
        '--cacert',
        certs.ca,
        '--cert',
        certs.clientCert,
        '--key',
        certs.clientKey,
      ];
      const fromFlags = await status([...tlsFlags, '--user', `root:${PASSWORD}`]);
      assert.equal(fromFlags.code, 0, fromFlags.stdout + fromFlags.stderr);

      // etcdctl's environment variables.
      const fromEnv = await status([], {
        ETCDCTL_ENDPOINTS: endpoints,
        ETCDCTL_CACERT: certs.ca,
        ETCDCTL_CERT: certs.clientCert,
        ETCDCTL_KEY: certs.clientKey,
        ETCDCTL_USER: 'root',
        ETCDCTL_PASSWORD: PASSWORD,
      });
      assert.equal(fromEnv.code, 0, fromEnv.stdout + fromEnv.stderr);
      assert.equal(fromEnv.json<StatusJson>().members.length, 3);

      // No user: with client-certificate auth etcd takes the user from the certificate's CN
      // (steward-client, which has no role): the read is refused with "permission denied", which
      // still proves the member serves consensus reads, so it counts as healthy (as in etcdctl).
      const noUser = await status(tlsFlags);
      assert.equal(noUser.code, 0, noUser.stdout + noUser.stderr);

      // Wrong password.
      const wrongPassword = await status([...tlsFlags, '--user', 'root', '--password', 'not-it']);
      assert.equal(wrongPassword.code, 1, wrongPassword.stderr);
      assert.match(wrongPassword.json<StatusJson>().members[0]?.health.error ?? '', /authentication failed/);

      // A CA that did not sign the members' certificate.
      const wrongCa = await status([
        '--endpoints',
        endpoints,
        '--cacert',
        certs.otherCa,
        '--cert',
        certs.clientCert,
        '--key',
        certs.clientKey,
        '--user',
        `root:${PASSWORD}`,
      ]);
      assert.equal(wrongCa.code, 1, wrongCa.stderr);
      assert.match(
        wrongCa.json<StatusJson>().members[0]?.health.error ?? '',
        /TLS handshake failed|certificate/i,
      );

      // ...unless verification is switched off on purpose.
      const skipVerify = await status([
        '--endpoints',
        endpoints,
        '--cacert',
        certs.otherCa,
        '--cert',
        certs.clientCert,
        '--key',
        certs.clientKey,
        '--insecure-skip-tls-verify',
        '--user',
        `root:${PASSWORD}`,
      ]);
      assert.equal(skipVerify.code, 0, skipVerify.stdout + skipVerify.stderr);

      // The members require a client certificate.
      const noClientCert = await status([
        '--endpoints',
        endpoints,
        '--cacert',
        certs.ca,
        '--user',
        `root:${PASSWORD}`,
      ]);
      assert.equal(noClientCert.code, 1, noClientCert.stderr);
      assert.equal(noClientCert.json<StatusJson>().healthy, false);

      // Plain http against TLS members fails with an error, not a hang.
      const plain = await status([
        '--endpoints',
        endpoints.replaceAll('https://', 'http://'),
        '--user',
        `root:${PASSWORD}`,
        '--dial-timeout',
        '1s',
      ]);
      assert.equal(plain.code, 1, plain.stderr);
    });
  }

  it('a password-only cluster refuses a caller without a user, and says what to pass', async () => {
    const line = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');
    const dir = await tempDir(cleanup, 'auth');
    await writeFile(path.join(dir, 'root.pw'), `${PASSWORD}\n`);
    const spec = await writeSpec(
      dir,
      { members: 1, etcd: { version: line }, auth: { user: 'root', passwordFile: 'root.pw' } },
      'cluster.yaml',
    );
    const up = await upDetached(cleanup, spec);
    assert.equal(up.status.healthy, true);
    const anonymous = await runCli(['status', '-o', 'json', '--endpoints', up.endpoints.join(',')], {
      cwd: dir,
    });
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.json<StatusJson>().members[0]?.health.error ?? '', /user name is empty/);
    const table = await runCli(['status', '--endpoints', up.endpoints.join(',')], { cwd: dir });
    assert.match(table.stdout, /UNHEALTHY: 1 of 1 members failing/);
    const withUser = await runCli(['status', '--endpoints', up.endpoints.join(',')], {
      cwd: dir,
      env: { ETCDCTL_USER: `root:${PASSWORD}` },
    });
    assert.equal(withUser.code, 0, withUser.stderr);
    const missingPassword = await runCli(
      ['status', '--endpoints', up.endpoints.join(','), '--user', 'root'],
      { cwd: dir },
    );
    assert.equal(missingPassword.code, 2);
    assert.match(missingPassword.stderr, /--user root was given without a password/);
  });

  it('names a missing or wrong TLS file before connecting (exit 2)', async () => {
    const dir = await tempDir(cleanup, 'tlsfiles');
    const certs = await makeCerts(dir);
    const endpoint = ['--endpoints', 'https://127.0.0.1:1'];
    const missing = await runCli(['status', ...endpoint, '--cacert', path.join(dir, 'nope.pem')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /error: --cacert .*nope\.pem: no such file/);

    const mismatched = await runCli([
      'status',
      ...endpoint,
      '--cacert',
      certs.ca,
      '--cert',
      certs.clientCert,
      '--key',
      certs.serverKey,
    ]);
    assert.equal(mismatched.code, 2);
    assert.match(mismatched.stderr, /error: --key .*server\.key does not belong to --cert .*client\.pem/);

    const notACert = await runCli(['status', ...endpoint, '--cacert', certs.clientKey]);
    assert.equal(notACert.code, 2);
    assert.match(notACert.stderr, /--cacert .*client\.key: not a PEM certificate/);

    const halfPair = await runCli(['status', ...endpoint, '--cert', certs.clientCert]);
    assert.equal(halfPair.code, 2);
    assert.match(halfPair.stderr, /needs both --cert and --key/);
  });
});
