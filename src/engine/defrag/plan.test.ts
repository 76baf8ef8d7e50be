// The defrag plan and pre-flight, from a cluster status given as data: the order (learners and
// followers, the leader last), the hand-over, deadlines, and what blocks a run. Pure: no etcd.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterStatus, MemberStatusRow } from '../status.js';
import { assessPreflight, buildPlan, chooseTransferee, defragDeadlineMs, defragHealth } from './plan.js';
import { compileRule } from './rule.js';

const MiB = 2 ** 20;

const row = (over: Partial<MemberStatusRow>): MemberStatusRow => ({
  endpoint: 'e',
  id: 'a',
  name: undefined,
  version: '3.6.16',
  storageVersion: undefined,
  dbSize: 100 * MiB,
  dbSizeInUse: 10 * MiB,
  fragmentationPercent: 90,
  quota: 2 * 2 ** 30,
  quotaSource: 'member',
  quotaUsePercent: 5,
  isLeader: false,
  isLearner: false,
  leaderId: 'c',
  raftTerm: 2,
  raftIndex: 100,
  raftAppliedIndex: 100,
  errors: [],
  alarms: [],
  health: { ok: true, error: undefined, tookMs: 1 },
  ...over,
});

describe('defrag plan', () => {
  it('the plan: learners and followers in the order given, the leader last; the deadline grows with the size', () => {
    const status: ClusterStatus = {
      clusterId: 'x',
      leaderId: 'c',
      healthy: true,
      leaderName: undefined,
      membersAsked: 3,
      membersInCluster: 3,
      unasked: [],
      members: [
        row({ endpoint: 'e1', id: 'c', isLeader: true }),
        row({ endpoint: 'e2', id: 'a', dbSizeInUse: 100 * MiB }),
        row({ endpoint: 'e3', id: 'b' }),
        row({ endpoint: 'e4', id: 'd', isLearner: true }),
      ],
    };
    const plan = buildPlan(status, compileRule('dbSizeFree > 1MiB'));
    assert.deepEqual(
      plan.map((p) => [p.order, p.id, p.role, p.ruleHolds, p.wouldReclaim]),
      [
        [1, 'd', 'learner', true, 90 * MiB],
        [2, 'a', 'follower', false, 0],
        [3, 'b', 'follower', true, 90 * MiB],
        [4, 'c', 'leader', true, 90 * MiB],
      ],
    );
    // Leadership goes to a voter that is done (no second hand-over), never to a learner.
    assert.equal(chooseTransferee(status, 'c', new Set(['b']), 1000)?.id, 'b');
    assert.equal(chooseTransferee(status, 'c', new Set(['d']), 1000)?.id, 'a');
    assert.equal(defragDeadlineMs(0), 60_000);
    assert.equal(defragDeadlineMs(100 * MiB), 70_000);
    assert.equal(defragDeadlineMs(8 * 2 ** 30), 60_000 + 82 * 10_000);
  });

  it('pre-flight: NOSPACE is no obstacle, CORRUPT and unknown alarms are, and so are lag, 2 members, a missing member', () => {
    const noSpaceErrors = ['memberID:123 alarm:NOSPACE '];
    const leader = row({ endpoint: 'e1', id: 'c', isLeader: true, errors: noSpaceErrors });
    const withAlarm = row({
      endpoint: 'e2',
      id: 'a',
      alarms: ['NOSPACE'],
      errors: noSpaceErrors,
      health: { ok: false, error: 'active alarm: NOSPACE', tookMs: 1 },
    });
    const other = row({
      endpoint: 'e3',
      id: 'b',
      errors: noSpaceErrors,
      health: { ok: false, error: noSpaceErrors.join('; '), tookMs: 1 },
    });
    assert.equal(defragHealth(withAlarm).ok, true);
    assert.equal(defragHealth(other).ok, true);
    const corrupt = row({
      id: 'a',
      alarms: ['CORRUPT'],
      health: { ok: false, error: 'active alarm: CORRUPT', tookMs: 1 },
    });
    assert.deepEqual(defragHealth(corrupt), { ok: false, error: 'active alarm: CORRUPT', alarmOnly: true });
    const down = row({
      id: undefined,
      health: { ok: false, error: 'unreachable: ECONNREFUSED', tookMs: undefined },
    });
    assert.equal(defragHealth(down).ok, false);

    const members = (ids: string[]) =>
      ids.map((id) => ({
        id,
        name: `m-${id}`,
        peerUrls: [],
        clientUrls: [`http://${id}`],
        isLearner: false,
      }));
    const status: ClusterStatus = {
      clusterId: 'x',
      leaderId: 'c',
      healthy: false,
      leaderName: undefined,
      membersAsked: 3,
      membersInCluster: 3,
      unasked: [],
      members: [leader, withAlarm, other],
    };
    const input = { status, memberList: members(['a', 'b', 'c']), maxAppliedLag: 1000 };
    const ok = assessPreflight({ ...input, alarms: [{ memberId: 'a', alarm: 'NOSPACE' }] });
    assert.deepEqual(ok.problems, []);
    assert.match(ok.warnings.join(), /NOSPACE alarm on/);
    const bad = assessPreflight({
      ...input,
      alarms: [
        { memberId: 'b', alarm: 'CORRUPT' },
        { memberId: 'a', alarm: 'SOMETHING' },
      ],
    });
    assert.equal(bad.ok, false);
    assert.match(bad.problems.join('\n'), /CORRUPT alarm on e3 \(b\)/);
    assert.match(bad.problems.join('\n'), /SOMETHING alarm on e2 \(a\)/);
    const lagging = assessPreflight({
      ...input,
      alarms: [],
      status: { ...status, members: [leader, withAlarm, { ...other, raftAppliedIndex: 5000 }] },
    });
    assert.match(
      lagging.problems.join(),
      /raft applied indexes are 4900 apart \(allowed: 1000\); behind: e1 \(c\) at 100, e2 \(a\) at 100/,
    );
    const missing = assessPreflight({ ...input, alarms: [], memberList: members(['a', 'b', 'c', 'z']) });
    assert.match(
      missing.problems.join(),
      /the endpoints cover 3 of 4 members; not given: m-z \(http:\/\/z\)/,
    );
    const two = assessPreflight({
      ...input,
      alarms: [],
      status: { ...status, members: [leader, other] },
      memberList: members(['b', 'c']),
    });
    assert.match(two.problems.join(), /2-member cluster loses its quorum/);
    const one = assessPreflight({
      ...input,
      alarms: [],
      status: { ...status, members: [leader] },
      memberList: members(['c']),
    });
    assert.equal(one.ok, true);
    assert.match(one.warnings.join(), /single-member cluster/);
  });
});
