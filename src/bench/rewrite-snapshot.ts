/**
 * Child process of the writer bench (its own process, so its peak RSS is its own): reads every
 * bucket of a snapshot with our reader and writes them to a new snapshot file with
 * writeEtcdSnapshotFile, then prints the timing as JSON.
 * Usage: node dist/bench/rewrite-snapshot.js SNAPSHOT OUT        (rewrite)
 *        node dist/bench/rewrite-snapshot.js SNAPSHOT --read-only (the reading alone, for the split)
 */
import { stat } from 'node:fs/promises';
import { snapshotBuckets, writeEtcdSnapshotFile } from '../snapshot/etcd-snapshot-writer.js';
import { openSnapshot } from '../snapshot/index.js';

const [file, out] = process.argv.slice(2);
if (!file || !out) throw new Error('usage: rewrite-snapshot.js SNAPSHOT (OUT | --read-only)');
const started = performance.now();
const snapshot = await openSnapshot(file);
try {
  let entries = 0;
  if (out === '--read-only') {
    for await (const bucket of snapshotBuckets(snapshot))
      for await (const _ of bucket.entries as AsyncIterable<unknown>) entries++;
    process.stdout.write(`${JSON.stringify({ ms: performance.now() - started, entries })}\n`);
  } else {
    const written = await writeEtcdSnapshotFile(out, snapshotBuckets(snapshot));
    const ms = performance.now() - started;
    process.stdout.write(
      `${JSON.stringify({ ms, inputBytes: (await stat(file)).size, outputBytes: written.bytes })}\n`,
    );
  }
} finally {
  await snapshot.close();
}
