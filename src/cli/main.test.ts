// The CLI contract: exit codes, usage errors, JSON-only stdout, and status of unreachable members.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { Cleanup, runCli, tempDir } from '../testing/harness.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

describe('command line', () => {
  it('exits 2 on an unknown flag or command, with a suggestion', async () => {
    const flag = await runCli(['status', '--endpoint', 'x:1']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /unknown option '--endpoint'/);
    assert.match(flag.stderr, /Did you mean --endpoints\?/);
    const command = await runCli(['stauts']);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /unknown command 'stauts'/);
    const output = await runCli(['status', '-o', 'yaml']);
    assert.equal(output.code, 2);
    assert.match(output.stderr, /'yaml' is invalid\. Allowed choices are table, wide, json/);
  });

  it('prints help and version with exit 0', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    for (const command of ['up', 'down', 'status', 'install-etcd'])
      assert.match(help.stdout, new RegExp(`\\n  ${command}`));
    const version = await runCli(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  });

  it('says how to point it at a cluster when there is neither a spec nor endpoints', async () => {
    const dir = await tempDir(cleanup, 'nospec');
    const result = await runCli(['status'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /no cluster spec: \.\/steward\.yaml does not exist and --config was not given/,
    );
    assert.match(result.stderr, /hint: pass --config FILE/);
  });

  it('rejects a malformed endpoint and timeout with exit 2', async () => {
    const endpoint = await runCli(['status', '--endpoints', 'http://host/path']);
    assert.equal(endpoint.code, 2);
    assert.match(endpoint.stderr, /endpoint 'http:\/\/host\/path' is not host:port/);
    const timeout = await runCli(['status', '--endpoints', '127.0.0.1:1', '--dial-timeout', 'soon']);
    assert.equal(timeout.code, 2);
    assert.match(timeout.stderr, /--dial-timeout: 'soon' is not a duration/);
  });

  it('reports an unreachable member as a row, exit 1, JSON only on stdout', async () => {
    // A port that was free a moment ago: nothing listens there.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const result = await runCli(['status', '--endpoints', `127.0.0.1:${port}`, '-o', 'json']);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, '');
    const status = result.json<{ healthy: boolean; members: Record<string, unknown>[] }>();
    assert.equal(status.healthy, false);
    const row = status.members[0] as {
      endpoint: string;
      id: null;
      health: { ok: boolean; error: string };
      errors: string[];
    };
    assert.equal(row.endpoint, `127.0.0.1:${port}`);
    assert.equal(row.id, null, 'fields stay present as null');
    assert.equal(row.health.ok, false);
    assert.equal(row.health.error, `unreachable: connect ECONNREFUSED 127.0.0.1:${port}`);
    assert.deepEqual(row.errors, [row.health.error]);
  });

  it('answers within the deadline when a member accepts connections but never speaks', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket)); // accepts, says nothing: a hung member
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanup.add(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });
    const port = (silent.address() as net.AddressInfo).port;
    const started = Date.now();
    const result = await runCli([
      'status',
      '--endpoints',
      `127.0.0.1:${port}`,
      '--dial-timeout',
      '500ms',
      '--command-timeout',
      '500ms',
      '-o',
      'json',
    ]);
    assert.equal(result.code, 1);
    assert.ok(Date.now() - started < 20_000, 'does not hang');
    const row = result.json<{ members: { health: { error: string } }[] }>().members[0];
    assert.match(row?.health.error ?? '', /no answer within 1000 ms|unreachable/);
  });
});
