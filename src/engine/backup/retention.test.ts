import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackupManifest } from './manifest.js';
import { planPrune } from './retention.js';

const now = new Date('2026-11-25T12:00:00Z');

function backup(name: string, hoursAgo: number, verified = true): BackupManifest {
  return {
    format: 1,
    name,
    object: `${name}.db.gz`,
    source: 'snapshot',
    cluster: { name: 'etcd', id: '1' },
    member: { id: '2', name: 'etcd-1', endpoint: 'http://127.0.0.1:1' },
    etcdVersion: '3.6.16',
    storageVersion: '3.6.0',
    revision: 100,
    compactRevision: null,
    raftIndex: 10,
    raftTerm: 2,
    size: 1,
    storedSize: 1,
    keyCount: 1,
    sha256: 'x',
    etcdSha256: 'y',
    compression: 'gzip',
    createdAt: new Date(now.getTime() - hoursAgo * 3_600_000).toISOString(),
    durationMs: 1,
    importedFrom: null,
    lastVerification: { at: now.toISOString(), ok: verified, by: 'create', problems: [] },
    drill: null,
    encryption: null,
  };
}

const names = (list: readonly { name: string }[]) => list.map((x) => x.name).sort();

describe('retention', () => {
  it('keeps the newest N', () => {
    const plan = planPrune(
      [backup('a', 4), backup('b', 3), backup('c', 2), backup('d', 1)],
      { keepLast: 2 },
      now,
    );
    assert.deepEqual(names(plan.keep), ['c', 'd']);
    assert.deepEqual(names(plan.remove), ['a', 'b']);
  });

  it('removes what is older than the maximum age', () => {
    const plan = planPrune(
      [backup('a', 50), backup('b', 30), backup('c', 1)],
      { maxAgeMs: 48 * 3_600_000 },
      now,
    );
    assert.deepEqual(names(plan.remove), ['a']);
  });

  it('applies both rules: kept only when among the newest N and young enough', () => {
    const plan = planPrune(
      [backup('a', 50), backup('b', 30), backup('c', 20), backup('d', 1)],
      { keepLast: 3, maxAgeMs: 24 * 3_600_000 },
      now,
    );
    assert.deepEqual(names(plan.keep), ['c', 'd']);
    assert.deepEqual(names(plan.remove), ['a', 'b']);
  });

  it('never removes the newest verified backup, whatever the rule says', () => {
    // The two newest failed verification: keepLast 1 would leave only a failed one.
    const plan = planPrune(
      [backup('a', 5), backup('b', 4), backup('c', 3, false), backup('d', 2, false)],
      { keepLast: 1 },
      now,
    );
    assert.deepEqual(names(plan.keep), ['b', 'd']);
    assert.equal(plan.keep.find((k) => k.name === 'b')?.reason, 'the newest verified backup is always kept');
    // Everything too old: the newest verified one still stays.
    const old = planPrune([backup('a', 100), backup('b', 90)], { maxAgeMs: 3_600_000 }, now);
    assert.deepEqual(names(old.keep), ['b']);
    assert.deepEqual(names(old.remove), ['a']);
  });

  it('removes nothing from an empty or small catalog', () => {
    assert.deepEqual(planPrune([], { keepLast: 2 }, now), { keep: [], remove: [] });
    assert.equal(planPrune([backup('a', 1)], { keepLast: 2 }, now).remove.length, 0);
  });
});
