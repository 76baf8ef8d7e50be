// The agent against real clusters. Every supported line: the API (status, history, backups,
// defrag plan and run, jobs, OpenAPI, dashboard fallback) and /metrics, parsed with a Prometheus
// text parser (and `promtool check metrics` when installed), carrying the right values after a
// backup and after a defrag. The main line: a failing backup shows in metrics, jobs and problems;
// the token is enforced off-loopback; SIGTERM during a backup exits 0 leaving nothing listed; the
// spec blocks are validated.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { clusterTarget, type GlobalOptions } from '../cli/context.js';
import { startAgentFor } from '../cli/commands/serve.js';
import { parseSpec } from '../config/load.js';
import type { BackupManifest } from '../engine/backup/manifest.js';
import { DEFAULT_DEFRAG_RULE } from '../engine/defrag/rule.js';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient } from '../etcd/member-client.js';
import { InputError } from '../errors.js';
import {
  CLI,
  Cleanup,
  runCli,
  scrubbedEnv,
  tempDir,
  testLines,
  upDetached,
  writeSpec,
} from '../testing/harness.js';
import type { Agent } from './agent.js';
import type { Job } from './jobs.js';
import { createLogger } from './logger.js';

const exec = promisify(execFile);
const cleanup = new Cleanup();
after(() => cleanup.run());
const mainLine = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');
const connection = { dialTimeoutMs: 5000, commandTimeoutMs: 60_000 };
const quiet = () => createLogger({ destination: new Writable({ write: (_c, _e, cb) => cb() }) });

/** An in-process agent for the spec's cluster (as `serve` starts it), closed at cleanup. */
async function agentFor(spec: string, env: Record<string, string> = {}): Promise<Agent> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const options: GlobalOptions = { config: spec, output: 'json' };
    const agent = await startAgentFor(options, await clusterTarget(options), quiet());
    cleanup.add(() => agent.close());
    return agent;
  } finally {
    for (const key of Object.keys(env)) if (saved[key] === undefined) delete process.env[key];
  }
}

async function get<T>(agent: Agent, route: string): Promise<T> {
  const response = await fetch(`${agent.url}${route}`);
  assert.equal(response.status, 200, `${route}: ${await response.clone().text()}`);
  return (await response.json()) as T;
}

