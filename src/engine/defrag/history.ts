/**
 * Where defrag runs are recorded, for the agent and the dashboard to read later: one JSON
 * document per line (`defrag-history.jsonl`), appended at the end of each run (refused runs
 * included, dry runs not).
 *
 * - A cluster of the local runtime (reached through its spec): `DATA_DIR/defrag-history.jsonl`.
 * - Any other cluster: `$ETCD_STEWARD_CACHE` (default `~/.cache/etcd-steward`)
 *   `/history/CLUSTER/defrag-history.jsonl`, CLUSTER being the spec's name, or the cluster id
 *   when the endpoints came without a spec.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { cacheDir } from '../../runtime/etcd-binaries.js';

export const DEFRAG_HISTORY_FILE = 'defrag-history.jsonl';

export interface HistoryPlace {
  /** The local runtime's data dir, when the cluster is the spec's local one. */
  readonly localDataDir?: string | undefined;
  /** The spec's cluster name, when there is a spec. */
  readonly clusterName?: string | undefined;
}

/** The history file of a cluster; `clusterId` names it when nothing else does. */
export function defragHistoryFile(
  place: HistoryPlace,
  clusterId: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (place.localDataDir) return path.join(place.localDataDir, DEFRAG_HISTORY_FILE);
  const name = place.clusterName ?? (clusterId ? `cluster-${clusterId}` : 'unknown-cluster');
  return path.join(cacheDir(env), 'history', name.replace(/[^A-Za-z0-9._-]/g, '_'), DEFRAG_HISTORY_FILE);
}

/** Appends one record (a line of JSON; absent values as null, as `-o json` prints them). */
export async function appendDefragHistory(file: string, record: object): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const line = JSON.stringify(record, (_key, v: unknown) => (v === undefined ? null : v));
  await appendFile(file, `${line}\n`);
}

/** Every record of a history file, oldest first; a missing file is an empty history, a torn last line is skipped. */
export async function readDefragHistory<T = Record<string, unknown>>(file: string): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const records: T[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line) as T);
    } catch {
      // a line cut short by a crash mid-append
    }
  }
  return records;
}
