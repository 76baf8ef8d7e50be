// `etcd-steward defrag` against real clusters: a fragmented cluster shrinks on every line, with
// followers first, leadership handed over and the leader last; a rule that does not hold, a dry
// run, a CORRUPT alarm and a dead member change nothing; a bad rule is exit 2 with its column;
// NOSPACE does not block a defrag, which then disarms it. The pure parts (rule, plan) are tested
// beside them: src/engine/defrag/rule.test.ts, plan.test.ts.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readDefragHistory } from '../../engine/defrag/history.js';
import type { DefragReport } from '../../engine/defrag/defrag.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient } from '../../etcd/member-client.js';
import { Cleanup, runCli, tempDir, testLines, upDetached, writeSpec } from '../../testing/harness.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const mainLine = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');
// Generous deadlines: the data loads below run beside other test files on a 2-core machine.
const connection = { dialTimeoutMs: 5000, commandTimeoutMs: 60_000 };
const MiB = 2 ** 20;

interface StatusJson {
  healthy: boolean;
  leaderId: string | null;
  members: {
    endpoint: string;
    name: string | null;
    id: string;
    dbSize: number;
    dbSizeInUse: number;
    isLeader: boolean;
    alarms: string[];
  }[];
}

function client(endpoint: string): MemberClient {
  const c = new MemberClient(parseEndpoint(endpoint), connection);
  cleanup.add(() => Promise.resolve(c.close()));
  return c;
}

async function status(spec: string): Promise<{ code: number | null; json: StatusJson }> {
  const r = await runCli(['--config', spec, 'status', '-o', 'json']);
  return { code: r.code, json: r.json<StatusJson>() };
}

/** dbSize by member id. */
async function sizes(spec: string): Promise<Map<string, number>> {
  return new Map((await status(spec)).json.members.map((m) => [m.id, m.dbSize]));
}

async function fill(c: MemberClient, count: number): Promise<void> {
  const value = Buffer.alloc(16 * 1024, 'f');
  const puts: Promise<unknown>[] = [];
  for (let i = 0; i < count; i += 1) {
    puts.push(c.put(`/frag/${String(i).padStart(5, '0')}`, value));
    if (puts.length === 32) await Promise.all(puts.splice(0));
  }
  await Promise.all(puts);
}

/**
 * Fragmentation: `count` keys of 16 KiB (32 puts in flight), all deleted, compacted physically;
 * then waits until every member shows more than `freeAtLeast` bytes free. bbolt releases the
 * pages a compaction freed only at a member's next write, so each round grants and revokes a
 * lease (a write on every member that leaves nothing behind).
 */
