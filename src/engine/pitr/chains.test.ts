// Chains, recovery windows, retention of segments and restore planning: pure functions over
// backup manifests and segment listings (no etcd needed).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackupManifest } from '../backup/manifest.js';
import { continuation, describeChains, recoveryWindows, unneededSegments } from './chains.js';
import { planPointInTime } from './plan.js';
import type { SegmentRef } from './segment.js';

const backup = (name: string, revision: number, minute: number) =>
  ({
    name,
    revision,
    createdAt: `2026-12-04T10:${String(minute).padStart(2, '0')}:00.000Z`,
  }) as BackupManifest;
const segment = (first: number, last: number, minute: number): SegmentRef => ({
  firstRevision: first,
  lastRevision: last,
  firstTimeMs: Date.parse(`2026-12-04T10:${String(minute).padStart(2, '0')}:00.000Z`),
  lastTimeMs: Date.parse(`2026-12-04T10:${String(minute).padStart(2, '0')}:30.000Z`),
  object: `o${first}`,
  manifest: `m${first}`,
  storedSize: 10,
});

// Snapshot a@10, log 11..40, a gap, snapshot b@60 (the healing one), log 61..90, snapshot c@75.
const backups = [backup('a', 10, 0), backup('b', 60, 20), backup('c', 75, 25)];
const segments = [segment(11, 20, 1), segment(21, 40, 2), segment(61, 80, 21), segment(81, 90, 26)];

describe('chains', () => {
  it('a snapshot is continued by the segments up to the first hole', () => {
    assert.deepEqual(continuation(segments, 10).toRevision, 40);
    assert.deepEqual(continuation(segments, 60).toRevision, 90);
    assert.deepEqual(continuation(segments, 75).toRevision, 90, 'a segment spanning the snapshot counts');
    assert.deepEqual(continuation(segments, 45).toRevision, 45, 'no segment starts at 46');
  });

  it('windows merge where chains touch; a gap splits them', () => {
    const windows = recoveryWindows(describeChains(backups, segments));
    assert.deepEqual(
      windows.map((w) => [w.fromRevision, w.toRevision]),
      [
        [10, 40],
        [60, 90],
      ],
    );
  });

  it('retention keeps every segment a kept snapshot needs, and nothing when no snapshot is kept', () => {
    assert.deepEqual(
      unneededSegments(segments, [backups[1] as BackupManifest, backups[2] as BackupManifest]).map(
        (s) => s.firstRevision,
      ),
      [11, 21],
    );
    assert.deepEqual(
      unneededSegments(segments, [backups[2] as BackupManifest]).map((s) => s.firstRevision),
      [11, 21],
      'the segment 61..80 spans revision 75: c needs it',
    );
    assert.deepEqual(unneededSegments(segments, []), []);
  });

  it('a restore plan takes the newest snapshot at or before the target whose log reaches it', () => {
    assert.equal(planPointInTime(backups, segments, { revision: 30 }).base.name, 'a');
    assert.equal(planPointInTime(backups, segments, { revision: 70 }).base.name, 'b');
    const late = planPointInTime(backups, segments, { revision: 85 });
    assert.equal(late.base.name, 'c');
    assert.deepEqual(
      late.segments.map((s) => s.firstRevision),
      [61, 81],
    );
    assert.throws(
      () => planPointInTime(backups, segments, { revision: 50 }),
      /revision 50 is outside what can be restored: .*revisions 10\.\.40 .*revisions 60\.\.90/,
    );
    assert.throws(() => planPointInTime(backups, segments, { revision: 95 }), /outside/);
    assert.throws(() => planPointInTime(backups, segments, { revision: 30 }, 'b'), /outside/);
    const byTime = planPointInTime(backups, segments, { timeMs: Date.parse('2026-12-04T10:21:10Z') });
    assert.equal(byTime.base.name, 'b');
    assert.deepEqual(
      byTime.segments.map((s) => s.firstRevision),
      [61],
    );
  });
});