async function post(
  agent: Agent,
  route: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; json: { job?: Job; error?: string; hint?: string } }> {
  const response = await fetch(`${agent.url}${route}`, {
    method: 'POST',
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as { job?: Job; error?: string } };
}

/** Waits until the job has finished (generous deadline, no timing assertion). */
async function finished(agent: Agent, id: string): Promise<Job> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const job = await get<Job>(agent, `/api/jobs/${id}`);
    if (job.finishedAt !== null) return job;
    if (Date.now() > deadline) assert.fail(`job ${id} did not finish: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** name{labels} → value, from /metrics parsed by a Prometheus text-format parser. */
async function metrics(agent: Agent): Promise<Map<string, number>> {
  const response = await fetch(`${agent.url}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  const values = new Map<string, number>();
  for (const family of parsePrometheusTextFormat(text)) {
    assert.match(family.name, /^etcd_steward_/);
    for (const sample of family.metrics) {
      const labels = Object.entries(sample.labels ?? {})
        .filter(([k]) => k !== 'cluster')
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      for (const key of Object.keys(sample.labels ?? {}))
        assert.ok(
          ['cluster', 'member', 'alarm', 'job', 'version'].includes(key),
          `bounded labels only: ${key}`,
        );
      values.set(labels ? `${family.name}{${labels}}` : family.name, Number(sample.value));
    }
  }
  if (existsSync('/usr/bin/promtool')) {
    const file = path.join(await tempDir(cleanup, 'metrics'), 'metrics.txt');
    await writeFile(file, text);
    const result = await exec('sh', ['-c', `/usr/bin/promtool check metrics < ${file}`]).then(
      ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({
        code: error.code,
        output: error.stdout + error.stderr,
      }),
    );
    // Exit 3 is lint only; the one lint allowed is the contract's name etcd_steward_backup_count
    // (a gauge whose name ends in _count, which promtool expects of histograms only).
    const lints = result.output.split('\n').filter((l) => l.trim() !== '');
    const allowed = (l: string) =>
      /^etcd_steward_backup_count non-histogram and non-summary metrics should not have "_count" suffix$/.test(
        l,
      );
    assert.ok(
      result.code === 0 || (result.code === 3 && lints.every(allowed)),
      `promtool check metrics (exit ${result.code}):\n${result.output}`,
    );
  }
  return values;
}

function metric(values: Map<string, number>, key: string): number {
  const value = values.get(key);
  assert.ok(value !== undefined, `metric ${key} is present: ${[...values.keys()].join(' ')}`);
  return value;
}

/**
 * Some 16 KiB keys written then deleted and compacted; then waits until the agent's metrics show
 * more than 2 MiB free on every member. bbolt releases the pages a compaction freed only at a
 * member's next write, so each round grants and revokes a lease (a write on every member).
 */
async function fragment(agent: Agent, endpoint: string, count: number): Promise<Map<string, number>> {
  const c = new MemberClient(parseEndpoint(endpoint), connection);
  try {
    const value = Buffer.alloc(16 * 1024, 'f');
    const puts: Promise<unknown>[] = [];
    for (let i = 0; i < count; i += 1) {
      puts.push(c.put(`/frag/${String(i).padStart(5, '0')}`, value));
      if (puts.length === 32) await Promise.all(puts.splice(0));
    }
    await Promise.all(puts);
    const { revision } = await c.delete('/frag/', { prefix: true });
    await c.compact(revision, true, 60_000);
    const deadline = Date.now() + 60_000;
    for (;;) {
      await c.revokeLease(await c.grantLease(60));
      await new Promise((r) => setTimeout(r, 1200)); // the next status poll
      const m = await metrics(agent);
      const free = MEMBERS.map(
        (x) =>
          metric(m, `etcd_steward_member_db_size_bytes{member=${x}}`) -
          metric(m, `etcd_steward_member_db_size_in_use_bytes{member=${x}}`),
      );
      if (free.every((f) => f > 2 * 2 ** 20)) return m;
      if (Date.now() > deadline) assert.fail(`members did not show the free space: ${free.join(', ')}`);
    }
  } finally {
    c.close();
  }
}

const MEMBERS = ['etcd-0', 'etcd-1', 'etcd-2'];

describe('agent API and metrics, every line', () => {
  for (const line of testLines()) {
    it(`etcd ${line}: status, backups, defrag, jobs and metrics`, async () => {
      const dir = await tempDir(cleanup, `agent-${line}`);
      const spec = await writeSpec(dir, {
        etcd: { version: line },
        backup: { storage: './backups', retention: { keepLast: 3 } },
        defrag: { rule: 'dbSizeFree > 1MiB' },
        monitoring: { listen: '127.0.0.1:0', statusInterval: '1s' },
      });
      const up = await upDetached(cleanup, spec);
      const agent = await agentFor(spec);

      const status = await get<{
        cluster: { name: string; healthy: boolean };
        members: { name: string; health: { ok: boolean } }[];
        problems: unknown[];
      }>(agent, '/api/status');
      assert.equal(status.cluster.name, 'etcd');
      assert.equal(status.members.length, 3);
      assert.ok(status.members.every((m) => m.health.ok));
      assert.deepEqual(status.problems, []);

      let m = await metrics(agent);
      for (const member of ['etcd-0', 'etcd-1', 'etcd-2']) {
        assert.equal(metric(m, `etcd_steward_member_up{member=${member}}`), 1);
        assert.equal(metric(m, `etcd_steward_member_healthy{member=${member}}`), 1);
        assert.equal(metric(m, `etcd_steward_member_has_leader{member=${member}}`), 1);
        const version = up.status.members.find((x) => x.name === member)?.version;
        assert.equal(metric(m, `etcd_steward_member_version_info{member=${member},version=${version}}`), 1);
      }
      assert.equal(metric(m, `etcd_steward_cluster_version_info{version=${line}.0}`), 1);
      assert.equal(
        ['etcd-0', 'etcd-1', 'etcd-2'].reduce(
          (n, x) => n + metric(m, `etcd_steward_member_is_leader{member=${x}}`),
          0,
        ),
        1,
      );
      assert.equal(metric(m, 'etcd_steward_backup_count'), 0);
      assert.equal(metric(m, 'etcd_steward_backup_failures_total'), 0);

      // A backup through the API: 202 with a job; the metrics then describe it.
      const created = await post(agent, '/api/backups');
      assert.equal(created.status, 202, JSON.stringify(created.json));
      const job = await finished(agent, created.json.job?.id ?? '');
      assert.equal(job.state, 'succeeded', JSON.stringify(job));
      const { storage, backups } = await get<{ storage: string; backups: BackupManifest[] }>(
        agent,
        '/api/backups',
      );
      assert.equal(storage, `file://${path.join(dir, 'backups')}`);
      assert.equal(backups.length, 1);
      const manifest = backups[0] as BackupManifest;
      m = await metrics(agent);
      assert.equal(metric(m, 'etcd_steward_backup_count'), 1);
      assert.equal(metric(m, 'etcd_steward_backup_newest_revision'), manifest.revision);
      assert.equal(metric(m, 'etcd_steward_backup_last_size_bytes'), manifest.storedSize);
      assert.equal(metric(m, 'etcd_steward_backup_last_duration_seconds'), manifest.durationMs / 1000);
      assert.equal(
        metric(m, 'etcd_steward_backup_last_success_timestamp_seconds'),
        (Date.parse(manifest.createdAt) + manifest.durationMs) / 1000,
      );
      assert.equal(metric(m, 'etcd_steward_job_runs_total{job=backup}'), 1);
      assert.ok(!m.has('etcd_steward_backup_schedule_interval_seconds'), 'no schedule, no interval');

      // Defrag: the plan is the dry run's JSON; a body without confirm is refused; the run
      // reclaims space, and the db size in the metrics falls.
      const before = await fragment(agent, up.endpoints[0] as string, 200);
      const plan = await get<{ outcome: string; dryRun: boolean; plan: { ruleHolds: boolean }[] }>(
        agent,
        '/api/defrag/plan',
      );
      assert.equal(plan.outcome, 'planned');
      assert.equal(plan.dryRun, true);
      assert.equal(plan.plan.length, 3);
      const refused = await post(agent, '/api/defrag', { compact: true });
      assert.equal(refused.status, 400);
      assert.match(refused.json.error ?? '', /confirm/);
      const extra = await post(agent, '/api/defrag', { confirm: true, bogus: 1 });
      assert.equal(extra.status, 400);
      const defrag = await post(agent, '/api/defrag', { confirm: true });
      assert.equal(defrag.status, 202);
      const defragJob = await finished(agent, defrag.json.job?.id ?? '');
      assert.equal(defragJob.state, 'succeeded', JSON.stringify(defragJob.error));
      m = await metrics(agent);
      assert.ok(metric(m, 'etcd_steward_defrag_reclaimed_bytes_total') > 0);
      assert.ok(metric(m, 'etcd_steward_defrag_last_run_timestamp_seconds') > Date.now() / 1000 - 600);
      assert.equal(metric(m, 'etcd_steward_defrag_failures_total'), 0);
      for (const member of ['etcd-0', 'etcd-1', 'etcd-2']) {
        const key = `etcd_steward_member_db_size_bytes{member=${member}}`;
        assert.ok(metric(m, key) < metric(before, key), `${member}: db size fell`);
      }

      const jobs = await get<{ jobs: Job[] }>(agent, '/api/jobs');
      assert.deepEqual(
        jobs.jobs.map((j) => j.kind),
        ['defrag', 'prune', 'backup'],
        'newest first',
      );
      const history = await get<{ windowSeconds: number; samples: { t: number; members: unknown[] }[] }>(
        agent,
        '/api/history',
      );
      assert.equal(history.windowSeconds, 6 * 3600);
      assert.ok(history.samples.length >= 2);
      assert.equal(history.samples.at(-1)?.members.length, 3);

      const openapi = await get<{ openapi: string; paths: Record<string, unknown> }>(
        agent,
        '/api/openapi.json',
      );
      assert.match(openapi.openapi, /^3\./);
      for (const route of [
        '/api/status',
        '/api/backups/{name}/verify',
        '/api/defrag',
        '/api/jobs/{id}',
        '/metrics',
      ])
        assert.ok(route in openapi.paths, route);
      const missing = await fetch(`${agent.url}/api/jobs/nope`);
      assert.equal(missing.status, 404);
      assert.ok(((await missing.json()) as { error: string }).error);
      const page = await fetch(`${agent.url}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      for (const file of ['app.js', 'style.css'])
        assert.equal((await fetch(`${agent.url}/${file}`)).status, 200, file);
      // dist/web also holds the compiled browser tests: not served.
      assert.equal((await fetch(`${agent.url}/dashboard.test.js`)).status, 404);
      assert.equal((await fetch(`${agent.url}/..%2Fserver%2Fagent.js`)).status, 404);
    });
  }
});

describe(`agent faults, auth and shutdown (etcd ${mainLine})`, () => {
  it('a failing backup (a file where the backup dir should be) shows in metrics, jobs and problems', async () => {
    const dir = await tempDir(cleanup, 'agent-fail');
    await writeFile(path.join(dir, 'blocked'), 'a file, not a directory\n');
    const spec = await writeSpec(dir, {
      members: 1,
      etcd: { version: mainLine },
      backup: { storage: './blocked/backups' },
      monitoring: { listen: '127.0.0.1:0' },
    });
    await upDetached(cleanup, spec);
    const agent = await agentFor(spec);
    const created = await post(agent, '/api/backups');
    assert.equal(created.status, 202);
    const job = await finished(agent, created.json.job?.id ?? '');
    assert.equal(job.state, 'failed');
    assert.ok(job.error && job.error.length > 0);
    const jobs = await get<{ jobs: Job[] }>(agent, '/api/jobs');
    assert.equal(jobs.jobs[0]?.state, 'failed');
    const m = await metrics(agent);
    assert.equal(metric(m, 'etcd_steward_backup_failures_total'), 1);
    assert.equal(metric(m, 'etcd_steward_job_failures_total{job=backup}'), 1);
    const status = await get<{ problems: { id: string; severity: string; message: string }[] }>(
      agent,
      '/api/status',
    );
    const problem = status.problems.find((p) => p.id === 'backup-failing');
    assert.equal(problem?.severity, 'critical', JSON.stringify(status.problems));
    assert.match(problem.message, /the last backup failed/);
  });

  it('off loopback: POST needs the token (401 without, 202 with); no token → refuses to start', async () => {
    const dir = await tempDir(cleanup, 'agent-auth');
    const spec = await writeSpec(dir, {
      members: 1,
      etcd: { version: mainLine },
      backup: { storage: './backups' },
      monitoring: { listen: '0.0.0.0:0', tokenEnv: 'STEWARD_TEST_TOKEN' },
    });
    await upDetached(cleanup, spec);
    const token = 'test-token-5b1f0c';
    const agent = await agentFor(spec, { STEWARD_TEST_TOKEN: token });
    const denied = await post(agent, '/api/backups');
    assert.equal(denied.status, 401);
    assert.match(denied.json.error ?? '', /token/);
    assert.equal((await post(agent, '/api/backups', undefined, 'wrong')).status, 401);
    const accepted = await post(agent, '/api/backups', undefined, token);
    assert.equal(accepted.status, 202);
    assert.equal((await finished(agent, accepted.json.job?.id ?? '')).state, 'succeeded');
    assert.equal((await fetch(`${agent.url}/api/status`)).status, 200, 'reads need no token');
    const logs = await get<{ jobs: Job[] }>(agent, '/api/jobs');
    assert.ok(!JSON.stringify(logs).includes(token));

    await assert.rejects(agentFor(spec), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.match(error.message, /beyond loopback, without an API token/);
      return true;
    });
    const r = await runCli(['--config', spec, 'serve']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /without an API token/);
    assert.match(r.stderr, /hint: set STEWARD_TEST_TOKEN/);
  });

  it('SIGTERM during a running backup: exit 0, nothing partial listed', async () => {
    const dir = await tempDir(cleanup, 'agent-term');
    const spec = await writeSpec(dir, {
      members: 1,
      etcd: { version: mainLine },
      backup: { storage: './backups' },
      monitoring: { listen: '127.0.0.1:0' },
    });
    const up = await upDetached(cleanup, spec);
    const c = new MemberClient(parseEndpoint(up.endpoints[0] as string), connection);
    try {
      const value = Buffer.alloc(64 * 1024, 'v');
      const puts: Promise<unknown>[] = [];
      for (let i = 0; i < 64 * 16; i += 1) {
        puts.push(c.put(`/fill/${String(i).padStart(6, '0')}`, value));
        if (puts.length === 32) await Promise.all(puts.splice(0));
      }
      await Promise.all(puts);
    } finally {
      c.close();
    }
    const child = spawn(process.execPath, [CLI, '--config', spec, 'serve'], {
      env: { ...scrubbedEnv(), ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanup.add(() => Promise.resolve(child.kill('SIGKILL')));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 60_000;
    let url: string | undefined;
    while (!url && Date.now() < deadline) {
      url = /"url":"(http:[^"]+)"/.exec(out)?.[1];
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(url, `the agent started: ${out}`);
    const response = await fetch(`${url}/api/backups`, { method: 'POST' });
    assert.equal(response.status, 202);
    while (!/"msg":"backup: started"/.test(out) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
    assert.match(out, /"msg":"agent stopped"/);
    // The running backup is aborted (nothing listed) or, if it was past streaming, finished
    // (listed complete, and it verifies); never partial, and no part file is left.
    const ended = /"msg":"backup: (aborted|done)"/.exec(out)?.[1];
    assert.ok(ended, `the backup ended: ${out}`);
    const list = await runCli(['--config', spec, 'backup', 'list', '-o', 'json']);
    assert.equal(list.code, 0, list.stderr);
    const backups = list.json<{ backups: BackupManifest[] }>().backups;
    assert.equal(backups.length, ended === 'aborted' ? 0 : 1, out);
    const files = await readdir(path.join(dir, 'backups')).catch(() => [] as string[]);
    assert.deepEqual(
      files.filter((f) => !f.startsWith('.') && f !== 'locks').sort(),
      backups.flatMap((b) => [b.object, `${b.name}.json`]).sort(),
      'no part file or orphan object left',
    );
    if (backups.length > 0) {
      const verify = await runCli(['--config', spec, 'backup', 'verify', '--all']);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    }
  });

  it('a listen port in use: exit 1 naming the address and the fix', async () => {
    const dir = await tempDir(cleanup, 'agent-port');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.add(() => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as net.AddressInfo).port;
    const r = await runCli(['serve', '--endpoints', 'http://127.0.0.1:1', '--listen', `127.0.0.1:${port}`], {
      cwd: dir,
    });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: another process uses that port`),
    );
    assert.match(r.stderr, /hint: stop that process, or choose another address/);
  });

  it('the spec blocks: defaults, a bad cron, a bad listen address, a too-short interval', () => {
    const spec = parseSpec('name: x\n', undefined);
    assert.equal(spec.defrag.rule, DEFAULT_DEFRAG_RULE);
    assert.equal(spec.defrag.compactFirst, false);
    assert.equal(spec.defrag.schedule, undefined);
    assert.deepEqual(
      { ...spec.monitoring },
      {
        listen: '127.0.0.1:9779',
        statusInterval: 10_000,
        historyWindow: 6 * 3_600_000,
        tokenEnv: 'ETCD_STEWARD_TOKEN',
      },
    );
    assert.throws(
      () => parseSpec('defrag: { schedule: "0 25 * * *" }\n', 's.yaml'),
      /defrag\.schedule: '0 25 \* \* \*' is not a cron expression/,
    );
    assert.throws(
      () => parseSpec('monitoring: { listen: "9779" }\n', 's.yaml'),
      /monitoring\.listen: '9779' is not a listen address; write HOST:PORT/,
    );
    assert.throws(
      () => parseSpec('monitoring: { listen: "127.0.0.1:99999" }\n', 's.yaml'),
      /monitoring\.listen/,
    );
    assert.throws(
      () => parseSpec('monitoring: { statusInterval: 10 }\n', 's.yaml'),
      /monitoring\.statusInterval/,
    );
    assert.throws(
      () => parseSpec('monitoring: { statusInterval: 100ms }\n', 's.yaml'),
      /monitoring\.statusInterval: must be at least 1s/,
    );
    assert.throws(() => parseSpec('monitoring: { token: abc }\n', 's.yaml'), /monitoring/);
  });
});
