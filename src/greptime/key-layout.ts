/**
 * Recognising GreptimeDB's metasrv data in an etcd key space, and counting what it describes:
 * catalogs, schemas, tables and flows. Used by `snapshot inspect` and by `restore`, which print it.
 *
 * metasrv's keys (see its `key.rs`) are `__catalog_name/{catalog}`, `__schema_name/{catalog}/{schema}`,
 * `__table_name/{catalog}/{schema}/{table}`, `__flow/info/{id}`, `__table_info/{id}`,
 * `__table_route/{id}`, …, each possibly behind a common prefix (metasrv's `store_key_prefix`,
 * plain concatenation). Here a key counts when one of those markers occurs in it: the bytes before
 * the first marker are its store key prefix. Keys under `__tombstone/` (GreptimeDB's copies of
 * deleted metadata) do not count. Several prefixes — GreptimeDB clusters sharing one etcd — are
 * summed, and listed.
 */

/** What GreptimeDB keeps in the key space. */
export interface GreptimeSummary {
  /** `__catalog_name/{catalog}` keys. */
  readonly catalogs: number;
  /** `__schema_name/{catalog}/{schema}` keys. */
  readonly schemas: number;
  /** `__table_name/{catalog}/{schema}/{table}` keys (one per table, logical and physical). */
  readonly tables: number;
  /** `__flow/info/{id}` keys. */
  readonly flows: number;
  /** The store key prefixes the keys sit behind, sorted; `""` when there is none. */
  readonly keyPrefixes: string[];
}

type Kind = 'catalogs' | 'schemas' | 'tables' | 'flows' | undefined;

/** The markers, with what each counts as and how many '/' must follow it (name segments − 1). */
const MARKERS: readonly { bytes: Buffer; kind: Kind; slashes: number }[] = [
  { bytes: Buffer.from('__catalog_name/'), kind: 'catalogs', slashes: 0 },
  { bytes: Buffer.from('__schema_name/'), kind: 'schemas', slashes: 1 },
  { bytes: Buffer.from('__table_name/'), kind: 'tables', slashes: 2 },
  { bytes: Buffer.from('__flow/info/'), kind: 'flows', slashes: 0 },
  // Recognised (they make a key space GreptimeDB's) but not counted.
  { bytes: Buffer.from('__table_info/'), kind: undefined, slashes: 0 },
  { bytes: Buffer.from('__table_route/'), kind: undefined, slashes: 0 },
];
const TOMBSTONE = Buffer.from('__tombstone/');
const UNDERSCORES = Buffer.from('__');
const SLASH = 0x2f;

/** The kind of `key` and its store key prefix (latin1), or undefined when it is not GreptimeDB's. */
export function classifyGreptimeKey(key: Buffer): { kind: Kind; prefix: string } | undefined {
  if (key.indexOf(UNDERSCORES) < 0) return undefined;
  let found: { at: number; marker: (typeof MARKERS)[number] } | undefined;
  for (const marker of MARKERS) {
    const at = key.indexOf(marker.bytes);
    if (at >= 0 && (found === undefined || at < found.at)) found = { at, marker };
  }
  if (!found) return undefined;
  const rest = key.subarray(found.at + found.marker.bytes.length);
  if (rest.length === 0) return undefined;
  let slashes = 0;
  for (const byte of rest) if (byte === SLASH) slashes++;
  if (slashes < found.marker.slashes) return undefined;
  const prefix = key.subarray(0, found.at);
  if (prefix.indexOf(TOMBSTONE) >= 0) return undefined;
  return { kind: found.marker.kind, prefix: prefix.toString('latin1') };
}

/**
 * Counts GreptimeDB's catalogs, schemas, tables and flows among `keys` (live keys, in any order);
 * undefined when none of them is GreptimeDB's.
 */
export async function greptimeSummary(
  keys: AsyncIterable<{ key: Buffer }> | Iterable<{ key: Buffer }>,
): Promise<GreptimeSummary | undefined> {
  const counts = { catalogs: 0, schemas: 0, tables: 0, flows: 0 };
  const prefixes = new Set<string>();
  for await (const { key } of keys) {
    const found = classifyGreptimeKey(key);
    if (!found) continue;
    prefixes.add(found.prefix);
    if (found.kind) counts[found.kind]++;
  }
  if (prefixes.size === 0) return undefined;
  return {
    ...counts,
    keyPrefixes: [...prefixes].sort().map((p) => Buffer.from(p, 'latin1').toString('utf8')),
  };
}

/** One line for people: "2 catalogs, 3 schemas, 5 tables, 1 flow", and the key prefixes unless there is none. */
export function describeGreptime(summary: GreptimeSummary): string {
  const n = (count: number, one: string) => `${count} ${one}${count === 1 ? '' : 's'}`;
  const counts = `${n(summary.catalogs, 'catalog')}, ${n(summary.schemas, 'schema')}, ${n(summary.tables, 'table')}, ${n(summary.flows, 'flow')}`;
  const prefixes = summary.keyPrefixes;
  if (prefixes.length === 1 && prefixes[0] === '') return counts;
  const shown = prefixes.map((p) => (p === '' ? '(none)' : JSON.stringify(p)));
  return `${counts} (key ${prefixes.length === 1 ? 'prefix' : 'prefixes'} ${shown.join(', ')})`;
}
