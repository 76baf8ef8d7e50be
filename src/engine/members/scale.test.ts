// Scaling through `up` against real local clusters: 3 → 5 → 3 under a steady write load (every
// acknowledged write reads back; a leader at every poll; the removed leader hands over first),
// a crash between two membership steps of a grow and of a shrink, each finished by running `up`
// again, and the warning for an even size. The pure choices (which
// member a shrink removes, the even-size text) are checked first.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { loadSpecFile } from '../../config/load.js';
import type { Spec } from '../../config/spec.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient } from '../../etcd/member-client.js';
import { readState } from '../../runtime/local/state.js';
import { Cleanup, binariesFor, tempDir, testLines, upDetached, writeSpec } from '../../testing/harness.js';
import { upCluster, type UpOptions } from '../up.js';
import { evenSizeWarning, shrinkOrder } from './scale.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const line = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');
const connection = { dialTimeoutMs: 2_000, commandTimeoutMs: 10_000 };

class Crash extends Error {}

describe('scale choices', () => {
  it('a shrink removes the highest-numbered members first', () => {
    assert.deepEqual(shrinkOrder(['etcd-0', 'etcd-10', 'etcd-2', 'etcd-9', 'etcd-1'], 2), [
      'etcd-10',
      'etcd-9',
    ]);
    assert.deepEqual(shrinkOrder(['etcd-0', 'etcd-1'], 0), []);
  });

  it('warns about even sizes and says why', () => {
    assert.equal(evenSizeWarning(3), undefined);
    assert.equal(evenSizeWarning(1), undefined);
    const four = evenSizeWarning(4) ?? '';
    assert.match(four, /4 members need 3 for quorum and survive 1 failure, no more than 3 members do/);
    assert.match(evenSizeWarning(2) ?? '', /2 members need 2 for quorum and survive 0 failures/);
  });
});

async function startCluster(label: string): Promise<{ spec: Spec; first: MemberClient }> {
  const dir = await tempDir(cleanup, label);
  const specFile = await writeSpec(dir, { etcd: { version: line } });
  const up = await upDetached(cleanup, specFile);
  const spec = await loadSpecFile(specFile);
  const first = new MemberClient(parseEndpoint(up.endpoints[0] as string), connection);
  cleanup.add(() => Promise.resolve(first.close()));
  return { spec, first };
}

async function up(spec: Spec, members: number, extra: Partial<UpOptions> = {}) {
  const progress: string[] = [];
  const result = await upCluster({
    spec: { ...spec, members },
    binaries: await binariesFor(line),
    connection,
    onProgress: (m) => progress.push(m),
    ...extra,
  });
  result.runtime.detach();
  return { result, progress };
}

