// Self-healing in the agent against real local clusters, started as `serve` starts it: with the
// policy on, a SIGKILLed member whose data dir was wiped is replaced on its own (same name, every
// key, a `heal` job in /api/jobs and the counter in /metrics), and a member merely SIGKILLed (data
// intact) is restarted; with dryRun the job only says "would replace" and nothing is touched, and
// with a second member down (its db damaged) both are "would need quorum".
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { clusterTarget, type GlobalOptions } from '../cli/context.js';
import { startAgentFor } from '../cli/commands/serve.js';
import { loadSpecFile } from '../config/load.js';
import { listMembers } from '../engine/members/survey.js';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient } from '../etcd/member-client.js';
import { LocalMembershipHost } from '../runtime/local/membership.js';
import { readState } from '../runtime/local/state.js';
import { Cleanup, tempDir, testLines, upDetached, writeSpec } from '../testing/harness.js';
import type { Agent } from './agent.js';
import type { Job } from './jobs.js';
import { createLogger } from './logger.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const lines = testLines().filter((l) => l === '3.6' || l === '3.7');
const connection = { dialTimeoutMs: 2_000, commandTimeoutMs: 10_000 };
const quiet = () => createLogger({ destination: new Writable({ write: (_c, _e, cb) => cb() }) });

type HealJob = Extract<Job, { kind: 'heal' }>;

async function setup(label: string, line: string, heal: Record<string, unknown>) {
  const dir = await tempDir(cleanup, label);
  const specFile = await writeSpec(dir, {
    etcd: { version: line },
    heal: { enabled: true, after: '2s', timeout: '90s', ...heal },
    monitoring: { listen: '127.0.0.1:0', statusInterval: '1s' },
  });
  const up = await upDetached(cleanup, specFile);
  const spec = await loadSpecFile(specFile);
  const host = new LocalMembershipHost(spec);
  const client = new MemberClient(parseEndpoint(up.endpoints[0] as string), connection);
  cleanup.add(() => Promise.resolve(client.close()));
  for (let i = 0; i < 200; i += 1) await client.put(`/heal/${i}`, `value-${i}`);
  const options: GlobalOptions = { config: specFile, output: 'json' };
  const agent = await startAgentFor(options, await clusterTarget(options), quiet());
  cleanup.add(() => agent.close());
  return {
    spec,
    host,
    agent,
    async kill(name: string, wipe: boolean) {
      const pid = (await readState(spec.dataDir))?.members.find((m) => m.name === name)?.pid;
      assert.ok(pid, `${name} has a pid`);
      process.kill(pid, 'SIGKILL');
      while (await host.isRunning(name)) await sleep(20);
      if (wipe) await rm((await host.dataDir(name)).path, { recursive: true, force: true });
    },
  };
}

async function healJobs(agent: Agent): Promise<HealJob[]> {
  const response = await fetch(`${agent.url}/api/jobs`);
  assert.equal(response.status, 200);
  const { jobs } = (await response.json()) as { jobs: Job[] };
  return jobs.filter((j): j is HealJob => j.kind === 'heal');
}

async function waitForJob(
  agent: Agent,
  what: string,
  done: (job: HealJob) => boolean,
  timeoutMs = 150_000,
): Promise<HealJob> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await healJobs(agent);
    const found = jobs.find(done);
    if (found) return found;
    if (Date.now() > deadline)
      assert.fail(`no heal job ${what} within ${timeoutMs / 1000} s; jobs: ${JSON.stringify(jobs, null, 1)}`);
    await sleep(500);
  }
}

