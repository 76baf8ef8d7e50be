// The local runtime through the real CLI, on every supported etcd line: up → status → down,
// restart with data kept, a killed member, and the refusals (port in use, member that dies on
// start, data without state).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  CLI,
  Cleanup,
  binariesFor,
  killRecordedMembers,
  scrubbedEnv,
  etcdctl,
  runCli,
  tempDir,
  testLines,
  upDetached,
  type UpJson,
  writeSpec,
} from '../../testing/harness.js';

interface StatusJson {
  healthy: boolean;
  clusterId: string;
  leaderId: string | null;
  members: {
    endpoint: string;
    name: string | null;
    id: string | null;
    version: string | null;
    isLeader: boolean | null;
    dbSize: number | null;
    dbSizeInUse: number | null;
    fragmentationPercent: number | null;
    quota: number;
    quotaSource: string;
    quotaUsePercent: number | null;
    raftIndex: number | null;
    raftAppliedIndex: number | null;
    alarms: string[];
    errors: string[];
    health: { ok: boolean; error: string | null };
  }[];
}

const cleanup = new Cleanup();
after(() => cleanup.run());

describe('local cluster lifecycle', { concurrency: true }, () => {
  for (const line of testLines()) {
    it(`etcd ${line}: up, status, down, restart with data, a killed member, purge`, async () => {
      const binaries = await binariesFor(line);
      const dir = await tempDir(cleanup, `life-${line}`);
      const spec = await writeSpec(dir, { etcd: { version: line, quotaBackendBytes: '64MiB' } });

      const up = await upDetached(cleanup, spec);
      assert.equal(up.mode, 'created');
      assert.equal(up.endpoints.length, 3);
      assert.equal(up.status.healthy, true);
      assert.deepEqual(
        up.status.members.map((m) => m.name),
        ['etcd-0', 'etcd-1', 'etcd-2'],
      );

      const first = await runCli(['--config', spec, 'status', '-o', 'json']);
      assert.equal(first.code, 0, first.stderr);
      const status = first.json<StatusJson>();
      assert.equal(status.healthy, true);
      assert.equal(status.members.length, 3);
      assert.deepEqual(
        status.members.map((m) => m.name),
        ['etcd-0', 'etcd-1', 'etcd-2'],
      );
      assert.equal(status.members.filter((m) => m.isLeader).length, 1, 'exactly one leader');
      for (const m of status.members) {
        assert.ok(m.version?.startsWith(`${line}.`), `member runs etcd ${line}: ${String(m.version)}`);
        assert.equal(m.health.ok, true);
        assert.ok((m.dbSize ?? 0) > 0 && (m.dbSizeInUse ?? 0) > 0 && (m.dbSizeInUse ?? 0) <= (m.dbSize ?? 0));
        assert.equal(typeof m.fragmentationPercent, 'number');
        assert.equal(m.quota, 64 * 2 ** 20);
        // etcd 3.6+ reports its quota itself; 3.5 does not, so the spec's value stands in.
        assert.equal(m.quotaSource, line === '3.5' ? 'spec' : 'member');
        assert.ok((m.raftAppliedIndex ?? 0) > 0);
        assert.deepEqual(m.alarms, []);
      }

      // The table says the same in columns: compact by default, every column with -o wide.
      const table = await runCli(['--config', spec, 'status']);
      assert.equal(table.code, 0);
      assert.match(table.stdout, /NAME.*VERSION.*DB SIZE.*IN USE.*QUOTA USE.*LEADER.*HEALTH.*ALARMS/);
      assert.match(table.stdout, /healthy, 3 members, leader [0-9a-f]+ \(etcd-\d\)/);
      const wide = await runCli(['--config', spec, 'status', '-o', 'wide']);
      assert.equal(wide.code, 0);
      assert.match(
        wide.stdout,
        /NAME.*ENDPOINT.*ID.*VERSION.*DB SIZE.*IN USE.*FRAG.*QUOTA USE.*QUOTA.*LEADER.*LEARNER.*TERM.*INDEX.*APPLIED.*HEALTH.*ALARMS.*ERRORS/,
      );

      // The defrag-aware gRPC health option is on, in the form this line understands.
      const { members: recorded } = JSON.parse(
        await readFile(path.join(dir, 'data', 'state.json'), 'utf8'),
      ) as { members: { pid: number }[] };
      const cmdline = await readFile(`/proc/${recorded[0]?.pid ?? 0}/cmdline`, 'utf8');
      assert.ok(
        cmdline.includes(
          line === '3.5'
            ? '--experimental-stop-grpc-service-on-defrag'
            : '--feature-gates=StopGRPCServiceOnDefrag=true',
        ),
        cmdline,
      );

      // up on a running cluster changes nothing.
      const again = await runCli(['--config', spec, 'up', '-o', 'json']);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.json<{ mode: string }>().mode, 'running');

      await etcdctl(binaries, up.endpoints, ['put', '/steward/test', `line-${line}`]);

      const down = await runCli(['--config', spec, 'down', '-o', 'json']);
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(
        down.json<{ members: { outcome: string }[] }>().members.map((m) => m.outcome),
        ['stopped', 'stopped', 'stopped'],
      );
      const stopped = await runCli(['--config', spec, 'status', '-o', 'json']);
      assert.equal(stopped.code, 1, 'status of a stopped cluster exits 1');
      assert.ok(stopped.json<StatusJson>().members.every((m) => /unreachable/.test(m.health.error ?? '')));

      // Restart: same cluster, same ports, data kept.
      const restarted = await upDetached(cleanup, spec);
      assert.equal(restarted.mode, 'restarted');
      assert.deepEqual(restarted.endpoints, up.endpoints);
      assert.equal(restarted.status.clusterId, up.status.clusterId);
      const value = await etcdctl(binaries, up.endpoints, ['get', '/steward/test', '--print-value-only']);
      assert.equal(value.trim(), `line-${line}`);

      // A killed member: its row carries the error, the others stay healthy, exit code 1.
      const state = JSON.parse(await readFile(path.join(dir, 'data', 'state.json'), 'utf8')) as {
        members: { pid: number }[];
      };
      const victim = state.members[1]?.pid as number;
      process.kill(victim, 'SIGKILL');
      await waitUntil(() => !alive(victim));
      const degraded = await runCli(['--config', spec, 'status', '-o', 'json']);
      assert.equal(degraded.code, 1);
      const rows = degraded.json<StatusJson>();
      assert.equal(rows.healthy, false);
      assert.equal(rows.members[1]?.health.ok, false);
      assert.match(rows.members[1]?.health.error ?? '', /unreachable: connect ECONNREFUSED/);
      assert.equal(rows.members[1]?.id, null);
      assert.equal(rows.members.filter((m) => m.health.ok).length, 2);

      // up brings back just the dead member.
      const healed = await upDetached(cleanup, spec);
      assert.equal(healed.mode, 'restarted');
      assert.equal(healed.status.healthy, true);

      const purge = await runCli(['--config', spec, 'down', '--purge', '-o', 'json']);
      assert.equal(purge.code, 0, purge.stderr);
      assert.equal(existsSync(path.join(dir, 'data')), false, 'purge removes the data dir');
    });
  }

  const line = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');

  it('in the foreground (npm start) stays up until Ctrl-C, then stops every member', async () => {
    const dir = await tempDir(cleanup, 'fg');
    const spec = await writeSpec(dir, { etcd: { version: line } });
    cleanup.add(() => killRecordedMembers(dir));
    const child = spawn(process.execPath, [CLI, '--config', spec, 'up'], {
      env: scrubbedEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitUntil(() => /press Ctrl-C to stop the members/.test(stderr), 60_000);
    assert.match(stdout, /healthy, 3 members, leader/);
    const { members } = JSON.parse(await readFile(path.join(dir, 'data', 'state.json'), 'utf8')) as {
      members: { pid: number }[];
    };
    assert.ok(
      members.every((m) => alive(m.pid)),
      'members run while up is in the foreground',
    );
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
    assert.ok(
      members.every((m) => !alive(m.pid)),
      'Ctrl-C stopped every member',
    );
    assert.match(stderr, /stopping the members/);
  });

  it('up --serve (npm start): the agent answers at the printed URL until Ctrl-C stops agent and members', async () => {
    const dir = await tempDir(cleanup, 'serve');
    const spec = await writeSpec(dir, {
      etcd: { version: line },
      backup: { storage: './backups', schedule: '0 3 * * *' },
      monitoring: { listen: '127.0.0.1:0' },
    });
    cleanup.add(() => killRecordedMembers(dir));
    const child = spawn(process.execPath, [CLI, '--config', spec, 'up', '--serve'], {
      env: scrubbedEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitUntil(() => /press Ctrl-C to stop the agent and the members/.test(stdout + stderr), 90_000);
    const url = /dashboard: (http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout + stderr)?.[1];
    assert.ok(url, `the dashboard URL is printed:\n${stdout}\n${stderr}`);
    const status = (await (await fetch(`${url}/api/status`)).json()) as { members: unknown[] };
    assert.equal(status.members.length, 3);
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    const created = await fetch(`${url}/api/backups`, { method: 'POST' });
    assert.equal(created.status, 202);
    const { members } = JSON.parse(await readFile(path.join(dir, 'data', 'state.json'), 'utf8')) as {
      members: { pid: number }[];
    };
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
    assert.ok(
      members.every((m) => !alive(m.pid)),
      'Ctrl-C stopped every member',
    );
    await assert.rejects(fetch(`${url}/api/status`), 'the agent is gone');
  });

  it('refuses a fixed port that another process holds, naming port and member', async () => {
    const dir = await tempDir(cleanup, 'port');
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanup.add(() => new Promise((resolve) => blocker.close(resolve)));
    const port = (blocker.address() as net.AddressInfo).port;
    const spec = await writeSpec(dir, {
      members: 1,
      ports: { client: port, peer: 'auto' },
      etcd: { version: line },
    });
    const result = await runCli(['--config', spec, 'up', '--detach']);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`error: port ${port} \\(client port of member etcd-0\\) is already in use`),
    );
    assert.match(result.stderr, /hint: stop whatever listens on \d+, or set ports\.client: auto/);
  });

  it('reports a member that dies on start with its last log lines', async () => {
    const dir = await tempDir(cleanup, 'dies');
    const spec = await writeSpec(dir, { members: 1, etcd: { version: line, extraArgs: ['--no-such-flag'] } });
    const result = await runCli(['--config', spec, 'up', '--detach']);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /error: member etcd-0 exited with code \d+ while starting; its last log lines:/,
    );
    assert.match(result.stderr, /no-such-flag/);
    await runCli(['--config', spec, 'down', '--purge']);
  });

  it('never initialises a new cluster over data whose state file is gone', async () => {
    const dir = await tempDir(cleanup, 'over');
    const spec = await writeSpec(dir, { members: 1, etcd: { version: line } });
    await upDetached(cleanup, spec);
    assert.equal((await runCli(['--config', spec, 'down'])).code, 0);
    await rm(path.join(dir, 'data', 'state.json'));
    const result = await runCli(['--config', spec, 'up', '--detach']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /already holds etcd data, but .*state\.json is missing/);
    assert.match(result.stderr, /refusing to initialise a new cluster over existing data/);
    assert.ok(existsSync(path.join(dir, 'data', 'etcd-0', 'data', 'member')), 'the data is still there');
  });

  it('up of a stopped cluster with a bigger members: starts the recorded member, then adds one at a time', async () => {
    const dir = await tempDir(cleanup, 'count');
    const spec = await writeSpec(dir, { members: 1, etcd: { version: line } });
    await upDetached(cleanup, spec);
    await runCli(['--config', spec, 'down']);
    const bigger = await writeSpec(dir, { members: 3, etcd: { version: line } });
    const result = await runCli(['--config', bigger, 'up', '--detach', '-o', 'json']);
    assert.equal(result.code, 0, result.stderr);
    const json = result.json<
      UpJson & { scaled: { from: number; to: number; changes: { operation: string; member: string }[] } }
    >();
    assert.equal(json.mode, 'restarted');
    assert.deepEqual([json.scaled.from, json.scaled.to], [1, 3]);
    assert.equal(json.status.members.length, 3);
    assert.ok(json.status.healthy);
    assert.deepEqual(
      json.scaled.changes.map((c) => `${c.operation} ${c.member}`),
      ['add etcd-1', 'add etcd-2'],
    );
  });

  it('names a missing etcd binary and the wrong line', async () => {
    const dir = await tempDir(cleanup, 'bin');
    const spec = await writeSpec(dir, { members: 1, etcd: { version: '3.6' } });
    const missing = await runCli(['--config', spec, 'up', '--etcd-bin', path.join(dir, 'nope', 'etcd')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot run .*nope\/etcd: no such file/);
    if (testLines().includes('3.5')) {
      const other = await binariesFor('3.5');
      const wrong = await runCli(['--config', spec, 'up'], { env: { ETCD_BIN: other.etcd } });
      assert.equal(wrong.code, 2);
      assert.match(wrong.stderr, /is etcd 3\.5\.\d+, but the spec asks for etcd 3\.6/);
    }
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
