/**
 * Child process of the reader bench (its own process, so its peak RSS is its own): counts the
 * live keys of a snapshot file with our offline reader and prints them as JSON.
 * Usage: node dist/bench/count-keys.js FILE [--split]
 * With --split the trailer's SHA-256 pass runs first and alone (summarizeSnapshot then reuses
 * its verdict), to show what the hash and what the page walk cost.
 */
import { openSnapshot, summarizeSnapshot } from '../snapshot/index.js';

const [file, flag] = process.argv.slice(2);
if (!file) throw new Error('usage: count-keys.js SNAPSHOT_FILE [--split]');
const started = performance.now();
const snapshot = await openSnapshot(file);
try {
  if (flag === '--split') await snapshot.trailer();
  const trailerMs = performance.now() - started;
  const summary = await summarizeSnapshot(snapshot);
  process.stdout.write(
    `${JSON.stringify({
      liveKeys: summary.liveKeys,
      revisions: summary.revisions,
      revision: summary.revision,
      ...(flag === '--split' ? { trailerMs, walkMs: performance.now() - started - trailerMs } : {}),
    })}\n`,
  );
} finally {
  await snapshot.close();
}
