// Finding etcd: explicit binary > ETCD_BIN > the cache > PATH, and clear errors otherwise.
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Cleanup, binariesFor, tempDir, testLines } from '../testing/harness.js';
import { cacheDir, resolveEtcd, resolveEtcdRelease } from './etcd-binaries.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

describe('etcd binary resolution', () => {
  const line = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');

  it('finds each supported line in the cache, with etcdctl and etcdutl beside etcd', async () => {
    for (const l of testLines()) {
      const found = await resolveEtcd(l, undefined, {
        HOME: process.env['HOME'],
        ETCD_STEWARD_CACHE: process.env['ETCD_STEWARD_CACHE'],
        PATH: '',
      });
      assert.equal(found.source, 'cache');
      assert.equal(found.line, l);
      assert.match(found.version, new RegExp(`^${l.replace('.', '\\.')}\\.\\d+$`));
      assert.equal(path.dirname(found.etcdctl), path.dirname(found.etcd));
      assert.equal(path.basename(found.etcdutl), 'etcdutl');
    }
  });

  it('prefers an explicit binary, then ETCD_BIN, over the cache', async () => {
    const real = await binariesFor(line);
    const dir = await tempDir(cleanup, 'bin');
    await symlink(real.etcd, path.join(dir, 'etcd'));
    const env = { HOME: process.env['HOME'], PATH: '' };
    const explicit = await resolveEtcd(line, path.join(dir, 'etcd'), env);
    assert.equal(explicit.source, 'explicit');
    assert.equal(explicit.etcd, path.join(dir, 'etcd'));
    assert.equal(explicit.etcdctl, path.join(dir, 'etcdctl'));
    const fromEnv = await resolveEtcd(line, undefined, { ...env, ETCD_BIN: path.join(dir, 'etcd') });
    assert.equal(fromEnv.source, 'explicit');
  });

  it('falls back to PATH when the cache has nothing', async () => {
    const real = await binariesFor(line);
    const empty = await tempDir(cleanup, 'emptycache');
    const found = await resolveEtcd(line, undefined, {
      ETCD_STEWARD_CACHE: empty,
      PATH: path.dirname(real.etcd),
    });
    assert.equal(found.source, 'path');
    assert.equal(found.version, real.version);
  });

  it('skips a half-finished install in the cache', async () => {
    const real = await binariesFor(line);
    const cache = await tempDir(cleanup, 'halfcache');
    const dir = path.join(cache, 'etcd', `v${line}.999`);
    await mkdir(dir, { recursive: true });
    await symlink(real.etcd, path.join(dir, 'etcd')); // no .complete marker
    await assert.rejects(
      resolveEtcd(line, undefined, { ETCD_STEWARD_CACHE: cache, PATH: '' }),
      /no etcd 3\.\d binary found/,
    );
    await writeFile(path.join(dir, '.complete'), '');
    assert.equal(
      (await resolveEtcd(line, undefined, { ETCD_STEWARD_CACHE: cache, PATH: '' })).etcd,
      path.join(dir, 'etcd'),
    );
  });

  it('names the install command when nothing is found', async () => {
    const empty = await tempDir(cleanup, 'nothing');
    await assert.rejects(
      resolveEtcd('3.7', undefined, { ETCD_STEWARD_CACHE: empty, PATH: empty }),
      (error: Error & { hint?: string }) => {
        assert.match(error.message, /no etcd 3\.7 binary found \(looked at --etcd-bin, ETCD_BIN, .*, PATH\)/);
        assert.match(error.hint ?? '', /etcd-steward install-etcd 3\.7/);
        return true;
      },
    );
  });

  it('refuses a binary of another line, or something that is not etcd', async () => {
    const lines = testLines();
    if (lines.length >= 2) {
      const other = await binariesFor(lines[0] as (typeof lines)[number]);
      const want = lines[1] as (typeof lines)[number];
      await assert.rejects(
        resolveEtcd(want, other.etcd, {}),
        new RegExp(`is etcd ${other.version.replaceAll('.', '\\.')}, but the spec asks for etcd ${want}`),
      );
    }
    await assert.rejects(resolveEtcd(line, '/bin/true', {}), /does not look like etcd/);
  });

  it('finds one exact release in the cache, and names the install command when it is missing', async () => {
    const real = await binariesFor(line);
    const cache = await tempDir(cleanup, 'releasecache');
    const env = { ETCD_STEWARD_CACHE: cache, PATH: '' };
    await assert.rejects(resolveEtcdRelease(real.version, env), (error: Error & { hint?: string }) => {
      assert.match(error.message, new RegExp(`etcd ${real.version.replaceAll('.', '\\.')} is not installed`));
      assert.match(
        error.hint ?? '',
        new RegExp(`etcd-steward install-etcd ${real.version.replaceAll('.', '\\.')}`),
      );
      return true;
    });
    for (const [version, want] of [
      [real.version, undefined],
      [
        `${line}.999`,
        new RegExp(`is etcd ${real.version.replaceAll('.', '\\.')}, not ${line.replace('.', '\\.')}\\.999`),
      ],
    ] as const) {
      const dir = path.join(cache, 'etcd', `v${version}`);
      await mkdir(dir, { recursive: true });
      await symlink(real.etcd, path.join(dir, 'etcd'));
      await writeFile(path.join(dir, '.complete'), '');
      if (want) await assert.rejects(resolveEtcdRelease(version, env), want);
      else assert.equal((await resolveEtcdRelease(version, env)).etcd, path.join(dir, 'etcd'));
    }
    await assert.rejects(
      resolveEtcdRelease('3.4.30', env),
      /'3\.4\.30' is not a release of a supported etcd line/,
    );
  });

  it('uses ETCD_STEWARD_CACHE, then XDG_CACHE_HOME, then ~/.cache', () => {
    assert.equal(cacheDir({ ETCD_STEWARD_CACHE: '/c' }), '/c');
    assert.equal(cacheDir({ XDG_CACHE_HOME: '/x' }), '/x/etcd-steward');
  });
});
