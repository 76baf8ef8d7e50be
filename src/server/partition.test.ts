// A network partition, for real: three etcd members in their own network namespaces on a bridge,
// the leader cut off from the other two by blackhole routes. The isolated old leader steps down,
// a write sent to it fails with a clear error, `status` (CLI, table and JSON) and the agent's
// /api/status name it as cut off while the other two elect a leader and take writes; once the
// routes are gone the cluster is healthy again with no action, the old leader holding the writes
// made without it. Namespaces, routes and processes are removed whatever happens.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { parseSpec } from '../config/load.js';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient } from '../etcd/member-client.js';
import { describeError } from '../errors.js';
import { startAgent } from './agent.js';
import { createLogger } from './logger.js';
import { Cleanup, binariesFor, runCli, tempDir, testLines } from '../testing/harness.js';
import { netnsSkip, startNetnsCluster } from '../testing/netns.js';
import { clusterStatus, type ClusterStatus } from '../engine/status.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const connection = { dialTimeoutMs: 1_000, commandTimeoutMs: 3_000 };
const skip = await netnsSkip();
if (skip) console.error(`SKIPPED partition tests: ${skip}`);
// 3.6 always; 3.5 and 3.7 too when the lines under test include them (each takes ~15 s).
const lines = testLines();

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      assert.fail(
        `${what} did not happen within ${timeoutMs / 1000} s${last ? ` (${describeError(last)})` : ''}`,
      );
    await sleep(300);
  }
}

for (const line of lines) {
  describe(`network partition on etcd ${line}`, { skip }, () => {
    it('the isolated leader steps down, writes there fail, status and the agent name it; healed → healthy', async () => {
      const local = new Cleanup();
      try {
        const dir = await tempDir(cleanup, `partition-${line}`);
        const c = await startNetnsCluster(local, await binariesFor(line), dir);
        const endpoints = [...c.endpoints];
        const status = () => clusterStatus({ endpoints, connection });
        const first = await until('a healthy cluster', async () => {
          const s = await status();
          return s.healthy ? s : undefined;
        });
        const leader = first.members.find((m) => m.isLeader);
        assert.ok(leader?.id && leader.name, 'a leader');
        const cut = c.members.find((m) => m.name === leader.name);
        assert.ok(cut);
        const client = (url: string) => {
          const k = new MemberClient(parseEndpoint(url), connection);
          local.add(() => Promise.resolve(k.close()));
          return k;
        };
        await client(cut.clientUrl).put('/before', 'partition');

        await c.isolate(cut.name);
        const split = await until(
          'the other two elect a leader and the old one is named cut off',
          async () => {
            const s = await status();
            const row = s.members.find((m) => m.endpoint === cut.clientUrl);
            return s.leaderId && s.leaderId !== leader.id && row?.cutOff ? s : undefined;
          },
        );
        const row = split.members.find((m) => m.endpoint === cut.clientUrl);
        assert.equal(row?.isLeader, false);
        assert.match(
          row?.health.error ?? '',
          /^cut off from the cluster: (knows no leader|follows .* at term \d+) while 2 members follow etcd-\d at term \d+/,
        );
        assert.equal(split.members.filter((m) => m.health.ok).length, 2);
        // Its own status: it stepped down (no leader, or not itself).
        const own = await until('the old leader steps down', async () => {
          const s = await client(cut.clientUrl).status();
          return s.leaderId !== s.memberId ? s : undefined;
        });
        assert.notEqual(own.leaderId, own.memberId);

        // A write there fails cleanly (3.6/3.7: our deadline, 'no answer within'; 3.5 cancels the
        // call: 'Call cancelled'); the majority takes writes.
        const started = Date.now();
        await assert.rejects(client(cut.clientUrl).put('/during', 'x'), (error: Error) => {
          assert.match(
            error.message,
            new RegExp(
              `${cut.clientUrl.replace(/[.]/g, '\\.')}.*(no leader|timed out|no answer within|leader changed|call cancelled)`,
              'i',
            ),
          );
          return true;
        });
        assert.ok(Date.now() - started < 10_000, 'the failed write did not hang');
        const majority = c.members.find((m) => m !== cut) as (typeof c.members)[number];
        await client(majority.clientUrl).put('/during', 'majority');

        // `status` says it, in the table and in JSON (exit 1: the cluster is not all healthy).
        const table = await runCli(['status', '--endpoints', endpoints.join(','), '--command-timeout', '3s']);
        assert.equal(table.code, 1, table.stderr);
        assert.match(table.stdout, /cut off from the cluster/);
        assert.match(
          table.stdout,
          new RegExp(`UNHEALTHY: 1 of 3 members failing \\(cut off: ${cut.name}\\)`),
        );
        const json = await runCli([
          'status',
          '--endpoints',
          endpoints.join(','),
          '--command-timeout',
          '3s',
          '-o',
          'json',
        ]);
        const parsed = json.json<ClusterStatus>();
        assert.match(
          parsed.members.find((m) => m.endpoint === cut.clientUrl)?.cutOff ?? '',
          /while 2 members follow/,
        );

        // The agent says it too.
        const spec = parseSpec(
          `runtime: external\nendpoints: [${endpoints.join(', ')}]\nmonitoring: { statusInterval: 1s }\n`,
          undefined,
        );
        const agent = await startAgent({
          spec,
          clusterName: 'partition',
          endpoints,
          connection,
          listen: '127.0.0.1:0',
          log: createLogger({ destination: new Writable({ write: (_c, _e, cb) => cb() }) }),
        });
        local.add(() => agent.close());
        const problem = await until('the agent names the cut-off member', async () => {
          const reply = (await (await fetch(`${agent.url}/api/status`)).json()) as {
            problems: { id: string; message: string }[];
            members: { endpoint: string; cutOff: string | null }[];
          };
          const p = reply.problems.find((x) => x.id === 'member-cut-off');
          return p && reply.members.find((m) => m.endpoint === cut.clientUrl)?.cutOff ? p : undefined;
        });
        assert.match(problem.message, new RegExp(`cut off from the cluster.*${cut.name}`));

        // Healed: no action, the cluster is whole again and the old leader has the write it missed.
        await c.reconnect();
        const healed = await until('the cluster is healthy again', async () => {
          const s = await status();
          return s.healthy && s.members.every((m) => !m.cutOff) ? s : undefined;
        });
        assert.equal(healed.members.length, 3);
        const seen = await until('the old leader has the write made without it', async () => {
          const kvs = await client(cut.clientUrl).get('/during');
          return kvs[0]?.value.toString() === 'majority' ? kvs : undefined;
        });
        assert.equal(seen.length, 1);
      } finally {
        await local.run();
      }
    });
  });
}
