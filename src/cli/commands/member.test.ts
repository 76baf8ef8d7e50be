// `etcd-steward member …` as a user runs it, against real local clusters: on every etcd line a
// member SIGKILLed with its data wiped comes back with `member replace` (same name, healthy,
// every key on it), while a healthy one is refused without --force; `member add` shows up in
// `member list` as a voter; a removal that would lose quorum is refused, then forced with --force.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient } from '../../etcd/member-client.js';
import type { MemberList } from '../../engine/members/survey.js';
import type { MembershipReport } from '../../engine/members/steps.js';
import { Cleanup, runCli, tempDir, testLines, upDetached, writeSpec } from '../../testing/harness.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const mainLine = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');
const connection = { dialTimeoutMs: 2_000, commandTimeoutMs: 10_000 };

function client(url: string): MemberClient {
  const c = new MemberClient(parseEndpoint(url), connection);
  cleanup.add(() => Promise.resolve(c.close()));
  return c;
}

async function list(spec: string): Promise<MemberList> {
  const r = await runCli(['--config', spec, 'member', 'list', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return r.json<MemberList>();
}

async function pidOf(dir: string, name: string): Promise<number> {
  const state = JSON.parse(await readFile(path.join(dir, 'data', 'state.json'), 'utf8')) as {
    members: { name: string; pid: number | null }[];
  };
  const pid = state.members.find((m) => m.name === name)?.pid;
  assert.ok(pid, `${name} has a pid`);
  return pid;
}

async function gone(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (/\) Z /.test(stat)) return;
    await sleep(20);
  }
}

