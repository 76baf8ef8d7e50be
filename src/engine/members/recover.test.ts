// `recover` (quorum loss) against real local clusters. On every etcd line: a backup is taken,
// more writes follow (new keys, overwrites, deletes), then two of three members are SIGKILLed and
// their data dirs wiped. The plan (`recover -o json`, a real CLI process) must name the survivor
// as the furthest source and say exactly what the backup would lose — checked against the
// cluster's own history read before the kill, not against the reader. `recover --yes` must give
// three healthy voters holding every acknowledged write, with member lists that agree. With a
// live quorum it refuses. On the main line a crash after chosen steps, then a rerun, finishes.
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { loadSpecFile } from '../../config/load.js';
import type { EtcdLine } from '../../config/etcd-lines.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient } from '../../etcd/member-client.js';
import { LocalMembershipHost } from '../../runtime/local/membership.js';
import { openStorage } from '../../storage/open.js';
import type { BackupStorage } from '../../storage/storage.js';
import { startChangeLog } from '../pitr/changelog.js';
import {
  Cleanup,
  binariesFor,
  runCli,
  tempDir,
  testLines,
  upDetached,
  writeSpec,
} from '../../testing/harness.js';
import { recoverCluster, type RecoverOptions, type RecoverReport } from './recover.js';

const cleanup = new Cleanup();
after(() => cleanup.run());
const mainLine: EtcdLine = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');
const connection = { dialTimeoutMs: 2_000, commandTimeoutMs: 10_000 };

class Crash extends Error {}

function client(url: string): MemberClient {
  const c = new MemberClient(parseEndpoint(url), connection);
  cleanup.add(() => Promise.resolve(c.close()));
  return c;
}

interface Setup {
  dir: string;
  specFile: string;
  options: RecoverOptions;
  urls: Map<string, string>;
  /** SIGKILLs the members and (unless `wipe` is false) removes their data dirs. */
  kill(names: readonly string[], wipe?: boolean): Promise<void>;
}

async function setup(label: string, line: EtcdLine): Promise<Setup> {
  const dir = await tempDir(cleanup, label);
  const specFile = await writeSpec(dir, { etcd: { version: line }, backup: { storage: './backups' } });
  const up = await upDetached(cleanup, specFile);
  await mkdir(path.join(dir, 'backups'));
  const spec = await loadSpecFile(specFile);
  const binaries = await binariesFor(line);
  const host = new LocalMembershipHost(spec, binaries);
  const urls = new Map((await host.members()).map((m) => [m.name, m.clientUrl]));
  assert.equal(up.endpoints.length, 3);
  return {
    dir,
    specFile,
    urls,
    options: {
      host,
      connection,
      spec,
      binaries,
      storage: await openStorage(spec.backup?.storage as string),
      timeoutMs: 60_000,
    },
    async kill(names, wipe = true) {
      const state = JSON.parse(await readFile(path.join(dir, 'data', 'state.json'), 'utf8')) as {
        members: { name: string; pid: number | null }[];
      };
      for (const name of names) {
        const pid = state.members.find((m) => m.name === name)?.pid;
        if (pid) process.kill(pid, 'SIGKILL');
        while (await host.isRunning(name)) await sleep(20);
        if (wipe) await rm(path.join(dir, 'data', name, 'data'), { recursive: true, force: true });
      }
    },
  };
}

/** Live keys (no bookkeeping keys) as key → value@modRevision, at `revision` or the latest. */
async function keyMap(c: MemberClient, revision?: number): Promise<Map<string, string>> {
  const kvs = await c.get('/', revision === undefined ? { prefix: true } : { prefix: true, revision });
  return new Map(kvs.map((kv) => [kv.key.toString(), `${kv.value.toString()}@${kv.modRevision}`]));
}

