// `etcd-steward upgrade` / `downgrade` against real clusters (real binaries, small data): 3.5 → 3.6
// → 3.7 under a write load with every acknowledged write read back and no long leaderless
// stretch; refusals naming the floor and a removed flag; a member whose new binary will not start
// stops the run and `upgrade --to` the old version brings the cluster back; the process killed
// after three different steps and rerun finishes the job; downgrade 3.6 → 3.5 through etcd's API.
import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { UpgradeReport } from '../../engine/upgrade/upgrade.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient } from '../../etcd/member-client.js';
import { resolveEtcdRelease } from '../../runtime/etcd-binaries.js';
import { binariesFor, Cleanup, runCli, tempDir, upDetached, writeSpec } from '../../testing/harness.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const connection = { dialTimeoutMs: 2000, commandTimeoutMs: 10_000 };
const ELECTION_MS = 1000;
const LONG = { timeoutMs: 600_000 };

async function cluster(label: string, etcd: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) {
  const dir = await tempDir(cleanup, label);
  const spec = await writeSpec(dir, {
    etcd: { version: '3.5', snapshotCount: 200, electionTimeoutMs: ELECTION_MS, ...etcd },
    backup: { storage: `file://${path.join(dir, 'backups')}` },
  });
  const up = await upDetached(cleanup, spec, env);
  return { dir, spec, endpoints: up.endpoints, up };
}

function client(endpoint: string): MemberClient {
  const c = new MemberClient(parseEndpoint(endpoint), connection);
  cleanup.add(() => Promise.resolve(c.close()));
  return c;
}

async function upgrade(spec: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await runCli(['--config', spec, ...args, '-o', 'json'], { ...LONG, env });
  return { ...r, report: r.stdout.trim() ? r.json<UpgradeReport>() : undefined };
}

