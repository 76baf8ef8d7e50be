// `install-etcd` from the built package: the bundled CLI (dist/bundle/) and tsc's output
// (dist/cli/commands/) both find scripts/install-etcd.sh, and a line already in the cache is
// reported as there within seconds.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../testing/harness.js';
import { installScriptPath } from './install-etcd.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

describe('install-etcd', () => {
  it('finds the install script from tsc output', () => {
    const script = installScriptPath();
    assert.equal(script, path.join(ROOT, 'scripts', 'install-etcd.sh'));
    assert.ok(existsSync(script));
  });

  it('the bundled CLI says an installed line is there, quickly', async () => {
    // The cache the test set-up filled (npm test installs 3.6 before any test runs).
    const env = process.env['ETCD_STEWARD_CACHE']
      ? { ETCD_STEWARD_CACHE: process.env['ETCD_STEWARD_CACHE'] }
      : {};
    const started = Date.now();
    const result = await runCli(['install-etcd', '3.6'], { env, timeoutMs: 30_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /install-etcd: etcd v3\.6\.\d+ already in \S+\/etcd\/v3\.6\.\d+/);
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });

  it('refuses a line out of support before running anything', async () => {
    const result = await runCli(['install-etcd', '3.4']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /'3\.4' is not a supported etcd line or version/);
    assert.match(result.stderr, /hint: use one of 3\.5, 3\.6, 3\.7/);
  });
});
