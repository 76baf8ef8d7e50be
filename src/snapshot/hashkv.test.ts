// etcd's HashKV computed offline equals what real etcd answers (Maintenance.HashKV) on every
// line: puts, overwrites, deletes, a re-created key, a multi-key transaction (sub-revisions), and
// after a compaction whose revision is a deletion — at the last revision and an earlier one.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient } from '../etcd/member-client.js';
import {
  Cleanup,
  binariesFor,
  etcdctl,
  tempDir,
  testLines,
  upDetached,
  writeSpec,
} from '../testing/harness.js';
import { crc32c, crc32cAppend, crc32cRaw, snapshotHashKv } from './hashkv.js';
import { openSnapshot } from './index.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

describe('CRC-32C', () => {
  it('matches the standard check value and joins pieces like one pass', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
    for (const size of [0, 1, 7, 8, 9, 100, 4096, 70_001]) {
      const data = randomBytes(size);
      const cut = Math.floor(size / 3);
      const whole = crc32cRaw(0xffffffff, data);
      const joined = crc32cAppend(
        crc32cRaw(0xffffffff, data.subarray(0, cut)),
        crc32cRaw(0, data.subarray(cut)),
        size - cut,
      );
      assert.equal(joined, whole, `size ${size}`);
    }
  });
});

describe('HashKV offline', { concurrency: true }, () => {
  for (const line of testLines()) {
    it(`etcd ${line}: equals the member's HashKV with puts, overwrites, deletes and a compaction`, async () => {
      const dir = await tempDir(cleanup, `hashkv-${line}`);
      const binaries = await binariesFor(line);
      const spec = await writeSpec(dir, { members: 1, etcd: { version: line } }, 'cluster.yaml');
      const up = await upDetached(cleanup, spec);
      const ctl = (args: string[]) => etcdctl(binaries, up.endpoints, args);
      const client = new MemberClient(parseEndpoint(up.endpoints[0] as string), {
        dialTimeoutMs: 5000,
        commandTimeoutMs: 30_000,
      });
      cleanup.add(() => Promise.resolve(client.close()));

      for (let i = 0; i < 40; i += 1) await client.put(`k/${i}`, `v${i}-${'x'.repeat(i * 37)}`);
      for (let i = 0; i < 10; i += 1) await client.put(`k/${i}`, `overwritten ${i}`);
      for (let i = 10; i < 15; i += 1) await client.delete(`k/${i}`);
      await client.put('k/12', 'back again');
      await client.txn(
        [],
        [
          { type: 'put', key: Buffer.from('k/t1'), value: Buffer.from('one'), lease: '0' },
          { type: 'put', key: Buffer.from('k/t2'), value: Buffer.from('two'), lease: '0' },
          { type: 'delete', key: Buffer.from('k/15') },
        ],
      );
      const middle = (await client.put('k/mid', 'm')).revision;
      // A deletion at the compaction revision: newer patches keep that tombstone, HashKV skips it.
      const compactAt = (await client.delete('k/20')).revision;

      const check = async (label: string, file: string, revisions: number[]) => {
        const snapshot = await openSnapshot(file);
        try {
          for (const revision of revisions) {
            const live = await client.hashKv(revision);
            const offline = await snapshotHashKv(snapshot, { revision });
            assert.equal(offline.hash, live.hash, `${label}: HashKV at revision ${revision}`);
          }
          const last = await snapshotHashKv(snapshot);
          const live = await client.hashKv(last.revision);
          assert.equal(last.hash, live.hash, `${label}: HashKV at the last revision ${last.revision}`);
        } finally {
          await snapshot.close();
        }
      };
      const before = path.join(dir, 'before.db');
      await ctl(['snapshot', 'save', before]);
      await check('uncompacted', before, [middle, compactAt]);

      await client.compact(compactAt, true, 30_000);
      for (let i = 0; i < 5; i += 1) await client.put(`k/${i}`, `after compaction ${i}`);
      await client.delete('k/30');
      await client.delete('k/12');
      const afterCompaction = (await client.put('k/new', 'n')).revision;
      await client.put('k/31', 'rewritten');
      const after = path.join(dir, 'after.db');
      await ctl(['snapshot', 'save', after]);
      const compacted = await client.hashKv(0);
      assert.equal(compacted.compactRevision, compactAt);
      await check('compacted', after, [afterCompaction]);
    });
  }
});
