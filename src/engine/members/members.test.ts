// Membership changes against real local clusters, driven through the engine so a test can look
// (or crash) between steps with the afterStep hook: an added member is a learner until it has
// caught up, then votes; removing the leader hands leadership away before the removal; a replace
// that crashes after any of its steps finishes when run again.
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { loadSpecFile } from '../../config/load.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient, type ClusterMember } from '../../etcd/member-client.js';
import { LocalMembershipHost } from '../../runtime/local/membership.js';
import { readState } from '../../runtime/local/state.js';
import { Cleanup, binariesFor, tempDir, testLines, upDetached, writeSpec } from '../../testing/harness.js';
import { addMember } from './add.js';
import { removeMember } from './remove.js';
import { REPLACE_STEPS, replaceMember } from './replace.js';
import type { MembershipOptions } from './steps.js';
import { listMembers } from './survey.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const line = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');
const connection = { dialTimeoutMs: 2_000, commandTimeoutMs: 10_000 };

class Crash extends Error {}

interface Cluster {
  dir: string;
  host: LocalMembershipHost;
  options: MembershipOptions;
  client(url: string): MemberClient;
  members(): Promise<ClusterMember[]>;
  url(name: string): Promise<string>;
  killMember(name: string): Promise<void>;
}

async function cluster(label: string): Promise<Cluster> {
  const dir = await tempDir(cleanup, label);
  const specFile = await writeSpec(dir, { etcd: { version: line } });
  const up = await upDetached(cleanup, specFile);
  const spec = await loadSpecFile(specFile);
  const host = new LocalMembershipHost(spec, await binariesFor(line));
  const client = (url: string) => {
    const c = new MemberClient(parseEndpoint(url), connection);
    cleanup.add(() => Promise.resolve(c.close()));
    return c;
  };
  const first = client(up.endpoints[0] as string);
  return {
    dir,
    host,
    options: { host, connection, timeoutMs: 60_000 },
    client,
    // Asked of a member that stays: the list as the cluster has committed it.
    members: () => first.memberList(),
    url: async (name) => (await host.members()).find((m) => m.name === name)?.clientUrl ?? '',
    async killMember(name) {
      const state = await readState(spec.dataDir);
      const pid = state?.members.find((m) => m.name === name)?.pid;
      assert.ok(pid, `${name} has a pid`);
      process.kill(pid, 'SIGKILL');
      while (await host.isRunning(name)) await sleep(20);
    },
  };
}

async function leaderId(c: Cluster): Promise<string> {
  const list = await listMembers(c.options);
  const leader = list.members.find((m) => m.isLeader);
  assert.ok(leader?.id, 'the cluster has a leader');
  return leader.id;
}

