// `defrag --continue-on-error` with a real failure: one follower's member folder is a small tmpfs,
// filled up once the data is in, so its Defragment call (which writes a temp copy of the db next
// to it) fails with "no space left on device" while the member keeps serving. Without the flag
// the run stops at that member (exit 1, the leader after it untouched); with it the leader is
// still defragmented and the failure is reported. Needs root (mount); skipped otherwise.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, statfs } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import type { DefragReport } from '../../engine/defrag/defrag.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient } from '../../etcd/member-client.js';
import { Cleanup, runCli, tempDir, testLines, upDetached, writeSpec } from '../../testing/harness.js';

const exec = promisify(execFile);
const cleanup = new Cleanup();
after(() => cleanup.run());
const line = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');
const connection = { dialTimeoutMs: 5000, commandTimeoutMs: 60_000 };
const MiB = 2 ** 20;
const isRoot = process.getuid?.() === 0;

function client(endpoint: string): MemberClient {
  const c = new MemberClient(parseEndpoint(endpoint), connection);
  cleanup.add(() => Promise.resolve(c.close()));
  return c;
}

describe('defrag --continue-on-error', () => {
  it(
    `${line}: a follower whose disk is full fails its defrag; the run stops there, or goes on with the flag`,
    { skip: isRoot ? false : 'needs root to mount a tmpfs' },
    async () => {
      const dir = await tempDir(cleanup, 'defrag-enospc');
      const spec = await writeSpec(dir, { etcd: { version: line } });
      // etcd-1's member folder (data, WAL with its two preallocated 64 MiB segments, log) on a
      // 256 MiB tmpfs. Unmounted after the members are killed (cleanups run in reverse).
      const small = path.join(dir, 'data', 'etcd-1');
      await mkdir(small, { recursive: true });
      await exec('mount', ['-t', 'tmpfs', '-o', 'size=256m', 'tmpfs', small]);
      cleanup.add(() => exec('umount', ['-l', small]));
      const up = await upDetached(cleanup, spec);
      const byName = new Map(up.status.members.map((m) => [m.name, m]));
      const [m0, m1, m2] = ['etcd-0', 'etcd-1', 'etcd-2'].map((n) => byName.get(n));
      assert.ok(m0 && m1 && m2);

      // etcd-2 leads, so the order is etcd-0, etcd-1 (the full one), then etcd-2.
      const leader = up.status.members.find((m) => m.isLeader);
      if (leader && leader.id !== m2.id) await client(leader.endpoint).moveLeader(m2.id, 30_000);

      // 24 MiB of live data: the defrag's temp copy of etcd-1's db needs about that much.
      const c = client(m2.endpoint);
      const value = Buffer.alloc(16 * 1024, 'd');
      for (let i = 0; i < 1536; i += 32) {
        await Promise.all(
          Array.from({ length: 32 }, (_, j) => c.put(`/live/${String(i + j).padStart(5, '0')}`, value)),
        );
      }
      // Fill the tmpfs up to 8 MiB: room for the cluster's small writes, not for a copy of the db.
      const fs = await statfs(small);
      const free = fs.bavail * fs.bsize;
      assert.ok(free > 16 * MiB, `tmpfs has ${free} bytes free`);
      await exec('fallocate', ['-l', String(free - 8 * MiB), path.join(small, 'filler')]);

      const defrag = (...flags: string[]) =>
        runCli(['--config', spec, 'defrag', '--rule', 'dbSize > 0', '-o', 'json', ...flags]);

      // Without the flag: etcd-0 defragmented, etcd-1 failed, etcd-2 not touched.
      const stopped = await defrag();
      assert.equal(stopped.code, 1, stopped.stderr);
      const first = stopped.json<DefragReport>();
      assert.equal(first.outcome, 'failed');
      assert.deepEqual(
        first.results.map((r) => [r.name, r.outcome]),
        [
          ['etcd-0', 'defragmented'],
          ['etcd-1', 'failed'],
          ['etcd-2', 'skipped:stopped'],
        ],
      );
      assert.match(first.results[1]?.error ?? '', /no space left on device/i);
      assert.equal(first.leadershipMoves.length, 0, 'the leader was not reached');

      // The member whose defrag failed still serves.
      const status = await runCli(['--config', spec, 'status', '-o', 'json']);
      assert.equal(status.code, 0, status.stdout);

      // With the flag: etcd-1 fails again, the leader's turn still comes.
      const goneOn = await defrag('--continue-on-error');
      assert.equal(goneOn.code, 1, 'a failed member is still a failed run');
      const second = goneOn.json<DefragReport>();
      assert.equal(second.outcome, 'failed');
      assert.equal(second.continueOnError, true);
      assert.deepEqual(
        second.results.map((r) => [r.name, r.outcome]),
        [
          ['etcd-0', 'defragmented'],
          ['etcd-1', 'failed'],
          ['etcd-2', 'defragmented'],
        ],
      );
      assert.match(second.results[1]?.error ?? '', /no space left on device/i);
      assert.equal(second.leadershipMoves.length, 1, 'leadership moved before the former leader');
      assert.equal(second.leadershipMoves[0]?.from.id, m2.id);
    },
  );
});