for (const line of lines) {
  describe(`self-healing in the agent on etcd ${line}`, () => {
    it('replaces a SIGKILLed member with a wiped data dir, then restarts one merely killed', async () => {
      const c = await setup('heal-on', line, {});
      const before = (await listMembers({ host: c.host, connection })).members.find(
        (m) => m.name === 'etcd-1',
      );
      await c.kill('etcd-1', true);
      const replaced = await waitForJob(
        c.agent,
        'replaced etcd-1',
        (j) => j.finishedAt !== null && j.result?.member === 'etcd-1' && j.result.action === 'replace',
      );
      assert.equal(replaced.state, 'succeeded', `${replaced.error ?? ''} ${replaced.hint ?? ''}`);
      assert.equal(replaced.result?.outcome, 'replaced');
      assert.match(replaced.result?.condition ?? '', /not running, data dir missing/);
      assert.deepEqual(
        replaced.result?.steps.filter((s) => s.outcome === 'done').map((s) => s.step),
        // stop and move-data-aside skip: the process is gone and so is its data dir
        ['note', 'remove-old', 'add-learner', 'start', 'promote', 'wait-healthy', 'clear-note'],
      );
      const list = await listMembers({ host: c.host, connection });
      const now = list.members.find((m) => m.name === 'etcd-1');
      assert.ok(now?.healthy && !now.isLearner, 'etcd-1 is a healthy voter again');
      assert.notEqual(now.id, before?.id, 'under a new id');
      assert.equal(list.members.filter((m) => m.healthy).length, 3);
      const client = new MemberClient(parseEndpoint(now.clientUrls[0] as string), connection);
      try {
        const kvs = await client.get('/heal/', { prefix: true });
        assert.equal(kvs.length, 200, 'every key on the replaced member');
      } finally {
        client.close();
      }
      const metrics = await (await fetch(`${c.agent.url}/metrics`)).text();
      assert.match(metrics, /etcd_steward_heal_actions_total\{[^}]*action="replace",result="succeeded"\} 1/);

      // Killed with its data intact: started again, not replaced.
      const id2 = list.members.find((m) => m.name === 'etcd-2')?.id;
      await c.kill('etcd-2', false);
      const restarted = await waitForJob(
        c.agent,
        'restarted etcd-2',
        (j) => j.finishedAt !== null && j.result?.member === 'etcd-2',
      );
      assert.equal(restarted.state, 'succeeded', restarted.error);
      assert.equal(restarted.result?.outcome, 'restarted');
      const deadline = Date.now() + 60_000;
      for (;;) {
        const m = (await listMembers({ host: c.host, connection })).members.find((x) => x.name === 'etcd-2');
        if (m?.healthy) {
          assert.equal(m.id, id2, 'the same member, not a replacement');
          break;
        }
        assert.ok(Date.now() < deadline, 'etcd-2 healthy again after the restart');
        await sleep(500);
      }
    });

    it('dry run: only reports "would replace" once and touches nothing', async () => {
      const c = await setup('heal-dry', line, { dryRun: true });
      await c.kill('etcd-2', true);
      const job = await waitForJob(c.agent, 'would replace etcd-2', (j) => j.finishedAt !== null);
      assert.equal(job.state, 'succeeded');
      assert.equal(job.result?.outcome, 'would replace');
      assert.equal(job.result?.dryRun, true);
      assert.equal(job.result?.member, 'etcd-2');
      await sleep(4_000); // two more `after` periods: reported once per incident
      assert.equal((await healJobs(c.agent)).length, 1);
      assert.equal(await c.host.isRunning('etcd-2'), false);
      assert.equal((await c.host.dataDir('etcd-2')).state, 'missing');
      const metrics = await (await fetch(`${c.agent.url}/metrics`)).text();
      assert.match(metrics, /etcd_steward_heal_actions_total\{[^}]*action="replace",result="dry-run"\} 1/);
      assert.match(metrics, /etcd_steward_heal_members_needing\{[^}]*\} 1/);

      // A second member down, its db damaged (meta pages overwritten): the offline check sees it,
      // and with two of three down nothing may be replaced: "would need quorum" for both.
      await c.kill('etcd-1', false);
      const db = path.join((await c.host.dataDir('etcd-1')).path, 'member', 'snap', 'db');
      await writeFile(db, Buffer.alloc(8192, 0xab), { flag: 'r+' });
      const blocked = await waitForJob(
        c.agent,
        'would need quorum for etcd-1',
        (j) => j.finishedAt !== null && j.result?.member === 'etcd-1',
      );
      assert.equal(blocked.state, 'failed');
      assert.equal(blocked.result?.outcome, 'would need quorum');
      assert.match(blocked.result?.condition ?? '', /data fails the offline check/);
      assert.match(blocked.error ?? '', /would need quorum/);
      assert.match(blocked.hint ?? '', /recover/);
      const status = (await (await fetch(`${c.agent.url}/api/status`)).json()) as {
        problems: { id: string }[];
      };
      assert.ok(status.problems.some((p) => p.id === 'heal-needs-quorum'));
    });
  });
}
