// The backup lock in the storage, against a directory and a real S3 server (MinIO): one holder
// at a time, a stale (expired) lock taken over by exactly one of many racing runs, renewal
// during a long run, and a run that loses its lock is stopped.
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { Cleanup, tempDir } from '../../testing/harness.js';
import { startS3Server } from '../../testing/s3-server.js';
import { FileStorage } from '../../storage/file.js';
import { S3Storage } from '../../storage/s3.js';
import type { BackupStorage } from '../../storage/storage.js';
import { acquireStorageLock, lockPrefix, LockHeldError, withStorageLock, type LockRecord } from './lock.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

const backends: { name: string; storage?: BackupStorage }[] = [{ name: 'files' }, { name: 'S3 (MinIO)' }];

before(async () => {
  (backends[0] as { storage?: BackupStorage }).storage = new FileStorage(
    path.join(await tempDir(cleanup, 'lock'), 'backups'),
  );
  const s3 = await startS3Server(cleanup);
  (backends[1] as { storage?: BackupStorage }).storage = new S3Storage(
    `s3://${s3.bucket}/locks-test?endpoint=${encodeURIComponent(s3.endpoint)}&region=us-east-1&forcePathStyle=true`,
    { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  );
});

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function records(storage: BackupStorage, name: string): Promise<[string, LockRecord][]> {
  const out: [string, LockRecord][] = [];
  for (const o of await storage.list(lockPrefix(name))) {
    out.push([o.key, JSON.parse(await text(await storage.read(o.key))) as LockRecord]);
  }
  return out;
}

for (const backend of backends) {
  describe(`storage lock: ${backend.name}`, { concurrency: true }, () => {
    const s = () => backend.storage as BackupStorage;

    it('one holder at a time; a second run is refused naming the holder; released afterwards', async () => {
      const name = 'backup/one';
      let inside = 0;
      const refused = await withStorageLock(s(), name, async () => {
        inside += 1;
        return acquireStorageLock(s(), name).then(
          () => assert.fail('a second run took a held lock'),
          (error: unknown) => error,
        );
      });
      assert.equal(inside, 1);
      assert.ok(refused instanceof LockHeldError);
      assert.match(
        refused.message,
        new RegExp(
          `^another backup of this cluster is running \\(lock locks/backup/one/000000000001\\.json in ${escape(s().displayUrl)}: \\S+ on \\S+, pid ${process.pid}, since `,
        ),
      );
      assert.match(
        refused.hint ?? '',
        /wait for it to finish; if that run crashed, its lock expires in \d+ s/,
      );
      const left = await records(s(), name);
      assert.equal(left.length, 1);
      assert.equal(left[0]?.[1].released, true, 'the last generation stays, marked released');
      // Released: the next run takes it at once (generation 2) and removes generation 1.
      const next = await acquireStorageLock(s(), name);
      assert.equal(next.key, 'locks/backup/one/000000000002.json');
      await next.release();
      assert.deepEqual(
        (await records(s(), name)).map(([k]) => k),
        ['locks/backup/one/000000000002.json'],
      );
    });

    it('two runs started together: exactly one works, the other is refused', async () => {
      const name = 'backup/together';
      const outcomes = await Promise.allSettled(
        [1, 2].map(() => withStorageLock(s(), name, () => sleep(300).then(() => 'done'))),
      );
      assert.deepEqual(outcomes.map((o) => o.status).sort(), ['fulfilled', 'rejected']);
      const failed = outcomes.find((o) => o.status === 'rejected');
      assert.ok(failed?.reason instanceof LockHeldError, String(failed?.reason));
    });

    it('a stale lock (a crashed run) is taken over by exactly one of eight racing runs', async () => {
      const name = 'backup/stale';
      const crashed = await acquireStorageLock(s(), name, { ttlMs: 1500 }); // never renewed nor released
      await assert.rejects(acquireStorageLock(s(), name), LockHeldError);
      await sleep(1600);
      const racers = await Promise.allSettled(Array.from({ length: 8 }, () => acquireStorageLock(s(), name)));
      const winners = racers.filter((r) => r.status === 'fulfilled');
      assert.equal(winners.length, 1, racers.map((r) => r.status).join(','));
      for (const r of racers) if (r.status === 'rejected') assert.ok(r.reason instanceof LockHeldError);
      const winner = (winners[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireStorageLock>>>)
        .value;
      const left = await records(s(), name);
      assert.deepEqual(
        left.map(([k]) => k),
        [winner.key],
        'the crashed run’s generation is removed',
      );
      assert.notEqual(left[0]?.[1].run, crashed.record.run);
      assert.equal(left[0]?.[1].run, winner.record.run);
      // The crashed run, should it wake up, finds that it lost the lock.
      await assert.rejects(crashed.renew(), /was taken over by/);
      await crashed.release();
      assert.equal((await records(s(), name))[0]?.[1].released, false, 'its release changes nothing');
      await winner.release();
    });

    it('a long run keeps its lock by renewing it; a run that lost its lock is stopped', async () => {
      const name = 'backup/long';
      const options = { ttlMs: 1500, renewEveryMs: 250 }; // generous: fsync on a loaded machine
      const result = await withStorageLock(
        s(),
        name,
        async (signal) => {
          await sleep(3500); // more than twice the time to live
          assert.equal(signal.aborted, false);
          await assert.rejects(acquireStorageLock(s(), name, options), LockHeldError);
          return 'finished';
        },
        undefined,
        options,
      );
      assert.equal(result, 'finished');

      // Another run takes the lock over behind this one's back (as after a long pause of this
      // process): the next renewal notices and aborts the work.
      const stopped = await withStorageLock(
        s(),
        `${name}-lost`,
        async (signal) => {
          const [[key, record] = []] = await records(s(), `${name}-lost`);
          assert.ok(key && record);
          await s().createIfAbsent(
            key.replace(/\d+\.json$/, (g) => `${String(Number(g.slice(0, -5)) + 1).padStart(12, '0')}.json`),
            Buffer.from(
              JSON.stringify({
                ...record,
                run: 'someone-else',
                expiresAt: new Date(Date.now() + 60_000).toISOString(),
              }),
            ),
          );
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          return signal.reason as unknown;
        },
        undefined,
        options,
      );
      assert.ok(stopped instanceof LockHeldError);
      assert.match(stopped.message, /was taken over by/);
    });
  });
}
