/**
 * The fold benches' inputs: GreptimeDB tables, and a change log written synthetically in the
 * log's own format with the pitr bench's mix (info rewrites, route moves, procedure steps),
 * with the create revisions and versions the keys' state gives.
 */
import { writeSegment, type LoggedRevision } from '../engine/pitr/segment.js';
import type { BackupStorage } from '../storage/storage.js';
import {
  Random,
  procedureStepValue,
  tableInfoValue,
  tableRouteValue,
  type TableRecord,
} from './greptime-values.js';

/** `count` tables with info 2–20 KiB and 1–8 partitions (seeded: the same every run). */
export function foldBenchTables(count: number): TableRecord[] {
  const random = new Random(7);
  return Array.from({ length: count }, (_, i) => ({
    id: 1024 + i,
    catalog: 'greptime',
    schema: 'public',
    name: `t${i}`,
    infoBytes: random.int(2048, 20480),
    version: 1,
    partitions: random.int(1, 8),
    routeVersion: 1,
  }));
}

/**
 * Writes `revisions` revisions after `head` into ~16 MiB segments of `storage`, one put each,
 * 500 writes/s apart; `state` (key → [create revision, version]) is read and updated.
 * Returns the last revision.
 */
export async function writeSyntheticLog(
  storage: BackupStorage,
  tables: TableRecord[],
  state: Map<string, [number, number]>,
  head: number,
  revisions: number,
): Promise<number> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  let batch: LoggedRevision[] = [];
  let batchBytes = 0;
  const t0 = Date.now() - revisions * 2; // 500 writes/s
  for (let i = 0; i < revisions; i += 1) {
    const t = tables[i % tables.length] as TableRecord;
    const kind = i % 5;
    let key: string;
    let value: string;
    if (kind === 0) {
      t.version += 1;
      key = `__table_info/${t.id}`;
      value = tableInfoValue(t);
    } else if (kind < 3) {
      t.routeVersion += 1;
      key = `__table_route/${t.id}`;
      value = tableRouteValue(t);
    } else {
      key = `__procedure__/${i % 500}`;
      value = procedureStepValue(`p${i}`, t.id);
    }
    head += 1;
    const before = state.get(key);
    const cn: [number, number] = before ? [before[0], before[1] + 1] : [head, 1];
    state.set(key, cn);
    batch.push({ r: head, t: t0 + i * 2, e: [{ k: b64(key), v: b64(value), c: cn[0], n: cn[1] }] });
    batchBytes += value.length * 1.4;
    if (batchBytes > 16 * 2 ** 20 || i === revisions - 1) {
      await writeSegment(storage, 'bench', batch, {});
      batch = [];
      batchBytes = 0;
    }
  }
  return head;
}