/** What a source at `behind` loses against `ahead`: keys missing, older, and deleted in `ahead`. */
function expectedLoss(behind: Map<string, string>, ahead: Map<string, string>) {
  let missing = 0;
  let older = 0;
  let resurrected = 0;
  for (const [k, v] of ahead) {
    if (!behind.has(k)) missing += 1;
    else if (behind.get(k) !== v) older += 1;
  }
  for (const k of behind.keys()) if (!ahead.has(k)) resurrected += 1;
  return { missing, older, resurrected };
}

async function writeHistory(s: Setup): Promise<{
  backupRevision: number;
  final: Map<string, string>;
  atBackup: Map<string, string>;
  revision: number;
}> {
  const w = client(s.urls.get('etcd-0') as string);
  for (let i = 0; i < 60; i += 1) await w.put(`/r/a/${i}`, `a${i}`);
  const backup = await runCli(['--config', s.specFile, 'backup', 'create', '-o', 'json']);
  assert.equal(backup.code, 0, backup.stderr);
  const backupRevision = backup.json<{ backup: { revision: number } }>().backup.revision;
  for (let i = 0; i < 25; i += 1) await w.put(`/r/b/${i}`, `b${i}`);
  for (let i = 0; i < 7; i += 1) await w.put(`/r/a/${i}`, `changed${i}`);
  for (let i = 50; i < 54; i += 1) await w.delete(`/r/a/${i}`);
  const { revision } = await w.put('/r/last', 'acknowledged');
  return { backupRevision, atBackup: await keyMap(w, backupRevision), final: await keyMap(w), revision };
}

async function checkWhole(s: Setup, report: RecoverReport, final: Map<string, string>): Promise<void> {
  assert.equal(report.members.length, 3, JSON.stringify(report.members));
  const ids = new Set(report.members.map((m) => m.id));
  for (const [name, url] of s.urls) {
    const c = client(url);
    const list = await c.memberList();
    assert.deepEqual(new Set(list.map((m) => m.id)), ids, `${name}'s member list`);
    assert.ok(
      list.every((m) => !m.isLearner),
      `${name}: no learners`,
    );
    const keys = await keyMap(c);
    const values = (m: Map<string, string>) =>
      [...m].map(([k, v]) => `${k}=${v.replace(/@\d+$/, '')}`).sort();
    assert.deepEqual(values(keys), values(final), `${name} holds every acknowledged write`);
  }
  await client(s.urls.get('etcd-1') as string).put('/r/after', 'writes work');
}

