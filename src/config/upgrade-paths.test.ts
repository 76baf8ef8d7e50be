import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { binariesFor } from '../testing/harness.js';
import { resolveEtcdRelease } from '../runtime/etcd-binaries.js';
import type { EtcdLine } from './etcd-lines.js';
import {
  compareVersions,
  floorFor,
  lineOf,
  refusedFlags,
  removedFlags,
  UPGRADE_STEPS,
  upgradeStep,
} from './upgrade-paths.js';

const run = promisify(execFile);

/** The flags a real etcd binary lists in its --help. */
async function helpFlags(line: EtcdLine): Promise<Set<string>> {
  const { etcd } = await binariesFor(line);
  const out = await run(etcd, ['--help']).then(
    (r) => r.stdout + r.stderr,
    (e: { stdout: string; stderr: string }) => e.stdout + e.stderr,
  );
  return new Set([...out.matchAll(/^\s+(--[a-z0-9-]+)/gm)].map((m) => m[1]!));
}

describe('upgrade paths', () => {
  it('knows one step per minor version and nothing else', () => {
    assert.equal(upgradeStep('3.5', '3.6')?.floor.patch, '3.5.32');
    assert.equal(upgradeStep('3.6', '3.7')?.floor.patch, '3.6.11');
    assert.equal(upgradeStep('3.5', '3.7'), undefined);
    assert.equal(upgradeStep('3.4', '3.5'), undefined);
    assert.equal(floorFor('3.6')?.patch, '3.5.32');
    assert.equal(floorFor('3.5'), undefined);
  });
  it('keeps every floor with a source, rising over time, the last one in force', () => {
    for (const step of UPGRADE_STEPS) {
      assert.equal(step.floor, step.floorHistory.at(-1));
      for (const [i, s] of step.floorHistory.entries()) {
        assert.match(s.source, /^https:\/\//);
        assert.equal(lineOf(s.patch), step.from);
        if (i > 0) assert.ok(compareVersions(s.patch, step.floorHistory[i - 1]!.patch) > 0);
      }
      for (const f of step.removedFlags) assert.ok(f.source.length > 0, f.flag);
    }
  });
  it('the installed newest patch of each line is at or above the floor, 3.5.16 below it', async () => {
    assert.ok(compareVersions((await binariesFor('3.5')).version, floorFor('3.6')!.patch) >= 0);
    assert.ok(compareVersions((await binariesFor('3.6')).version, floorFor('3.7')!.patch) >= 0);
    const old = await resolveEtcdRelease('3.5.16');
    assert.ok(compareVersions(old.version, floorFor('3.6')!.patch) < 0);
  });
  it("matches the real binaries: each removed flag is in the source line's --help, not the target's", async () => {
    for (const step of UPGRADE_STEPS) {
      const source = await helpFlags(step.from);
      const target = await helpFlags(step.to);
      for (const { flag, replacement } of step.removedFlags) {
        if (flag.endsWith('*')) continue;
        assert.ok(source.has(flag), `${flag} should exist in ${step.from}`);
        assert.ok(!target.has(flag), `${flag} should be gone in ${step.to}`);
        const successor = replacement?.split('=')[0];
        if (successor) assert.ok(target.has(successor), `${successor} should exist in ${step.to}`);
      }
      // Nothing the target dropped is missing from the table.
      for (const flag of source) {
        if (!target.has(flag)) assert.ok(refusedFlags([flag], step.to).length === 1, `${flag} missing`);
      }
    }
  });
  it('finds refused flags in a spec’s extra args, with or without values, and any 3.7 experimental flag', () => {
    assert.deepEqual(
      refusedFlags(['--enable-v2=true', '--quota-backend-bytes=1', '--proxy', 'x'], '3.6').map((f) => f.flag),
      ['--enable-v2', '--proxy'],
    );
    const r37 = refusedFlags(['--experimental-corrupt-check-time=1m', '--experimental-foo'], '3.7');
    assert.deepEqual(
      r37.map((f) => [f.flag, f.replacement]),
      [
        ['--experimental-corrupt-check-time', '--corrupt-check-time'],
        ['--experimental-foo', undefined],
      ],
    );
    assert.equal(removedFlags('3.5').length, 0);
  });
});
