// Versions in `status` against real members: a 3.5.36 cluster with one member moved to 3.6.16
// through the local runtime (table and JSON carry each member's version, the cluster version and
// the mixed-version warning), and a 3.5.16 member warned below the 3.5 → 3.6 floor.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { parseSpec } from '../../config/load.js';
import { floorFor } from '../../config/upgrade-paths.js';
import { resolveEtcdRelease } from '../../runtime/etcd-binaries.js';
import { openRuntime } from '../../runtime/open.js';
import { Cleanup, makeCerts, runCli, tempDir, upDetached, writeSpec } from '../../testing/harness.js';

interface StatusJson {
  healthy: boolean;
  clusterVersion: string | null;
  versionWarnings: string[];
  members: { name: string | null; version: string | null; clusterVersion: string | null }[];
}

async function statusJson(spec: string): Promise<StatusJson> {
  const result = await runCli(['--config', spec, 'status', '-o', 'json']);
  return result.json<StatusJson>();
}

describe('status: member versions, the cluster version and their warnings', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  it('a 3.5.36 cluster with one member on 3.6.16: each version, cluster version 3.5.0, a mixed-version warning', async () => {
    const dir = await tempDir(cleanup, 'status-mixed');
    const file = await writeSpec(dir, { name: 'mix', dataDir: `${dir}/data`, etcd: { version: '3.5' } });
    await upDetached(cleanup, file);
    const before = await statusJson(file);
    assert.equal(before.clusterVersion, '3.5.0');
    assert.deepEqual(before.versionWarnings, []);
    assert.deepEqual(
      before.members.map((m) => [m.version, m.clusterVersion]),
      [0, 1, 2].map(() => ['3.5.36', '3.5.0']),
    );

    const runtime = await openRuntime(parseSpec(await readFile(file, 'utf8'), file));
    await runtime.changeMemberVersion('mix-1', { line: '3.6' });
    await runtime.close();
    let json = await statusJson(file);
    for (let i = 0; i < 60 && !(json.healthy && json.members.every((m) => m.version)); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      json = await statusJson(file);
    }
    assert.equal(json.healthy, true, JSON.stringify(json));
    assert.deepEqual(
      json.members.map((m) => [m.name, m.version]),
      [
        ['mix-0', '3.5.36'],
        ['mix-1', '3.6.16'],
        ['mix-2', '3.5.36'],
      ],
    );
    // The cluster version moves only once every member runs 3.6.
    assert.equal(json.clusterVersion, '3.5.0');
    assert.equal(json.versionWarnings.length, 1, json.versionWarnings.join('\n'));
    assert.match(
      json.versionWarnings[0] ?? '',
      /^members run different etcd versions: 3\.5\.36 \(mix-0, mix-2\), 3\.6\.16 \(mix-1\); cluster version 3\.5\.0\./,
    );
    assert.match(
      json.versionWarnings[0] ?? '',
      /upgrade --to 3\.6\.16\) or go back \(etcd-steward upgrade --to 3\.5\.36\)/,
    );

    const table = await runCli(['--config', file, 'status']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /mix-1 .*3\.6\.16/);
    assert.match(
      table.stdout,
      /: healthy, 3 members, leader [0-9a-f]+ \(mix-\d\), cluster version 3\.5\.0\n/,
    );
    assert.match(
      table.stdout,
      /\nwarning: members run different etcd versions: 3\.5\.36 \(mix-0, mix-2\), 3\.6\.16 \(mix-1\)/,
    );
    const wide = await runCli(['--config', file, 'status', '-o', 'wide']);
    assert.match(wide.stdout, /CLUSTER VERSION/);
  });

  it('reads the cluster version over TLS with client certificates (3.7)', async () => {
    const dir = await tempDir(cleanup, 'status-tls');
    const certs = await makeCerts(dir);
    const file = await writeSpec(dir, {
      name: 'tls',
      members: 1,
      dataDir: `${dir}/data`,
      etcd: { version: '3.7' },
      tls: {
        caFile: certs.ca,
        certFile: certs.clientCert,
        keyFile: certs.clientKey,
        server: { certFile: certs.serverCert, keyFile: certs.serverKey, clientCertAuth: true },
      },
    });
    await upDetached(cleanup, file);
    const json = await statusJson(file);
    assert.equal(json.healthy, true);
    assert.match(json.members[0]?.version ?? '', /^3\.7\./);
    assert.equal(json.members[0]?.clusterVersion, '3.7.0');
    assert.equal(json.clusterVersion, '3.7.0');
    assert.deepEqual(json.versionWarnings, []);
  });

  it('a 3.5.16 member is warned below the floor of the upgrade to 3.6', async () => {
    const old = await resolveEtcdRelease('3.5.16');
    const dir = await tempDir(cleanup, 'status-floor');
    const file = await writeSpec(dir, {
      name: 'old',
      members: 1,
      dataDir: `${dir}/data`,
      etcd: { version: '3.5', bin: old.etcd },
    });
    await upDetached(cleanup, file);
    const json = await statusJson(file);
    const floor = floorFor('3.6');
    assert.ok(floor);
    assert.equal(json.members[0]?.version, '3.5.16');
    assert.equal(json.clusterVersion, '3.5.0');
    assert.equal(json.versionWarnings.length, 1, json.versionWarnings.join('\n'));
    assert.equal(
      json.versionWarnings[0],
      `old-0 runs etcd 3.5.16, below ${floor.patch}, the lowest 3.5 patch etcd supports an upgrade to 3.6 from (${floor.source}): move it to ${floor.patch} or later within 3.5 first`,
    );
    const table = await runCli(['--config', file, 'status']);
    assert.match(
      table.stdout,
      new RegExp(`\\nwarning: old-0 runs etcd 3\\.5\\.16, below ${floor.patch.replaceAll('.', '\\.')}`),
    );
  });
});