describe(`scaling with up on etcd ${line}`, () => {
  it('3 → 5 → 3 under a steady write load: no acknowledged write lost, a leader at every poll', async () => {
    const { spec, first } = await startCluster('scale-load');
    let running = true;
    const acked: string[] = [];
    let failedWrites = 0;
    const writer = (async () => {
      for (let i = 0; running; i += 1) {
        const key = `/load/${String(i).padStart(6, '0')}`;
        try {
          await first.put(key, `value-${i}`);
          acked.push(key);
        } catch {
          failedWrites += 1;
        }
        await sleep(5);
      }
    })();
    // A poll asks etcd-0 (never removed) who leads. A leadership hand-off (the shrink moves it
    // off a member before removing it) leaves followers without a leader for a few milliseconds;
    // a lost quorum lasts until it is back. So a poll that sees no leader asks again 200 ms later
    // (a fraction of the 1 s election timeout), and only two misses in a row count.
    const leads = () =>
      first.status().then(
        (st) => (st.leaderId !== '' && !/^0+$/.test(st.leaderId) ? 'leader' : 'no leader'),
        (error: Error) => `no answer: ${error.message}`,
      );
    const polls: { at: number; seen: string }[] = [];
    const poller = (async () => {
      while (running) {
        let seen = await leads();
        if (seen !== 'leader') {
          await sleep(200);
          const again = await leads();
          seen = again === 'leader' ? 'leader' : `${seen}, then ${again}`;
        }
        polls.push({ at: Date.now(), seen });
        await sleep(100);
      }
    })();

    const grown = await up(spec, 5);
    assert.equal(grown.result.scale?.changes.length, 2);
    assert.deepEqual(
      grown.result.scale?.changes.map((c) => `${c.operation} ${c.member}`),
      ['add etcd-3', 'add etcd-4'],
    );
    assert.equal(grown.result.status.members.length, 5);
    assert.ok(grown.result.status.healthy);
    const listed = await first.memberList();
    assert.equal(listed.filter((m) => !m.isLearner).length, 5, 'five voting members');

    // Hand leadership to etcd-4, the first member the shrink removes: it must move it away first.
    const members = await first.memberList();
    const leaderId = (await first.status()).leaderId;
    const target = members.find((m) => m.name === 'etcd-4');
    assert.ok(target);
    if (leaderId !== target.id) {
      const leaderUrl = members.find((m) => m.id === leaderId)?.clientUrls[0] as string;
      const leader = new MemberClient(parseEndpoint(leaderUrl), connection);
      try {
        await leader.moveLeader(target.id, 10_000);
      } finally {
        leader.close();
      }
    }
    const shrunk = await up(spec, 3);
    assert.deepEqual(
      shrunk.result.scale?.changes.map((c) => `${c.operation} ${c.member}`),
      ['remove etcd-4', 'remove etcd-3'],
    );
    const moved = shrunk.result.scale?.changes[0]?.steps.find((st) => st.step === 'move-leader');
    assert.equal(moved?.outcome, 'done', moved?.detail);
    assert.deepEqual((await first.memberList()).map((m) => m.name).sort(), ['etcd-0', 'etcd-1', 'etcd-2']);
    assert.deepEqual(
      (await readState(spec.dataDir))?.members.map((m) => m.name),
      ['etcd-0', 'etcd-1', 'etcd-2'],
    );

    running = false;
    await Promise.all([writer, poller]);
    assert.ok(
      acked.length > 100,
      `the load kept writing (${acked.length} acknowledged, ${failedWrites} failed)`,
    );
    const stored = new Set((await first.get('/load/', { prefix: true })).map((kv) => kv.key.toString()));
    const lost = acked.filter((k) => !stored.has(k));
    assert.deepEqual(lost, [], 'every acknowledged write reads back');
    const leaderless = polls.filter((p) => p.seen !== 'leader');
    assert.ok(polls.length > 20, `polled the whole run (${polls.length} polls)`);
    assert.deepEqual(
      leaderless,
      [],
      `a leader at each of ${polls.length} polls: ${JSON.stringify(leaderless)}`,
    );
  });

  it('a crash between two steps (grow, then shrink), then up again, finishes; an even size warns', async () => {
    const { spec, first } = await startCluster('scale-crash');
    await assert.rejects(
      up(spec, 4, {
        afterStep: (step) => {
          if (step === 'add-learner') throw new Crash(`crash after ${step}`);
        },
      }),
      Crash,
    );
    const half = await first.memberList();
    assert.equal(half.length, 4);
    assert.equal(half.filter((m) => m.isLearner).length, 1, 'the crash left an unstarted learner');

    const again = await up(spec, 4);
    assert.ok(
      again.progress.some((m) => /warning: members: 4 is even: 4 members need 3 for quorum/.test(m)),
      again.progress.join('\n'),
    );
    assert.deepEqual(again.result.warnings.length, 1);
    assert.ok(
      again.progress.some((m) => /finishing the add of etcd-3/.test(m)),
      again.progress.join('\n'),
    );
    const steps = again.result.scale?.changes[0]?.steps.map((s) => `${s.step}:${s.outcome}`);
    assert.deepEqual(steps, [
      'record:skipped',
      'move-stale-data:skipped',
      'add-learner:skipped',
      'start:done',
      'promote:done',
      'wait-healthy:done',
    ]);
    const full = await first.memberList();
    assert.equal(full.filter((m) => !m.isLearner).length, 4, 'four voting members');
    assert.ok(again.result.status.healthy);
    // Nothing left to do: a third run changes nothing.
    const third = await up(spec, 4);
    assert.equal(third.result.scale, undefined);

    // Back to 3, crashing right after etcd-3 left the cluster: the rerun stops and forgets it.
    await assert.rejects(
      up(spec, 3, {
        afterStep: (step) => {
          if (step === 'remove') throw new Crash(`crash after ${step}`);
        },
      }),
      Crash,
    );
    assert.equal((await first.memberList()).length, 3);
    assert.equal((await readState(spec.dataDir))?.members.length, 4, 'etcd-3 is still recorded');
    const finished = await up(spec, 3);
    const removeSteps = finished.result.scale?.changes[0]?.steps ?? [];
    assert.equal(finished.result.scale?.changes[0]?.member, 'etcd-3');
    assert.deepEqual(
      removeSteps.filter((st) => st.step !== 'stop').map((st) => `${st.step}:${st.outcome}`),
      ['check:skipped', 'move-leader:skipped', 'remove:skipped', 'forget:done'],
    );
    assert.deepEqual(
      (await readState(spec.dataDir))?.members.map((m) => m.name),
      ['etcd-0', 'etcd-1', 'etcd-2'],
    );
    assert.equal(finished.result.warnings.length, 0);
  });
});