describe('member replace on every etcd line', () => {
  for (const line of testLines()) {
    it(`${line}: a member SIGKILLed and wiped comes back under its name, healthy, with every key`, async () => {
      const dir = await tempDir(cleanup, `member-replace-${line}`);
      const spec = await writeSpec(dir, { etcd: { version: line } });
      const up = await upDetached(cleanup, spec);
      const writer = client(up.endpoints[0] as string);
      for (let i = 0; i < 200; i += 1) await writer.put(`/heal/${String(i).padStart(3, '0')}`, `value-${i}`);

      const refused = await runCli(['--config', spec, 'member', 'replace', 'etcd-1']);
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr,
        /member etcd-1 \([0-9a-f]+\) is healthy and has its data; refusing to replace it/,
      );
      assert.match(refused.stderr, /hint: .*--force replaces it anyway/);

      const before = await list(spec);
      const oldId = before.members.find((m) => m.name === 'etcd-1')?.id;
      const pid = await pidOf(dir, 'etcd-1');
      process.kill(pid, 'SIGKILL');
      await gone(pid);
      await rm(path.join(dir, 'data', 'etcd-1', 'data'), { recursive: true, force: true });
      const broken = (await list(spec)).members.find((m) => m.name === 'etcd-1');
      assert.equal(broken?.healthy, false);
      assert.equal(broken?.dataDirState, 'missing');

      const r = await runCli(['--config', spec, 'member', 'replace', 'etcd-1', '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '', 'quiet with -o json');
      const report = r.json<MembershipReport>();
      assert.equal(report.member, 'etcd-1');
      assert.notEqual(report.id, oldId);
      const done = report.steps.filter((s) => s.outcome === 'done').map((s) => s.step);
      assert.deepEqual(done, [
        'note',
        'remove-old',
        'add-learner',
        'start',
        'promote',
        'wait-healthy',
        'clear-note',
      ]);

      const after = await list(spec);
      assert.equal(after.members.length, 3);
      const row = after.members.find((m) => m.name === 'etcd-1');
      assert.equal(row?.id, report.id);
      assert.ok(row && row.healthy && !row.isLearner && row.status === 'started', JSON.stringify(row));
      assert.equal(row.dataDirState, 'present');
      assert.equal(row.peerUrls[0], broken?.peerUrls[0], 'same peer port');
      assert.equal(row.clientUrls[0], broken?.clientUrls[0], 'same client port');
      assert.ok(after.members.every((m) => m.healthy));

      const replaced = client(row.clientUrls[0] as string);
      const keys = await replaced.get('/heal/', { prefix: true });
      assert.equal(keys.length, 200);
      assert.deepEqual(
        keys.map((k) => `${k.key.toString()}=${k.value.toString()}`),
        Array.from({ length: 200 }, (_, i) => `/heal/${String(i).padStart(3, '0')}=value-${i}`),
      );
      // The replaced member's own store matches the others' at the same revision.
      const { revision } = await writer.put('/heal/last', 'x');
      const hashes = await Promise.all(
        after.members.map(async (m) => {
          const c = client(m.clientUrls[0] as string);
          for (;;) {
            const h = await c.hashKv(revision).catch(() => undefined);
            if (h) return h.hash;
            await sleep(100);
          }
        }),
      );
      assert.equal(new Set(hashes).size, 1, `hashes: ${hashes.join(', ')}`);
    });
  }
});

describe(`member add, list and remove on etcd ${mainLine}`, () => {
  it('add joins as a learner and is promoted; list shows it as a healthy voter; the table names the leader', async () => {
    const dir = await tempDir(cleanup, 'member-add-cli');
    const spec = await writeSpec(dir, { etcd: { version: mainLine } });
    await upDetached(cleanup, spec);
    const r = await runCli(['--config', spec, 'member', 'add', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const report = r.json<MembershipReport>();
    assert.equal(report.member, 'etcd-3');
    assert.deepEqual(
      report.steps.filter((s) => s.outcome === 'done').map((s) => s.step),
      ['record', 'add-learner', 'start', 'promote', 'wait-healthy'],
    );
    const rows = (await list(spec)).members;
    assert.equal(rows.length, 4);
    const added = rows.find((m) => m.name === 'etcd-3');
    assert.ok(added && added.healthy && !added.isLearner && added.id === report.id, JSON.stringify(added));
    const table = await runCli(['--config', spec, 'member', 'list']);
    assert.equal(table.code, 0, table.stderr);
    for (const head of ['NAME', 'STATUS', 'CLIENT ADDRS', 'LEARNER', 'LEADER', 'HEALTH', 'LAG', 'DATA DIR'])
      assert.ok(table.stdout.includes(head), head);
    assert.match(table.stdout, /│ etcd-3 +│ started +│/);
    const wide = await runCli(['--config', spec, 'member', 'list', '-o', 'wide']);
    assert.equal(wide.code, 0, wide.stderr);
    for (const head of ['ID', 'PEER ADDRS']) assert.ok(wide.stdout.includes(head), head);
    assert.match(wide.stdout, new RegExp(`│ etcd-3 +│ ${report.id} +│ started +│`));
    assert.match(table.stdout, /cluster [0-9a-f]+: 4 members, leader etcd-\d/);
  });

  it('remove is refused when it would lose quorum, and --force removes it saying what follows', async () => {
    const dir = await tempDir(cleanup, 'member-quorum');
    const spec = await writeSpec(dir, { etcd: { version: mainLine } });
    await upDetached(cleanup, spec);
    // etcd-1 hangs (a stuck disk, a paused VM): its connections stay open, it answers nothing.
    const frozen = await pidOf(dir, 'etcd-1');
    process.kill(frozen, 'SIGSTOP');
    cleanup.add(() => Promise.resolve(process.kill(frozen, 'SIGCONT')));
    const leaderName = async () => {
      for (;;) {
        const r = await runCli(['--config', spec, 'member', 'list', '-o', 'json']);
        const leader = r.json<MemberList>().members.find((m) => m.isLeader);
        if (leader) return leader.name;
        await sleep(200);
      }
    };
    const target = (await leaderName()) === 'etcd-0' ? 'etcd-2' : 'etcd-0';
    const refused = await runCli(['--config', spec, 'member', 'remove', target]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      new RegExp(
        `error: removing ${target} \\([0-9a-f]+\\) would lose quorum: 2 voting members would be left, 1 of them healthy, and 2 voting members need 2 healthy for quorum`,
      ),
    );
    assert.match(
      refused.stderr,
      /hint: --force removes it anyway; the cluster would stop accepting reads and writes until 1 more/,
    );
    assert.equal((await list(spec)).members.length, 3, 'nothing removed');

    const forced = await runCli(['--config', spec, 'member', 'remove', target, '--force', '-o', 'json']);
    assert.equal(forced.code, 0, forced.stderr);
    const report = forced.json<MembershipReport>();
    assert.match(report.steps[0]?.detail ?? '', /^forced: removing .* would lose quorum/);
    assert.equal(report.steps.find((s) => s.step === 'remove')?.outcome, 'done');

    // Once the frozen member is back, the two left have quorum again.
    process.kill(frozen, 'SIGCONT');
    const deadline = Date.now() + 20_000;
    for (;;) {
      const rows = (await list(spec)).members;
      if (rows.length === 2 && rows.every((m) => m.healthy)) break;
      assert.ok(Date.now() < deadline, `not healthy again: ${JSON.stringify(rows)}`);
      await sleep(300);
    }
  });
});