/** Puts keys round-robin over the members until stopped; records every acknowledged one. */
function writeLoad(endpoints: readonly string[]) {
  const clients = endpoints.map(client);
  const acked: string[] = [];
  let failed = 0;
  let stopped = false;
  const done = (async () => {
    for (let i = 0; !stopped; i += 1) {
      const key = `/load/${String(i).padStart(6, '0')}`;
      try {
        await clients[i % clients.length]!.put(key, `v${i}`);
        acked.push(key);
      } catch {
        failed += 1;
        await sleep(20);
      }
    }
  })();
  return {
    acked,
    failedCount: () => failed,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

/** Polls every member's status every ~100 ms; the longest stretch no answering member led. */
function leaderWatch(endpoints: readonly string[]) {
  const clients = endpoints.map(client);
  let longest = 0;
  let since: number | undefined;
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const answers = await Promise.all(
        clients.map((c) =>
          c.status().then(
            (s) => s,
            () => undefined,
          ),
        ),
      );
      const led = answers.some((s) => s && s.leaderId === s.memberId);
      const now = Date.now();
      if (led) {
        if (since !== undefined) longest = Math.max(longest, now - since);
        since = undefined;
      } else since ??= now;
      await sleep(100);
    }
  })();
  return {
    longest: () => longest,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

async function versions(endpoints: readonly string[]): Promise<string[]> {
  return Promise.all(
    endpoints.map((e) =>
      client(e)
        .status()
        .then((s) => s.version),
    ),
  );
}

describe('upgrade and downgrade', { concurrency: true }, () => {
  it('3.5 → 3.6 → 3.7 under a write load: no acknowledged write lost, no long leaderless stretch', async () => {
    const { spec, endpoints } = await cluster('upg-main');
    const v36 = (await binariesFor('3.6')).version;
    const v37 = (await binariesFor('3.7')).version;
    const load = writeLoad(endpoints);
    const watch = leaderWatch(endpoints);
    await sleep(500);
    const first = await upgrade(spec, ['upgrade', '--to', '3.6']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.report?.outcome, 'done');
    assert.match(first.report?.clusterVersion ?? '', /^3\.6\./);
    assert.ok(first.report?.backup, 'a backup was taken first');
    for (const name of [
      'target',
      'members healthy',
      'one version',
      'patch floor',
      'flags',
      'v2store',
      'backup',
    ])
      assert.ok(
        first.report?.checks.some((c) => c.name === name && c.ok),
        `${name} passed`,
      );
    assert.deepEqual(await versions(endpoints), [v36, v36, v36]);
    const second = await upgrade(spec, ['upgrade', '--to', '3.7']);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.report?.clusterVersion ?? '', /^3\.7\./);
    assert.deepEqual(await versions(endpoints), [v37, v37, v37]);
    await sleep(500);
    await load.stop();
    await watch.stop();
    assert.ok(load.acked.length > 50, `writes went on (${load.acked.length} acknowledged)`);
    const reader = client(endpoints[0]!);
    for (const key of load.acked) {
      const [kv] = await reader.get(key);
      assert.ok(kv, `acknowledged ${key} reads back`);
    }
    assert.ok(
      watch.longest() <= 2 * ELECTION_MS + 500,
      `longest stretch without a leader: ${watch.longest()} ms`,
    );
    // The leader went last: the last step of each run is the member that led when it began.
    const lastOf = (r: UpgradeReport | undefined) => r?.steps.at(-1)?.member;
    assert.ok(lastOf(first.report) && lastOf(second.report));
  });

  it('refuses 3.5.16 naming the floor, and a spec flag 3.6 removed; nothing changes', async () => {
    const old = await resolveEtcdRelease('3.5.16');
    const { spec, endpoints } = await cluster(
      'upg-refuse',
      { extraArgs: ['--enable-v2=false'] },
      { ETCD_BIN: old.etcd },
    );
    const r = await upgrade(spec, ['upgrade', '--to', '3.6']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.report?.outcome, 'refused');
    const floor = r.report?.checks.find((c) => c.name === 'patch floor');
    assert.equal(floor?.ok, false);
    assert.match(floor?.detail ?? '', /only from 3\.5\.32 on .*runs 3\.5\.16/);
    const flags = r.report?.checks.find((c) => c.name === 'flags');
    assert.equal(flags?.ok, false);
    assert.match(flags?.detail ?? '', /refuses --enable-v2/);
    assert.match(r.stderr, /upgrade refused, nothing was changed/);
    assert.deepEqual(await versions(endpoints), ['3.5.16', '3.5.16', '3.5.16']);
    assert.ok(!r.report?.backup, 'no backup for a refused run');
  });

  it('a member whose new binary will not start stops the run; upgrade --to the old version brings it back', async () => {
    const { dir, spec, endpoints, up } = await cluster('upg-fail');
    const v35 = (await binariesFor('3.5')).version;
    const real = (await binariesFor('3.6')).etcd;
    const followers = up.status.members
      .filter((m) => !m.isLeader)
      .map((m) => m.name as string)
      .sort();
    const victim = followers[1]!;
    const fake = path.join(dir, 'broken-3.6');
    await mkdir(fake);
    await writeFile(
      path.join(fake, 'etcd'),
      `#!/bin/sh\nfor a in "$@"; do case "$a" in --name=${victim}) echo "injected: will not start" >&2; exit 3;; esac; done\nexec ${real} "$@"\n`,
    );
    await chmod(path.join(fake, 'etcd'), 0o755);
    const r = await upgrade(spec, [
      '--etcd-bin',
      path.join(fake, 'etcd'),
      'upgrade',
      '--to',
      '3.6',
      '--skip-backup-i-have-one',
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.report?.outcome, 'failed');
    assert.match(
      r.report?.error ?? '',
      new RegExp(`${victim} did not start on etcd 3\\.6.*injected: will not start`),
    );
    assert.equal(r.report?.wayBack, `etcd-steward upgrade --to ${v35}`);
    const state = new Map(r.report?.members.map((m) => [m.member, m.version]));
    assert.match(state.get(followers[0]!) ?? '', /^3\.6\./);
    assert.ok(!state.get(victim), 'the victim is down');
    const back = await upgrade(spec, ['upgrade', '--to', v35]);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(back.report?.outcome, 'done');
    assert.deepEqual(await versions(endpoints), [v35, v35, v35]);
    assert.ok(back.report?.members.every((m) => m.healthy));
  });

  it('killed after three different steps, each rerun goes on; then downgrade 3.6 → 3.5 through the API', async () => {
    const { spec, endpoints, up } = await cluster('upg-crash');
    const v35 = (await binariesFor('3.5')).version;
    const v36 = (await binariesFor('3.6')).version;
    const leader = up.status.members.find((m) => m.isLeader)!.name as string;
    const follower = up.status.members
      .filter((m) => !m.isLeader)
      .map((m) => m.name as string)
      .sort()[0]!;
    for (const step of ['note', `member ${follower}`, `leadership from ${leader}`]) {
      const r = await upgrade(spec, ['upgrade', '--to', '3.6'], { ETCD_STEWARD_CRASH_AFTER_STEP: step });
      assert.equal(r.code, null, `killed after '${step}': ${r.stderr}`);
    }
    const done = await upgrade(spec, ['upgrade', '--to', '3.6']);
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.report?.resumed, true);
    assert.deepEqual(await versions(endpoints), [v36, v36, v36]);
    assert.equal(done.report?.steps.find((s) => s.member === follower)?.outcome, 'skipped');
    // Going back is now the downgrade API's job; a plain `upgrade --to 3.5` is refused.
    const refused = await upgrade(spec, ['upgrade', '--to', '3.5']);
    assert.equal(refused.code, 1);
    assert.match(refused.report?.error ?? '', /downgrade --to/);
    const load = writeLoad(endpoints); // raft snapshots move the storage version down
    const down = await upgrade(spec, ['downgrade', '--to', '3.5']);
    await load.stop();
    assert.equal(down.code, 0, down.stderr);
    assert.ok(down.report?.checks.some((c) => c.name === 'downgrade validate' && c.ok));
    assert.match(down.report?.clusterVersion ?? '', /^3\.5\./);
    assert.deepEqual(await versions(endpoints), [v35, v35, v35]);
  });
});