async function fragment(spec: string, endpoint: string, count: number, freeAtLeast: number): Promise<void> {
  const c = client(endpoint);
  await fill(c, count);
  const { deleted, revision } = await c.delete('/frag/', { prefix: true });
  assert.equal(deleted, count);
  await c.compact(revision, true, 60_000);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { json } = await status(spec);
    if (json.members.every((m) => m.dbSize - m.dbSizeInUse > freeAtLeast)) return;
    if (Date.now() > deadline)
      assert.fail(`members did not show the free space: ${JSON.stringify(json.members)}`);
    await c.revokeLease(await c.grantLease(60));
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function history(dir: string): Promise<DefragReport[]> {
  return readDefragHistory<DefragReport>(path.join(dir, 'data', 'defrag-history.jsonl'));
}

describe('defrag', { concurrency: true }, () => {
  for (const line of testLines()) {
    it(`${line}: a fragmented cluster: every member shrinks, followers first, leadership moved, leader last`, async () => {
      const dir = await tempDir(cleanup, `defrag-${line}`);
      const spec = await writeSpec(dir, { etcd: { version: line } });
      const up = await upDetached(cleanup, spec);
      await fragment(spec, up.endpoints[0] as string, 3000, 20 * MiB);
      const before = (await status(spec)).json;
      const oldLeader = before.members.find((m) => m.isLeader)?.id as string;
      assert.ok(oldLeader);

      const r = await runCli(['--config', spec, 'defrag', '--rule', 'dbSizeFree > 1MiB', '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '', 'JSON mode prints nothing else');
      const report = r.json<DefragReport>();
      assert.equal(report.outcome, 'done');
      assert.equal(report.preflight.ok, true);
      assert.deepEqual(
        report.results.map((m) => [m.role, m.outcome]),
        [
          ['follower', 'defragmented'],
          ['follower', 'defragmented'],
          ['leader', 'defragmented'],
        ],
      );
      const last = report.results[2] as DefragReport['results'][number];
      assert.equal(last.id, oldLeader, 'the leader is last');
      assert.equal(report.leadershipMoves.length, 1);
      const move = report.leadershipMoves[0] as DefragReport['leadershipMoves'][number];
      assert.equal(move.from.id, oldLeader);
      assert.notEqual(move.to.id, oldLeader);
      assert.equal(last.leadershipMovedTo, move.to.id);
      assert.ok(
        Date.parse(move.at) >= Date.parse(report.results[1]?.finishedAt as string),
        'moved after the followers',
      );
      assert.ok(
        Date.parse(move.at) <= Date.parse(last.finishedAt as string),
        'moved before the leader was done',
      );
      // etcd 3.6+ reports its quota; 3.5 does not, so the spec's (default 2 GiB) is used.
      assert.ok(report.plan.every((p) => p.dbQuotaSource === (line === '3.5' ? 'spec' : 'member')));
      assert.ok(report.plan.every((p) => p.dbQuota === 2 * 2 ** 30));

      const afterward = await status(spec);
      assert.equal(afterward.code, 0, 'all healthy after');
      assert.ok(afterward.json.healthy);
      for (const m of afterward.json.members) {
        const was = before.members.find((b) => b.id === m.id)?.dbSize as number;
        assert.ok(m.dbSize < was - 20 * MiB, `${m.name ?? m.endpoint}: ${was} → ${m.dbSize}`);
        const reported = report.results.find((x) => x.id === m.id);
        assert.ok((reported?.reclaimed ?? 0) > 20 * MiB, `reclaimed reported for ${m.id}`);
      }
      assert.notEqual(afterward.json.leaderId, oldLeader, 'the leader changed');
      assert.equal(afterward.json.leaderId, move.to.id);

      const recorded = await history(dir);
      assert.equal(recorded.length, 1);
      assert.equal(recorded[0]?.outcome, 'done');
      assert.equal(report.historyFile, path.join(dir, 'data', 'defrag-history.jsonl'));
    });
  }

  it(`${mainLine}: dry run, a rule that does not hold, a CORRUPT alarm, a dead member: nothing changes`, async () => {
    const dir = await tempDir(cleanup, 'defrag-refuse');
    const spec = await writeSpec(dir, { etcd: { version: mainLine } });
    const up = await upDetached(cleanup, spec);
    await fragment(spec, up.endpoints[0] as string, 600, 5 * MiB);
    const initial = await sizes(spec);
    const leader = (await status(spec)).json.leaderId;

    // Dry run: the plan in order with the rule's verdict, nothing changed, nothing recorded.
    const dry = await runCli([
      '--config',
      spec,
      'defrag',
      '--dry-run',
      '--rule',
      'dbSizeFree > 1MiB',
      '-o',
      'json',
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    const plan = dry.json<DefragReport>();
    assert.equal(plan.outcome, 'planned');
    assert.deepEqual(
      plan.plan.map((p) => p.role),
      ['follower', 'follower', 'leader'],
    );
    assert.equal(plan.plan[2]?.id, leader);
    assert.ok(plan.plan.every((p) => p.ruleHolds && p.action === 'defragment' && p.wouldReclaim > 5 * MiB));
    assert.ok(plan.plan.every((p) => p.wouldReclaim === p.dbSize - p.dbSizeInUse));
    assert.deepEqual(plan.results, []);
    const table = await runCli(['--config', spec, 'defrag', '--dry-run', '--rule', 'dbSizeFree > 1MiB']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /true: defragment/);
    assert.match(table.stdout, /dry run: would defragment 3 of 3 members and reclaim ≈ \d/);
    assert.deepEqual(await sizes(spec), initial, 'a dry run changes nothing');
    assert.deepEqual(await history(dir), [], 'a dry run is not recorded');

    // A rule that holds for no one: every member skipped, exit 0, sizes as they were.
    const none = await runCli(['--config', spec, 'defrag', '--rule', 'dbSize > 100GiB', '-o', 'json']);
    assert.equal(none.code, 0, none.stderr);
    const skipped = none.json<DefragReport>();
    assert.deepEqual(
      skipped.results.map((m) => m.outcome),
      ['skipped:rule', 'skipped:rule', 'skipped:rule'],
    );
    assert.deepEqual(skipped.leadershipMoves, []);
    assert.deepEqual(await sizes(spec), initial, 'nothing defragmented');
    assert.equal((await status(spec)).json.leaderId, leader, 'leadership stays');

    // A CORRUPT alarm on a follower: refused, naming it.
    const c = client(up.endpoints[0] as string);
    const follower = (await status(spec)).json.members.find(
      (m) => !m.isLeader,
    ) as StatusJson['members'][number];
    await c.activateAlarm(follower.id, 'CORRUPT');
    cleanup.add(() => c.deactivateAlarm(follower.id, 'CORRUPT').catch(() => undefined));
    const corrupt = await runCli(['--config', spec, 'defrag', '--rule', 'dbSizeFree > 1MiB', '-o', 'json']);
    assert.equal(corrupt.code, 1, corrupt.stdout);
    assert.match(
      corrupt.stderr,
      new RegExp(
        `error: defrag refused, nothing was changed:\\n\\s+CORRUPT alarm on ${follower.name ?? ''} \\(${follower.id}\\)`,
      ),
    );
    assert.match(corrupt.stderr, /hint: /);
    const refused = corrupt.json<DefragReport>();
    assert.equal(refused.outcome, 'refused');
    assert.deepEqual(refused.results, []);
    assert.deepEqual(await sizes(spec), initial, 'nothing defragmented');
    await c.deactivateAlarm(follower.id, 'CORRUPT');
    assert.deepEqual(await c.alarms(), []);

    // A member killed: refused, naming it.
    const state = JSON.parse(await readFile(path.join(dir, 'data', 'state.json'), 'utf8')) as {
      members: { name: string; pid: number }[];
    };
    const victimIndex = up.endpoints.indexOf(follower.endpoint);
    const victim = state.members[victimIndex] as { name: string; pid: number };
    process.kill(victim.pid, 'SIGKILL');
    const dead = await runCli([
      '--config',
      spec,
      'defrag',
      '--rule',
      'dbSizeFree > 1MiB',
      '--dial-timeout',
      '500ms',
    ]);
    assert.equal(dead.code, 1, dead.stdout);
    assert.match(dead.stderr, new RegExp(`${follower.endpoint}: unreachable|${victim.name}.*unreachable`));
    assert.match(dead.stdout, /refused: nothing was changed/);
    const others = (await status(spec)).json.members.filter((m) => m.endpoint !== follower.endpoint);
    assert.equal(others.length, 2);
    for (const m of others) assert.equal(m.dbSize, initial.get(m.id), `${m.endpoint} unchanged`);

    // Refused and rule-false runs are recorded; dry runs are not.
    assert.deepEqual(
      (await history(dir)).map((h) => h.outcome),
      ['done', 'refused', 'refused'],
    );
  });

  it(`${mainLine}: one member through --endpoints, --compact: the rule sees the compacted sizes, defragmented in place, recorded in the cache`, async () => {
    const dir = await tempDir(cleanup, 'defrag-one');
    const spec = await writeSpec(dir, { members: 1, etcd: { version: mainLine } });
    const up = await upDetached(cleanup, spec);
    const c = client(up.endpoints[0] as string);
    await fill(c, 600);
    await c.delete('/frag/', { prefix: true }); // ~9 MiB of old revisions, in use until compacted
    const elsewhere = await tempDir(cleanup, 'defrag-one-cwd'); // no steward.yaml there
    const run = (...args: string[]) =>
      runCli(
        [
          'defrag',
          '--endpoints',
          up.endpoints.join(','),
          '--compact',
          '--rule',
          'dbSizeFree > 6MiB',
          '-o',
          'json',
          ...args,
        ],
        {
          cwd: elsewhere,
          env: { ETCD_STEWARD_CACHE: path.join(dir, 'cache') },
        },
      );

    const dry = await run('--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    const planned = dry.json<DefragReport>();
    assert.equal(planned.plan[0]?.ruleHolds, false, 'not compacted yet: little is free');
    assert.equal(planned.compaction?.revision, null, 'a dry run does not compact');

    const r = await run();
    assert.equal(r.code, 0, r.stderr);
    const report = r.json<DefragReport>();
    assert.match(
      report.preflight.warnings.join(),
      /single-member cluster cannot serve while it is defragmented/,
    );
    assert.ok((report.compaction?.revision ?? 0) > 600);
    assert.ok((report.plan[0]?.dbSizeFree ?? 0) > 6 * MiB, 'after the compaction the rule sees the space');
    assert.deepEqual(
      report.results.map((m) => [m.role, m.outcome, m.leadershipMovedTo]),
      [['leader', 'defragmented', null]],
    );
    assert.ok((report.results[0]?.reclaimed ?? 0) > 6 * MiB);
    const file = path.join(dir, 'cache', 'history', `cluster-${up.status.clusterId}`, 'defrag-history.jsonl');
    assert.equal(report.historyFile, file);
    assert.deepEqual(
      (await readDefragHistory<DefragReport>(file)).map((h) => [h.outcome, h.cluster.id]),
      [['done', up.status.clusterId]],
    );
  });

  it('a bad rule: exit 2 with its column, before anything is contacted', async () => {
    const r = await runCli(['defrag', '--endpoints', '127.0.0.1:1', '--rule', 'dbSize >> 5']);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /error: invalid defrag rule 'dbSize >> 5' at column 8: '>>' is not an operator in a rule/,
    );
    assert.match(r.stderr, /\n {2}dbSize >> 5\n {9}\^\n/);
    assert.match(
      r.stderr,
      /hint: a rule is a CEL expression over dbSize, dbSizeInUse, dbSizeFree, dbQuota, dbQuotaUsage/,
    );
    const unknown = await runCli([
      'defrag',
      '--endpoints',
      '127.0.0.1:1',
      '--rule',
      'freeBytes > 1MiB',
      '-o',
      'json',
    ]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stdout, '');
    assert.match(
      unknown.stderr,
      /at column 1: unknown variable 'freeBytes'; a rule can use dbSize, dbSizeInUse/,
    );
  });

  it(`${mainLine}: NOSPACE does not block a defrag (--compact), which then disarms it and writes work again`, async () => {
    const dir = await tempDir(cleanup, 'defrag-nospace');
    const spec = await writeSpec(dir, { etcd: { version: mainLine, quotaBackendBytes: '16MiB' } });
    const up = await upDetached(cleanup, spec);
    const c = client(up.endpoints[0] as string);
    const value = Buffer.alloc(64 * 1024, 'n');
    let failure: Error | undefined;
    for (let i = 0; i < 1000 && !failure; i += 8) {
      const batch = Array.from({ length: 8 }, (_, k) => c.put(`/full/${i + k}`, value));
      const settled = await Promise.allSettled(batch);
      failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')?.reason as
        Error | undefined;
    }
    assert.match(String(failure?.message), /database space exceeded/);
    assert.ok(
      (await c.alarms()).some((a) => a.alarm === 'NOSPACE'),
      'the NOSPACE alarm fired',
    );
    assert.equal((await status(spec)).code, 1, 'status counts the alarm');
    await c.delete('/full/', { prefix: true });

    const r = await runCli(['--config', spec, 'defrag', '--compact', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const report = r.json<DefragReport>();
    assert.equal(report.preflight.ok, true);
    assert.ok(report.preflight.alarms.some((a) => a.alarm === 'NOSPACE'));
    assert.ok(report.compaction?.revision !== undefined && report.compaction.revision > 0);
    assert.deepEqual(
      report.results.map((m) => m.outcome),
      ['defragmented', 'defragmented', 'defragmented'],
      'the default rule holds: over 80% of the quota',
    );
    assert.ok(report.results.every((m) => (m.dbSizeAfter ?? Infinity) < 0.5 * 16 * MiB));
    assert.ok(report.alarmsDisarmed.length > 0 && report.alarmsDisarmed.every((a) => a.alarm === 'NOSPACE'));
    assert.deepEqual(report.alarmsLeft, []);
    assert.deepEqual(await c.alarms(), [], 'disarmed');
    await c.put('/after', 'writes work again');
    assert.equal((await c.get('/after'))[0]?.value.toString(), 'writes work again');
    assert.equal((await status(spec)).code, 0);
  });
});
