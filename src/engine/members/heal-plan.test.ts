// The pure healing decisions: lost data → replace, stopped with intact data → restart, running
// but unhealthy (cut off) → report only, caught-up learner → promote, an unfinished replace →
// finish it, and every action blocked with "would need quorum" when the healthy voters are too few.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MemberStatusRow } from '../status.js';
import { dataVerdict, planHealing, type HostedMemberFacts } from './heal-plan.js';
import type { Survey, SurveyedMember } from './survey.js';

const url = (n: number) => `http://127.0.0.1:${2380 + n}`;

/** Member n: 'ok' (a healthy voter), 'down' (no answer), 'learner' (caught up) or 'cut' (answers, no leader). */
function surveyed(n: number, how: 'ok' | 'down' | 'learner' | 'cut'): SurveyedMember {
  const ok = how === 'ok';
  const status =
    how === 'down'
      ? undefined
      : ({
          id: `m${n}`,
          leaderId: how === 'cut' ? '0' : 'm0',
          raftAppliedIndex: 1000,
          alarms: [],
          health: {
            ok,
            error: ok ? undefined : how === 'learner' ? 'rpc not supported for learner' : 'no leader',
            tookMs: undefined,
          },
        } as unknown as MemberStatusRow);
  return {
    id: `m${n}`,
    name: `etcd-${n}`,
    peerUrls: [url(n)],
    clientUrls: [],
    isLearner: how === 'learner',
    started: true,
    status,
  };
}

function cluster(...hows: ('ok' | 'down' | 'learner' | 'cut')[]): Survey {
  const members = hows.map((how, n) => surveyed(n, how));
  const leads = hows[0] === 'ok';
  return { clusterId: 'c', leaderId: leads ? 'm0' : undefined, leaderRaftIndex: 1000, members };
}

function facts(n: number, over: Partial<HostedMemberFacts> = {}): HostedMemberFacts {
  return {
    name: `etcd-${n}`,
    peerUrl: url(n),
    running: true,
    dataDir: 'present',
    dataProblems: undefined,
    replaceUnfinished: false,
    ...over,
  };
}

describe('healing plan (no etcd)', () => {
  it('a healthy cluster needs nothing', () => {
    assert.deepEqual(planHealing(cluster('ok', 'ok', 'ok'), [facts(0), facts(1), facts(2)]), []);
  });

  it('lost or damaged data → replace; stopped with intact data → restart; running → report only', () => {
    for (const [over, action] of [
      [{ running: false, dataDir: 'missing' }, 'replace'],
      [{ running: false, dataDir: 'empty' }, 'replace'],
      [{ running: false, dataProblems: ['meta page 0: bad checksum'] }, 'replace'],
      [{ running: false, dataProblems: [] }, 'restart'],
      [{ running: true }, undefined],
    ] as const) {
      const plan = planHealing(cluster('ok', 'ok', 'down'), [facts(0), facts(1), facts(2, over)]);
      assert.equal(plan.length, 1, JSON.stringify(over));
      assert.equal(plan[0]?.member, 'etcd-2');
      assert.equal(plan[0]?.action, action, JSON.stringify(plan[0]));
      assert.equal(plan[0]?.blocked, undefined);
    }
    const damaged = planHealing(cluster('ok', 'ok', 'down'), [
      facts(0),
      facts(1),
      facts(2, { running: false, dataProblems: ['meta page 0: bad checksum'] }),
    ]);
    assert.match(
      damaged[0]?.condition ?? '',
      /unreachable, not running, data fails the offline check: meta page 0/,
    );
  });

  it('a member cut off (answers, no leader) with its data is only reported', () => {
    const plan = planHealing(cluster('ok', 'ok', 'cut'), [facts(0), facts(1), facts(2)]);
    assert.equal(plan[0]?.action, undefined);
    assert.match(plan[0]?.condition ?? '', /^no leader, running, data present/);
    assert.match(plan[0]?.reason ?? '', /only reported/);
  });

  it('without a quorum every action says "would need quorum"', () => {
    const plan = planHealing(cluster('ok', 'down', 'down'), [
      facts(0),
      facts(1, { running: false, dataDir: 'missing' }),
      facts(2, { running: false, dataDir: 'missing' }),
    ]);
    assert.equal(plan.length, 2);
    for (const f of plan) {
      assert.equal(f.action, 'replace');
      assert.match(f.blocked ?? '', /^would need quorum: 1 of 3 voting members are healthy and 2 are needed/);
    }
    const leaderless = planHealing({ ...cluster('ok', 'ok', 'down'), leaderId: undefined }, [
      facts(2, { running: false, dataDir: 'missing' }),
    ]);
    assert.match(leaderless[0]?.blocked ?? '', /would need quorum.*\(no leader\)/);
  });

  it('removing the member would lose quorum (2 voters, one down) → blocked', () => {
    const plan = planHealing(cluster('ok', 'down'), [
      facts(0),
      facts(1, { running: false, dataDir: 'missing' }),
    ]);
    // 1 of 2 healthy is not a quorum of 2: blocked before the removal is even weighed
    assert.match(plan[0]?.blocked ?? '', /would need quorum/);
  });

  it('a caught-up learner is promoted; an unfinished replace is finished; non-members are left to scaling', () => {
    const plan = planHealing(cluster('ok', 'ok', 'learner'), [
      facts(0),
      facts(1, { replaceUnfinished: true }),
      facts(2),
      facts(7),
    ]);
    assert.deepEqual(
      plan.map((f) => [f.member, f.action]),
      [
        ['etcd-1', 'replace'],
        ['etcd-2', 'promote'],
      ],
    );
  });

  it('data verdicts', () => {
    assert.deepEqual(dataVerdict(facts(0, { dataProblems: [] })), {
      usable: true,
      why: 'data intact (offline check passed)',
    });
    assert.equal(dataVerdict(facts(0, { dataDir: 'missing' })).usable, false);
  });
});
