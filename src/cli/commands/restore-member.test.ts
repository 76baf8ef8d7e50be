/**
 * `restore-member`, a member's data dir built from a backup (what `member-init --restore` does
 * inside a pod, as a command of its own): it fetches and checks a real backup, builds the
 * member's data dir with the real etcdutl, and a real etcd started on that dir serves the data.
 * Main line only (3.6): the steps are the local restore's, tested on every line in restore.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseSpec } from '../../config/load.js';
import type { BackupManifest } from '../../engine/backup/manifest.js';
import { clusterNames } from '../../runtime/kubernetes/render-types.js';
import { freePorts } from '../../runtime/local/ports.js';
import {
  Cleanup,
  binariesFor,
  etcdctl,
  killRecordedMembers,
  runCli,
  tempDir,
  upDetached,
  writeSpec,
} from '../../testing/harness.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

/** restore-member's arguments for member 0 of a one-member cluster named etcd-recover (paths filled in by the test). */
function initArgs(): string[] {
  const names = clusterNames(parseSpec('runtime: kubernetes\nmembers: 1\n', undefined), 'etcd-recover');
  return [
    'restore-member',
    'latest',
    '--config',
    'CONFIG',
    '--storage',
    'STORAGE',
    '--name',
    '$(POD_NAME)',
    '--data-dir',
    'DATA',
    '--initial-cluster',
    names.initialCluster(),
    '--initial-cluster-token',
    names.restoredToken(),
    '--initial-advertise-peer-urls',
    names.peerUrl('$(POD_NAME)'),
    '--etcdutl',
    'ETCDUTL',
  ];
}

function withValue(args: string[], flag: string, value: string): string[] {
  const i = args.indexOf(flag);
  assert.ok(i >= 0, `${flag} is among the init container's arguments`);
  return [...args.slice(0, i + 1), value, ...args.slice(i + 2)];
}

describe('restore-member (the Kubernetes restore init container)', () => {
  it('3.6: builds the member from a real backup; etcd serves it; a second run leaves it; a damaged backup builds nothing', async () => {
    const binaries = await binariesFor('3.6');
    const dir = await tempDir(cleanup, 'restore-member');
    cleanup.add(() => killRecordedMembers(dir));
    const specFile = await writeSpec(dir, { members: 1, backup: { storage: './backups' } });
    const up = await upDetached(cleanup, specFile);
    for (let i = 0; i < 20; i += 1)
      await etcdctl(binaries, up.endpoints, [
        'put',
        `__table_name/greptime/public/t${i}`,
        `{"table_id":${i}}`,
      ]);
    const env = { ETCD_STEWARD_SPOOL_DIR: path.join(dir, 'spool') };
    const created = await runCli(['--config', specFile, 'backup', 'create', '-o', 'json'], { env });
    assert.equal(created.code, 0, created.stderr);
    const backup = created.json<{ backup: BackupManifest }>().backup;
    const expected = await etcdctl(binaries, up.endpoints, ['get', '__table_name/', '--prefix']);

    // The pod's view: its name from the downward API, the backup PVC and the data volume mounted.
    const pod = 'etcd-recover-0';
    const dataDir = path.join(dir, 'pod', 'var-lib-etcd', 'data');
    let args = initArgs().map((a) => a.replaceAll('$(POD_NAME)', pod));
    args = withValue(args, '--config', specFile);
    args = withValue(args, '--storage', path.join(dir, 'backups'));
    args = withValue(args, '--data-dir', dataDir);
    args = withValue(args, '--etcdutl', binaries.etcdutl);
    const built = await runCli(args, { env });
    assert.equal(built.code, 0, built.stderr);
    assert.ok(existsSync(path.join(dataDir, 'member', 'snap', 'db')), 'the member data dir was built');
    assert.equal(existsSync(`${dataDir}.restoring`), false, 'nothing half-built left beside it');

    const again = await runCli(args, { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /already holds data/);

    // A real etcd on that data dir serves exactly the backed-up keys.
    const [client, peer] = await freePorts(2);
    const endpoint = `http://127.0.0.1:${String(client)}`;
    const etcd = spawn(
      binaries.etcd,
      [
        `--name=${pod}`,
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${endpoint}`,
        `--advertise-client-urls=${endpoint}`,
        `--listen-peer-urls=http://127.0.0.1:${String(peer)}`,
        '--unsafe-no-fsync',
      ],
      { stdio: 'ignore' },
    );
    cleanup.add(async () => {
      etcd.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
    });
    let got = '';
    for (let i = 0; i < 100 && got !== expected; i += 1) {
      got = await etcdctl(binaries, [endpoint], ['get', '__table_name/', '--prefix']).catch(() => '');
      if (got !== expected) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(got, expected, 'the restored member serves the backup');
    const status = await runCli(['status', '--endpoints', endpoint, '-o', 'json']);
    assert.equal(status.code, 0, status.stderr);
    const row = status.json<{ members: { isLeader: boolean }[] }>().members[0];
    assert.equal(row?.isLeader, true, 'a one-member cluster of its own, leading');

    // A damaged backup: refused after the checksum, no data dir created.
    const objects = (await readdir(path.join(dir, 'backups'))).filter((f) => !f.endsWith('.json'));
    const object = objects.find((f) => f.startsWith(backup.name));
    assert.ok(object, `the stored object of ${backup.name}`);
    const bytes = await readFile(path.join(dir, 'backups', object));
    const at = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    await writeFile(path.join(dir, 'backups', object), bytes);
    const otherDir = path.join(dir, 'pod2', 'var-lib-etcd', 'data');
    const refused = await runCli(withValue(args, '--data-dir', otherDir), { env });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /sha|SHA|checksum|damaged|corrupt/i);
    assert.equal(existsSync(otherDir), false, 'a damaged backup builds nothing');
  });
});
