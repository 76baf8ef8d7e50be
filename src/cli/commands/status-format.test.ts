// The status table as people see it: compact columns that fit 100 columns, every column with
// -o wide, no rules between rows, and narrowed to the terminal's width (COLUMNS).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterStatus, MemberStatusRow } from '../../engine/status.js';
import { fitWidths, renderTable } from '../output.js';
import { formatStatus } from './status-format.js';

function member(i: number, over: Partial<MemberStatusRow> = {}): MemberStatusRow {
  return {
    endpoint: `http://127.0.0.1:2379${i}`,
    id: `8e9e05c52164694${i}`,
    name: `etcd-${i}`,
    version: '3.6.16',
    storageVersion: '3.6.0',
    dbSize: 20_480 * (i + 1),
    dbSizeInUse: 16_384,
    fragmentationPercent: 20,
    quota: 8 * 1024 ** 3,
    quotaSource: 'member',
    quotaUsePercent: 0,
    isLeader: i === 0,
    isLearner: false,
    leaderId: '8e9e05c521646940',
    raftTerm: 2,
    raftIndex: 1234,
    raftAppliedIndex: 1234,
    errors: [],
    alarms: [],
    health: { ok: true, tookMs: 3 },
    ...over,
  } as MemberStatusRow;
}

const status: ClusterStatus = {
  clusterId: 'cdf818194e3a8c32',
  leaderId: '8e9e05c521646940',
  healthy: true,
  leaderName: undefined,
  membersAsked: 3,
  membersInCluster: 3,
  unasked: [],
  members: [0, 1, 2].map((i) => member(i)),
};

const widest = (text: string) => Math.max(...text.split('\n').map((l) => l.length));

describe('status table', () => {
  it('compact by default: fits 100 columns, one row per member, no rules between rows', () => {
    const text = formatStatus(status, 'table');
    assert.ok(widest(text) <= 100, `${widest(text)} columns:\n${text}`);
    for (const head of ['NAME', 'VERSION', 'DB SIZE', 'IN USE', 'QUOTA USE', 'LEADER', 'HEALTH', 'ALARMS'])
      assert.match(text, new RegExp(head));
    assert.doesNotMatch(text, /RAFT|APPLIED|TERM/);
    const lines = text.split('\n');
    // top rule, head, 3 rows, bottom rule, summary
    assert.equal(lines.length, 7, text);
    assert.match(lines[6] ?? '', /healthy, 3 members, leader 8e9e05c521646940 \(etcd-0\)/);
  });

  it('without names the member column is the endpoint, and still fits 100 columns', () => {
    const text = formatStatus({ ...status, members: status.members.map((m) => ({ ...m, name: undefined })) });
    assert.match(text, /ENDPOINT/);
    assert.doesNotMatch(text, /NAME/);
    assert.ok(widest(text) <= 100, `${widest(text)} columns:\n${text}`);
  });

  it('-o wide shows every column', () => {
    const text = formatStatus(status, 'wide');
    for (const head of [
      'NAME',
      'ENDPOINT',
      'ID',
      'FRAG',
      'QUOTA ',
      'LEARNER',
      'TERM',
      'INDEX',
      'APPLIED',
      'ERRORS',
    ])
      assert.match(text, new RegExp(head));
  });

  it('a table wider than the terminal is narrowed, its widest cells wrapped', () => {
    const rows = [['a'.repeat(50), 'b'.repeat(40)]];
    const text = renderTable(['ONE', 'TWO'], rows, 60);
    assert.ok(widest(text) <= 60, text);
    assert.equal(text.split('a').length - 1, 50, 'nothing is cut, only wrapped');
    assert.equal(renderTable(['ONE'], [['x']], undefined).split('\n').length, 4, 'top, head, row, bottom');
  });

  it('fitWidths narrows the widest first and leaves fitting tables alone', () => {
    assert.equal(fitWidths([10, 20], 40), undefined);
    assert.deepEqual(fitWidths([10, 30], 30), [10, 20]);
    assert.deepEqual(fitWidths([20, 20], 30), [15, 15]);
  });
});

describe('status summary', () => {
  it('a partial view is never healthy: it says how many of how many were asked and names the leader', () => {
    const partial: ClusterStatus = {
      ...status,
      healthy: false,
      leaderName: 'etcd-0',
      membersAsked: 1,
      membersInCluster: 3,
      unasked: [
        { id: '8e9e05c521646940', name: 'etcd-0', clientUrls: ['http://a'] },
        { id: '8e9e05c521646942', name: undefined, clientUrls: ['http://c'] },
      ],
      members: [member(1, { isLeader: false })],
    };
    const last = formatStatus(partial).split('\n').at(-1) ?? '';
    assert.equal(
      last,
      'cluster cdf818194e3a8c32: PARTIAL VIEW: 1 of 3 members asked (not asked: etcd-0, 8e9e05c521646942; --cluster asks every member), leader 8e9e05c521646940 (etcd-0, not asked)',
    );
    const failing = formatStatus({
      ...partial,
      members: [member(1, { health: { ok: false, error: 'boom', tookMs: undefined } })],
    });
    assert.match(failing, /UNHEALTHY: 1 of 1 members failing, 1 of 3 members asked/);
  });
});
