// scripts/install-test-deps.sh and the installers' --plan: quick and quiet when everything is
// installed; otherwise the plan first, the installs side by side, and a failing install's log tail.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SUPPORTED_LINES } from '../config/etcd-lines.js';
import { DEFAULT_ETCD_VERSIONS } from '../runtime/kubernetes/render-images.js';
import { Cleanup, tempDir } from '../testing/harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const script = (name: string) => path.join(ROOT, 'scripts', name);
/** A PATH with the system's tools and without Go (which lives in /usr/local/go/bin here). */
const PATH_WITHOUT_GO = '/usr/sbin:/usr/bin:/sbin:/bin';

const cleanup = new Cleanup();
after(() => cleanup.run());

function bash(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const started = Date.now();
  // stdin not a socket: bash would take itself for a remote shell and read ~/.bashrc.
  const result = spawnSync('bash', args, {
    encoding: 'utf8',
    env,
    timeout: 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { ...result, ms: Date.now() - started };
}

describe('install-test-deps', () => {
  it('is quick and quiet when everything is installed', (t) => {
    const plan = bash([script('install-test-deps.sh'), '--plan']);
    assert.equal(plan.status, 0, plan.stderr);
    if (plan.stdout !== '') {
      t.skip(`SKIPPED: not everything is installed here:\n${plan.stdout}`);
      return;
    }
    const run = bash([script('install-test-deps.sh')]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout + run.stderr, '');
    assert.ok(run.ms < 10_000, `took ${run.ms} ms`);
  });

  it('says what it will build, runs the installs side by side, and shows a failing log', async (t) => {
    if (bash(['-c', 'command -v go'], { PATH: PATH_WITHOUT_GO }).status === 0) {
      t.skip('SKIPPED: go is in a system folder here, so it cannot be hidden from the installers');
      return;
    }
    const cache = await tempDir(cleanup, 'deps-cache');
    const tmp = await tempDir(cleanup, 'deps-tmp');
    const env = { PATH: PATH_WITHOUT_GO, HOME: tmp, TMPDIR: tmp, ETCD_STEWARD_CACHE: cache };
    const run = bash([script('install-test-deps.sh')], env);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /first run: installing what the tests need, side by side/);
    for (const line of ['etcd v3.5.', 'etcd v3.6.', 'etcd v3.7.', 'MinIO', 'kube-apiserver v1.'])
      assert.match(run.stderr, new RegExp(`  - building ${line}.*\\(first time ~[0-9–]+ min`));
    // Each Go install fails on its own (no Go), reported with the end of its own log.
    for (const [job, message] of [
      ['etcd', 'install-etcd: error: etcd is built with Go'],
      ['minio', 'install-minio: error: MinIO is built with Go'],
      ['kube-apiserver', 'install-kube-apiserver: error: kube-apiserver is built with Go'],
      ['bbolt', 'install-bbolt: error: bbolt is built with Go'],
    ]) {
      assert.match(run.stderr, new RegExp(`${job}: FAILED \\(exit 1\\)`));
      assert.match(run.stderr, new RegExp(`  ${job}\\| ${message}`));
    }
    assert.match(run.stderr, /failed: .*etcd.*\(full logs in /);
    assert.ok(run.ms < 30_000, `took ${run.ms} ms`);
  });
});

describe('install-etcd --plan', () => {
  it('lists the default release of each line (the images carry the same), or the exact version asked for', async () => {
    const cache = await tempDir(cleanup, 'plan-cache');
    const env = { ...process.env, ETCD_STEWARD_CACHE: cache };
    const all = bash([script('install-etcd.sh'), '--plan'], env);
    assert.equal(all.status, 0, all.stderr);
    // The releases the script builds are the ones the default images carry.
    assert.deepEqual(
      all.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => /building etcd v(\S+) /.exec(l)?.[1]),
      SUPPORTED_LINES.map((line) => DEFAULT_ETCD_VERSIONS[line]),
    );
    const exact = bash([script('install-etcd.sh'), '--plan', '3.5.16'], env);
    assert.match(exact.stdout, /^building etcd v3\.5\.16 \(/);
    const old = bash([script('install-etcd.sh'), '--plan', '3.4'], env);
    assert.equal(old.status, 1);
    assert.match(old.stderr, /etcd 3\.4 is out of support; etcd-steward supports 3\.5, 3\.6, 3\.7/);
  });

  it('lists nothing for a line that is installed', (t) => {
    const plan = bash([script('install-etcd.sh'), '--plan', '3.6']);
    if (plan.stdout !== '') {
      t.skip(`SKIPPED: etcd 3.6 is not installed here: ${plan.stdout}`);
      return;
    }
    assert.equal(plan.status, 0);
    assert.equal(plan.stderr, '');
  });
});