describe(`membership steps on etcd ${line}`, () => {
  it('add: a learner first (unstarted, then started), promoted once caught up, then listed as a healthy voter', async () => {
    const c = await cluster('member-add');
    const writer = c.client(await c.url('etcd-0'));
    for (let i = 0; i < 300; i += 1) await writer.put(`/add/${i}`, `value-${i}`);
    const seen: Record<string, ClusterMember | undefined> = {};
    const peer = async () => (await c.host.members()).find((m) => m.name === 'etcd-3')?.peerUrl;
    const report = await addMember({
      ...c.options,
      afterStep: async (step) => {
        const url = await peer();
        seen[step] = (await c.members()).find((m) => m.peerUrls.includes(url ?? '-'));
      },
    });
    assert.equal(report.member, 'etcd-3');
    assert.deepEqual(
      report.steps.map((s) => [s.step, s.outcome]),
      [
        ['record', 'done'],
        ['move-stale-data', 'skipped'],
        ['add-learner', 'done'],
        ['start', 'done'],
        ['promote', 'done'],
        ['wait-healthy', 'done'],
      ],
    );
    assert.equal(seen['record'], undefined, 'not a member before add-learner');
    assert.equal(seen['add-learner']?.isLearner, true);
    assert.equal(seen['add-learner']?.name, '', 'added but not started: no name yet');
    assert.equal(seen['start']?.isLearner, true, 'started as a learner');
    assert.equal(seen['promote']?.isLearner, false, 'a voter after promote');
    assert.equal(seen['promote']?.id, report.id);
    const list = await listMembers(c.options);
    const added = list.members.find((m) => m.name === 'etcd-3');
    assert.equal(list.members.length, 4);
    assert.ok(added?.healthy && !added.isLearner && added.dataDirState === 'present', JSON.stringify(added));
    const onNew = await c.client(await c.url('etcd-3')).get('/add/', { prefix: true });
    assert.equal(onNew.length, 300);
    // Run again: every step finds its work done.
    const again = await addMember({ ...c.options, name: 'etcd-3' });
    assert.deepEqual(
      again.steps.filter((s) => s.outcome === 'done').map((s) => s.step),
      ['wait-healthy'],
    );
  });

  it('remove of the leader hands leadership to another member first, then removes, stops and forgets it', async () => {
    const c = await cluster('member-rm-leader');
    const target = await leaderId(c);
    const name = (await c.members()).find((m) => m.id === target)?.name as string;
    let leaderAfterMove: string | undefined;
    const report = await removeMember({
      ...c.options,
      target: name,
      afterStep: async (step) => {
        if (step === 'move-leader') leaderAfterMove = await leaderId(c);
      },
    });
    // A removed member shuts itself down; `stop` then finds nothing left to stop.
    assert.deepEqual(
      report.steps.filter((s) => s.step !== 'stop').map((s) => [s.step, s.outcome]),
      [
        ['check', 'done'],
        ['move-leader', 'done'],
        ['remove', 'done'],
        ['forget', 'done'],
      ],
    );
    assert.ok(leaderAfterMove && leaderAfterMove !== target, `leader after the move: ${leaderAfterMove}`);
    const remaining = (await c.host.members()).map((m) => m.name);
    assert.equal(remaining.length, 2);
    assert.ok(!remaining.includes(name));
    const ask = c.client(await c.url(remaining[0] as string));
    assert.deepEqual((await ask.memberList()).map((m) => m.name).sort(), remaining.sort());
    assert.equal(await c.host.isRunning(name), false);
    await ask.put('/after-remove', 'ok');
    // Its data is kept, not deleted.
    assert.ok((await readdir(path.join(c.dir, 'data', name, 'data'))).includes('member'));
  });

  it('replace: a crash after any step, then a rerun, finishes the job (damaged data moved aside)', async () => {
    const c = await cluster('member-crash');
    const writer = c.client(await c.url('etcd-0'));
    for (let i = 0; i < 100; i += 1) await writer.put(`/crash/${i}`, `v${i}`);
    const victim = 'etcd-2';
    for (const crashAt of REPLACE_STEPS) {
      // Damage the member: killed, and its bbolt file overwritten.
      await c.killMember(victim);
      const db = path.join(c.dir, 'data', victim, 'data', 'member', 'snap', 'db');
      await writeFile(db, Buffer.alloc(4096, 0xee));
      const oldId = (await c.members()).find((m) => m.name === victim)?.id;
      await assert.rejects(
        replaceMember({
          ...c.options,
          name: victim,
          afterStep: (step) => {
            if (step === crashAt) throw new Crash(`crash after ${step}`);
          },
        }),
        Crash,
      );
      if (crashAt === 'clear-note') {
        // The last step: the job was done before the crash; a rerun finds a healthy member.
        await assert.rejects(replaceMember({ ...c.options, name: victim }), /healthy and has its data/);
      } else {
        const rerun = await replaceMember({ ...c.options, name: victim });
        const done = rerun.steps.filter((s) => s.outcome === 'done').map((s) => s.step);
        const before = REPLACE_STEPS.slice(0, REPLACE_STEPS.indexOf(crashAt) + 1);
        for (const step of ['note', 'remove-old', 'move-data-aside', 'add-learner', 'start', 'promote']) {
          if (before.includes(step as (typeof REPLACE_STEPS)[number]))
            assert.ok(!done.includes(step), `crash after ${crashAt}: ${step} was done again`);
        }
      }
      const list = await listMembers(c.options);
      const row = list.members.find((m) => m.name === victim);
      assert.ok(row?.healthy && !row.isLearner, `crash after ${crashAt}: ${JSON.stringify(row)}`);
      assert.notEqual(row.id, oldId, `crash after ${crashAt}: a new member id`);
      assert.equal(list.members.length, 3);
      assert.ok(list.members.every((m) => m.healthy));
      const keys = await c.client(await c.url(victim)).get('/crash/', { prefix: true });
      assert.equal(keys.length, 100, `crash after ${crashAt}: every key on ${victim}`);
      assert.equal(await c.host.readReplaceNote(victim), undefined);
    }
    // Every damaged data dir was moved aside, none deleted.
    const aside = (await readdir(path.join(c.dir, 'data', victim))).filter((e) =>
      e.startsWith('data.replaced-'),
    );
    assert.equal(aside.length, REPLACE_STEPS.length);
    const damaged = await readFile(
      path.join(c.dir, 'data', victim, aside[0] as string, 'member', 'snap', 'db'),
    );
    assert.equal(damaged[0], 0xee);
  });
});