describe('recover after quorum loss', () => {
  for (const line of testLines()) {
    it(`${line}: plan figures match what is really missing; --yes gives three healthy agreeing members`, async () => {
      const s = await setup(`recover-${line}`, line);
      const history = await writeHistory(s);
      await s.kill(['etcd-1', 'etcd-2']);

      const planRun = await runCli(['--config', s.specFile, 'recover', '-o', 'json']);
      assert.equal(planRun.code, 0, planRun.stderr);
      const plan = planRun.json<RecoverReport>().plan;
      assert.ok(plan);
      assert.equal(plan.chosen.source.name, 'etcd-0');
      assert.deepEqual(
        plan.lost.map((l) => l.name),
        ['etcd-1', 'etcd-2'],
      );
      const survivor = plan.options.find((o) => o.source.name === 'etcd-0');
      const backup = plan.options.find((o) => o.source.name === 'backup');
      assert.ok(survivor && backup?.source.kind === 'backup');
      assert.equal(
        survivor.source.revision,
        history.revision,
        'the survivor is at the last acknowledged revision',
      );
      assert.ok(survivor.source.kind === 'member' && (survivor.source.consistentIndex ?? 0) > 0);
      assert.equal(backup.source.revision, history.backupRevision);
      assert.ok(
        survivor.losses.every((l) => l.revisions === 0 && l.keys === 0),
        'the survivor loses nothing',
      );
      const loss = backup.losses.find((l) => l.against === 'etcd-0');
      const expected = expectedLoss(history.atBackup, history.final);
      assert.deepEqual(
        {
          revisions: loss?.revisions,
          missing: loss?.missing,
          older: loss?.older,
          resurrected: loss?.resurrected,
        },
        { revisions: history.revision - history.backupRevision, ...expected },
      );
      assert.equal(expected.missing, 26); // 25 under /r/b/ and /r/last
      assert.equal(expected.older, 7);
      assert.equal(expected.resurrected, 4);

      const yes = await runCli(['--config', s.specFile, 'recover', '--yes'], { timeoutMs: 180_000 });
      assert.equal(yes.code, 0, `${yes.stderr}\n${yes.stdout}`);
      assert.match(yes.stderr, /force-new-cluster: /);
      assert.match(yes.stdout, /recovered: etcd-0 \(\w+\), etcd-1 \(\w+\), etcd-2 \(\w+\)/);
      const list = await runCli(['--config', s.specFile, 'member', 'list', '-o', 'json']);
      const members = list.json<{ members: { name: string; id: string }[] }>().members;
      await checkWhole(
        s,
        { plan: undefined, continued: undefined, executed: true, steps: [], members },
        history.final,
      );
      // The lost members' (empty) data dirs were not deleted: nothing to move; the survivor kept its data.
      assert.ok((await readdir(path.join(s.dir, 'data', 'etcd-0', 'data'))).includes('member'));
    });
  }

  it(`${mainLine}: the backup + change log is further than a lagging survivor: the plan picks it, --yes restores every write`, async () => {
    const s = await setup('recover-backup', mainLine);
    const log = await startChangeLog({
      clusterName: 'etcd',
      endpoints: [...s.urls.values()],
      connection,
      storage: s.options.storage as BackupStorage,
      flushIntervalMs: 200,
      segmentMaxBytes: 64 * 1024,
      compression: 'gzip',
    });
    cleanup.add(() => log.stop());
    const w = client(s.urls.get('etcd-0') as string);
    for (let i = 0; i < 30; i += 1) await w.put(`/r/a/${i}`, `a${i}`);
    const backup = await runCli(['--config', s.specFile, 'backup', 'create', '-o', 'json']);
    assert.equal(backup.code, 0, backup.stderr);
    for (let i = 0; i < 10; i += 1) await w.put(`/r/b/${i}`, `b${i}`);
    // etcd-2 stops here, having applied everything so far: the survivor that lags.
    const lagging = client(s.urls.get('etcd-2') as string);
    const { raftIndex } = await w.status();
    while ((await lagging.status()).raftAppliedIndex < raftIndex) await sleep(20);
    // Applied is not yet in the bolt file: etcd commits its backend every 100 ms (the WAL has it
    // at once). recover reads the bolt file offline, so give the commit time before the kill.
    await sleep(500);
    const atKill = await keyMap(w);
    const killRevision = (await w.get('/r/b/9'))[0]?.modRevision;
    await s.kill(['etcd-2'], false);
    // If etcd-2 led, the other two elect a new leader first: the first write waits for that.
    for (let tries = 0; ; tries += 1) {
      try {
        await w.put('/r/c/0', 'c0');
        break;
      } catch (error) {
        if (tries >= 60) throw error;
        await sleep(500);
      }
    }
    for (let i = 1; i < 10; i += 1) await w.put(`/r/c/${i}`, `c${i}`);
    await w.delete('/r/a/0');
    const { revision } = await w.put('/r/a/1', 'changed');
    const final = await keyMap(w);
    const deadline = Date.now() + 60_000;
    while (log.stats().lastFlushedRevision < revision) {
      assert.ok(Date.now() < deadline, `change log stuck: ${JSON.stringify(log.stats())}`);
      await sleep(50);
    }
    await log.stop();
    await s.kill(['etcd-0', 'etcd-1']);

    const planned = await recoverCluster(s.options);
    const plan = planned.plan;
    assert.ok(plan && !planned.executed);
    assert.equal(plan.chosen.source.name, 'backup', plan.reason);
    assert.equal(plan.chosen.source.revision, revision);
    const survivor = plan.options.find((o) => o.source.name === 'etcd-2');
    const loss = survivor?.losses.find((l) => l.against === 'backup');
    assert.ok(survivor && killRevision);
    assert.equal(survivor.source.revision, killRevision);
    assert.deepEqual(
      {
        revisions: loss?.revisions,
        missing: loss?.missing,
        older: loss?.older,
        resurrected: loss?.resurrected,
      },
      { revisions: revision - killRevision, ...expectedLoss(atKill, final) },
    );
    assert.ok(
      plan.chosen.losses.every((l) => l.keys === 0),
      'the backup + log loses nothing',
    );

    const report = await recoverCluster({ ...s.options, yes: true });
    assert.deepEqual(
      report.steps.map((x) => [x.step, x.outcome]),
      [
        ['note', 'done'],
        ['stop-all', 'skipped'],
        ['restore', 'done'],
        ['check-members', 'done'],
        ['clear-note', 'done'],
      ],
    );
    await checkWhole(s, report, final);
    // The lagging survivor's data was moved aside with the old data dir, not deleted.
    const aside = (await readdir(s.dir)).filter((e) => e.startsWith('data.replaced-'));
    assert.equal(aside.length, 1);
    assert.ok((await readdir(path.join(s.dir, aside[0] as string, 'etcd-2', 'data'))).includes('member'));
  });

  it(`${mainLine}: refused while a quorum is reachable`, async () => {
    const s = await setup('recover-refused', mainLine);
    await s.kill(['etcd-2']);
    const r = await runCli(['--config', s.specFile, 'recover', '--yes']);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /still has a quorum: .*etcd-0.*serve/);
    assert.match(r.stderr, /member replace/);
    assert.equal(await s.options.host.readRecoverNote(), undefined, 'nothing noted');
  });

  it('kubernetes: refused with the manual path named', async () => {
    const dir = await tempDir(cleanup, 'recover-k8s');
    const specFile = await writeSpec(dir, { runtime: 'kubernetes' });
    const r = await runCli(['--config', specFile, 'recover']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /the kubernetes runtime cannot recover from quorum loss/);
    assert.match(r.stderr, /restore latest --runtime kubernetes --apply/);
    assert.match(r.stderr, /--force-new-cluster/);
  });

  it(`${mainLine}: a crash after a step, then a rerun, finishes the job`, async () => {
    const s = await setup('recover-crash', mainLine);
    const w = client(s.urls.get('etcd-0') as string);
    for (let i = 0; i < 50; i += 1) await w.put(`/c/${i}`, `v${i}`);
    const crashPoints = ['force-new-cluster', 'etcd-1/add-learner', 'etcd-2/start'];
    for (const crashAt of crashPoints) {
      await w.put('/c/round', crashAt);
      const final = await keyMap(w);
      await s.kill(['etcd-1', 'etcd-2']);
      const seen: string[] = [];
      await assert.rejects(
        recoverCluster({
          ...s.options,
          yes: true,
          afterStep: (step) => {
            seen.push(step);
            if (step === crashAt) throw new Crash(`crash after ${step}`);
          },
        }),
        Crash,
      );
      assert.ok(await s.options.host.readRecoverNote(), `crash after ${crashAt}: the note stays`);
      const rerun = await recoverCluster({ ...s.options, yes: true });
      const done = rerun.steps.filter((x) => x.outcome === 'done').map((x) => x.step);
      for (const step of ['note', 'force-new-cluster', 'etcd-1/add-learner', 'etcd-2/add-learner']) {
        if (seen.includes(step))
          assert.ok(!done.includes(step), `crash after ${crashAt}: ${step} done again`);
      }
      assert.ok(rerun.continued, 'the rerun continued the noted recover');
      await checkWhole(s, rerun, final);
      assert.equal(await s.options.host.readRecoverNote(), undefined);
    }
  });
});
