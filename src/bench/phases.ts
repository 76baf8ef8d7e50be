/**
 * Child process of the backup bench: where the time (and memory) of one `backup create` goes,
 * measured in-process. Each mode runs in its own process so its peak RSS is its own; prints JSON.
 *
 *   phases.js create ENDPOINTS STORAGE_URL  createBackup with a mark at each phase
 *   phases.js drain ENDPOINT                the snapshot stream alone, bytes thrown away
 *   phases.js offline FILE                  one SHA-256 pass over FILE, then the offline check
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { parseEndpoint } from '../etcd/endpoint.js';
import { MemberClient } from '../etcd/member-client.js';
import { createBackup } from '../engine/backup/create.js';
import { checkSnapshotFile } from '../engine/backup/snapshot-facts.js';
import { openStorage } from '../storage/open.js';

const connection = { dialTimeoutMs: 2000, commandTimeoutMs: 5000 };
/** Peak RSS so far, in bytes (the kernel's high-water mark for this process). */
const peakRss = () => process.resourceUsage().maxRSS * 1024;
const [mode, a, b] = process.argv.slice(2);
const started = performance.now();
const since = () => performance.now() - started;
let result: Record<string, number>;

if (mode === 'create' && a && b) {
  const marks: Record<string, number> = {};
  const storage = await openStorage(b);
  await createBackup({
    clusterName: 'bench-phases',
    endpoints: a.split(','),
    connection,
    storage,
    compression: 'none',
    onProgress: (p) => {
      if (marks[p.phase] !== undefined) return;
      marks[p.phase] = since();
      marks[`${p.phase}Rss`] = peakRss();
    },
  });
  const total = since();
  const streamStart = marks['snapshot'] ?? 0;
  const checkStart = marks['check'] ?? total;
  const done = marks['done'] ?? total;
  result = {
    beforeStreamMs: streamStart,
    streamMs: checkStart - streamStart,
    checkMs: done - checkStart,
    afterMs: total - done,
    totalMs: total,
    rssAtStreamEnd: marks['checkRss'] ?? 0,
    rssAtEnd: peakRss(),
  };
} else if (mode === 'drain' && a) {
  const client = new MemberClient(parseEndpoint(a), connection);
  try {
    const snapshot = await client.snapshot();
    let bytes = 0;
    for await (const chunk of snapshot.bytes) bytes += (chunk as Buffer).length;
    result = { drainMs: since(), bytes, rss: peakRss() };
  } finally {
    client.close();
  }
} else if (mode === 'offline' && a) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(a, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  const hashMs = since();
  const facts = await checkSnapshotFile(a);
  result = { hashMs, checkMs: since() - hashMs, keys: facts.keyCount, rss: peakRss() };
} else {
  throw new Error('usage: phases.js create ENDPOINTS STORAGE_URL | drain ENDPOINT | offline FILE');
}
process.stdout.write(`${JSON.stringify(result)}\n`);
