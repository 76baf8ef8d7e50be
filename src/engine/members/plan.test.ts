// The pure membership decisions: quorum kept or lost on removal, the last voter, learners,
// where leadership goes, the initial cluster of a joining member, when a learner is caught up.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MemberStatusRow } from '../status.js';
import { caughtUp, checkRemoval, chooseNewLeader, initialCluster, quorumOf } from './plan.js';
import type { Survey, SurveyedMember } from './survey.js';

function member(
  id: string,
  opts: { learner?: boolean; healthy?: boolean; applied?: number } = {},
): SurveyedMember {
  const healthy = opts.healthy ?? true;
  const status = {
    id,
    leaderId: 'a',
    raftAppliedIndex: opts.applied ?? 100,
    alarms: [],
    health: opts.learner
      ? { ok: false, error: 'rpc not supported for learner', tookMs: undefined }
      : { ok: true, error: undefined, tookMs: 1 },
  } as unknown as MemberStatusRow;
  return {
    id,
    name: `m-${id}`,
    peerUrls: [`http://127.0.0.1:1${id.charCodeAt(0)}/`],
    clientUrls: [],
    isLearner: opts.learner ?? false,
    started: true,
    status: healthy ? status : undefined,
  };
}

function survey(...members: SurveyedMember[]): Survey {
  return { clusterId: 'c', leaderId: 'a', leaderRaftIndex: 100, members };
}

describe('membership plan (no etcd)', () => {
  it('quorum sizes', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map(quorumOf), [1, 2, 2, 3, 3]);
  });

  it('removing a voter keeps quorum only with a healthy majority of those left', () => {
    assert.deepEqual(checkRemoval(survey(member('a'), member('b'), member('c')), 'c'), { ok: true });
    const lost = checkRemoval(survey(member('a'), member('b', { healthy: false }), member('c')), 'c');
    assert.equal(lost.ok, false);
    assert.match(
      lost.ok ? '' : lost.reason,
      /would lose quorum: 2 voting members would be left, 1 of them healthy/,
    );
    assert.match(lost.ok ? '' : lost.consequence, /stop accepting reads and writes until 1 more/);
    // the dead member itself may go: the two left are healthy
    assert.deepEqual(checkRemoval(survey(member('a'), member('b', { healthy: false }), member('c')), 'b'), {
      ok: true,
    });
  });

  it('the last voter is refused, a learner is always removable, a healthy learner does not count for quorum', () => {
    const last = checkRemoval(survey(member('a'), member('l', { learner: true })), 'a');
    assert.equal(last.ok, false);
    assert.match(last.ok ? '' : last.reason, /last voting member/);
    assert.deepEqual(checkRemoval(survey(member('a'), member('l', { learner: true })), 'l'), { ok: true });
    const withLearner = checkRemoval(
      survey(member('a'), member('b', { healthy: false }), member('c'), member('l', { learner: true })),
      'c',
    );
    assert.equal(withLearner.ok, false);
  });

  it('leadership goes to the healthy voter least behind, never a learner', () => {
    const s = survey(
      member('a'),
      member('b', { applied: 90 }),
      member('c', { applied: 99 }),
      member('l', { learner: true, applied: 100 }),
      member('d', { healthy: false }),
    );
    assert.equal(chooseNewLeader(s, 'a')?.id, 'c');
    assert.equal(chooseNewLeader(survey(member('a'), member('l', { learner: true })), 'a'), undefined);
  });

  it('initial cluster: own name for self, names for the others, the id for one never started', () => {
    const members = [
      { id: '1', name: 'etcd-0', peerUrls: ['http://127.0.0.1:1'] },
      { id: '2', name: '', peerUrls: ['http://127.0.0.1:2'] },
      { id: '3', name: '', peerUrls: ['http://127.0.0.1:3'] },
    ];
    assert.equal(
      initialCluster(members, 'http://127.0.0.1:3/', 'etcd-2'),
      'etcd-0=http://127.0.0.1:1,unstarted-2=http://127.0.0.1:2,etcd-2=http://127.0.0.1:3',
    );
  });

  it('a learner is caught up within the lag, not beyond it, and not when its index is unknown', () => {
    assert.equal(caughtUp(survey(member('a')), member('l', { learner: true, applied: 95 })), true);
    assert.equal(caughtUp(survey(member('a')), member('l', { learner: true, applied: 10 }), 50), false);
    assert.equal(caughtUp(survey(member('a')), member('l', { learner: true, healthy: false })), false);
  });
});
