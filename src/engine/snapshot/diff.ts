/**
 * `snapshot diff`: how the live keys of B differ from those of A, where each side is a snapshot
 * (read offline) or the live cluster. Both sides come sorted by key bytes and are merged as two
 * streams: the merge holds only the current record of each side. (A snapshot side still costs the
 * reader's index of its live keys — keys and offsets, no values; the live side one page of keys.)
 *
 * What counts as what (each live key of either side is exactly one of these):
 * - added: in B, not in A;  removed: in A, not in B;
 * - changed: in both, the values differ;
 * - rewritten: in both, the same value, but a different mod revision — written again with the
 *   same bytes, or deleted and created again. Not a change of data, but of history; reported
 *   apart so that comparing a cluster with its own snapshot shows it, while comparing two key
 *   spaces that were built separately (whose revisions never match) still shows equal data;
 * - unchanged: the same value and the same mod revision.
 * Leases, create revisions and versions are not compared.
 *
 * Top-level prefix (for the per-prefix counts): a key up to and including its first '/' at
 * position 1 or later — `__table_info/`, `__table_name/`, `/__procedure__/` (the leading '/' does
 * not end it), `greptimeA__table_info/`; a key without such a '/' is its own group (`__meta_seq-table_id`).
 * At most 1000 groups are kept; keys of further groups are counted together (prefix null).
 */
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../../etcd/member-client.js';
import { StewardError } from '../../errors.js';
import type { Snapshot } from '../../snapshot/index.js';
import { encodeBytes, type BytesEncoding } from './bytes.js';
import { clusterStatus } from '../status.js';

/** One live key of a side. */
export interface KeyRecord {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly modRevision: number;
}

export type KeyChangeKind = 'added' | 'removed' | 'changed' | 'rewritten';

/** A key that is not unchanged, with what each side holds (undefined: not there). */
export interface KeyChange {
  readonly key: Buffer;
  readonly change: KeyChangeKind;
  readonly a: KeyRecord | undefined;
  readonly b: KeyRecord | undefined;
}

export interface ChangeCounts {
  added: number;
  removed: number;
  changed: number;
  rewritten: number;
  unchanged: number;
}

export interface DiffResult {
  readonly counts: ChangeCounts;
  /** Live keys compared on each side. */
  readonly keysA: number;
  readonly keysB: number;
  /** Per top-level prefix, in key byte order; `prefix` undefined for the overflow group. */
  readonly byPrefix: readonly { prefix: Buffer | undefined; counts: ChangeCounts }[];
}

/** Groups kept for per-prefix counts before further ones are counted together. */
export const MAX_PREFIX_GROUPS = 1000;
const SLASH = 0x2f;

/** The top-level prefix of `key` (see the module comment). */
export function topLevelPrefix(key: Buffer): Buffer {
  const slash = key.indexOf(SLASH, 1);
  return slash < 0 ? key : key.subarray(0, slash + 1);
}

function zero(): ChangeCounts {
  return { added: 0, removed: 0, changed: 0, rewritten: 0, unchanged: 0 };
}

/**
 * Pairs up the records of two key-sorted streams: [a, b] with the same key, or one side
 * undefined. Throws when a side is not strictly sorted by key bytes (the merge would be wrong).
 */
export async function* mergeSorted(
  a: AsyncIterable<KeyRecord>,
  b: AsyncIterable<KeyRecord>,
): AsyncGenerator<[KeyRecord | undefined, KeyRecord | undefined]> {
  const ia = a[Symbol.asyncIterator]();
  const ib = b[Symbol.asyncIterator]();
  const ordered = (side: string) => {
    let last: Buffer | undefined;
    return async (it: AsyncIterator<KeyRecord>): Promise<KeyRecord | undefined> => {
      const next = await it.next();
      if (next.done) return undefined;
      if (last && Buffer.compare(last, next.value.key) >= 0)
        throw new Error(
          `side ${side} is not sorted by key: ${next.value.key.toString('hex')} after ${last.toString('hex')}`,
        );
      last = next.value.key;
      return next.value;
    };
  };
  const nextA = ordered('A');
  const nextB = ordered('B');
  try {
    let x = await nextA(ia);
    let y = await nextB(ib);
    while (x || y) {
      const order = !x ? 1 : !y ? -1 : Buffer.compare(x.key, y.key);
      if (order < 0) {
        yield [x, undefined];
        x = await nextA(ia);
      } else if (order > 0) {
        yield [undefined, y];
        y = await nextB(ib);
      } else {
        yield [x, y];
        x = await nextA(ia);
        y = await nextB(ib);
      }
    }
  } finally {
    await Promise.allSettled([ia.return?.(), ib.return?.()]);
  }
}

/** What happened to a key between A and B. */
export function classify(a: KeyRecord | undefined, b: KeyRecord | undefined): KeyChangeKind | 'unchanged' {
  if (!a) return 'added';
  if (!b) return 'removed';
  if (!a.value.equals(b.value)) return 'changed';
  return a.modRevision === b.modRevision ? 'unchanged' : 'rewritten';
}

/** Merges A and B, counts every key by kind and top-level prefix, and hands each change to `onChange`. */
export async function diffKeySpaces(
  a: AsyncIterable<KeyRecord>,
  b: AsyncIterable<KeyRecord>,
  onChange?: (change: KeyChange) => void,
): Promise<DiffResult> {
  const counts = zero();
  // Groups by prefix (latin1: lossless for bytes); `other` once the cap is reached.
  const groups = new Map<string, ChangeCounts>();
  let other: ChangeCounts | undefined;
  let keysA = 0;
  let keysB = 0;
  for await (const [x, y] of mergeSorted(a, b)) {
    if (x) keysA++;
    if (y) keysB++;
    const key = (x ?? y)?.key as Buffer;
    const kind = classify(x, y);
    counts[kind]++;
    const name = topLevelPrefix(key).toString('latin1');
    let group = groups.get(name);
    if (!group) {
      if (groups.size < MAX_PREFIX_GROUPS) groups.set(name, (group = zero()));
      else group = other ??= zero();
    }
    group[kind]++;
    if (kind !== 'unchanged') onChange?.({ key, change: kind, a: x, b: y });
  }
  const named = [...groups]
    .map(([name, c]) => ({ prefix: Buffer.from(name, 'latin1'), counts: c }))
    .sort((p, q) => Buffer.compare(p.prefix, q.prefix));
  const byPrefix: { prefix: Buffer | undefined; counts: ChangeCounts }[] = named;
  if (other) byPrefix.push({ prefix: undefined, counts: other });
  return { counts, keysA, keysB, byPrefix };
}

/** The live keys of a snapshot as diff records, in key order. */
export async function* snapshotRecords(snapshot: Snapshot, prefix?: string): AsyncGenerator<KeyRecord> {
  for await (const kv of snapshot.keyValues(prefix === undefined ? {} : { prefix }))
    yield { key: kv.key, value: kv.value, modRevision: kv.modRevision };
}

/** The live cluster's keys, read through one healthy member, page by page. */
export interface LiveKeys {
  /** The member they are read through. */
  readonly endpoint: string;
  /**
   * The cluster's revision when the read began. `MemberClient.scan` pins every page to the
   * revision of its first page but does not say which that is; it is this one unless a write
   * came in between.
   */
  readonly revision: number;
  /** The keys in byte order; iterate once. */
  readonly records: AsyncIterable<KeyRecord>;
  /** Closes the connection (also when `records` was not iterated to its end). */
  close(): void;
}

/** Keys per KV.Range page. */
export const LIVE_PAGE_SIZE = 1000;

/**
 * Opens a read of the cluster's keys (those starting with `prefix`, or all) through one healthy
 * member — the leader when healthy, else the first healthy member — as linearizable ranges of
 * `pageSize` keys at one revision (`MemberClient.scan`): one consistent view, streamed.
 */
export async function openLiveKeys(options: {
  endpoints: string | readonly string[];
  connection: ConnectionOptions;
  names?: ReadonlyMap<string, string> | undefined;
  prefix?: string;
  pageSize?: number;
}): Promise<LiveKeys> {
  const status = await clusterStatus({
    endpoints: options.endpoints,
    connection: options.connection,
    names: options.names,
  });
  const healthy = status.members.filter((m) => m.health.ok);
  const member = healthy.find((m) => m.isLeader) ?? healthy[0];
  if (!member) {
    const problems = status.members.map((m) => `${m.endpoint}: ${m.health.error ?? 'unhealthy'}`);
    throw new StewardError(`no healthy member to read the live keys from:\n    ${problems.join('\n    ')}`, {
      hint: 'check the cluster with `etcd-steward status`; a diff against the live cluster needs one healthy member',
    });
  }
  const client = new MemberClient(parseEndpoint(member.endpoint), options.connection);
  try {
    const { revision } = await client.countKeys();
    const scan = client.scan({
      ...(options.prefix ? { prefix: options.prefix } : {}),
      pageSize: options.pageSize ?? LIVE_PAGE_SIZE,
    });
    async function* records(): AsyncGenerator<KeyRecord> {
      for await (const kv of scan) yield { key: kv.key, value: kv.value, modRevision: kv.modRevision };
    }
    return { endpoint: member.endpoint, revision, records: records(), close: () => client.close() };
  } catch (error) {
    client.close();
    throw error;
  }
}

/** A change as JSON (see the CLI's document): the key, its kind, and each side's mod revision and value size. */
export interface KeyChangeJson {
  readonly key: string;
  readonly keyEncoding: BytesEncoding;
  readonly change: KeyChangeKind;
  readonly a: { modRevision: number; valueSize: number } | null;
  readonly b: { modRevision: number; valueSize: number } | null;
}

export function changeJson(change: KeyChange): KeyChangeJson {
  const key = encodeBytes(change.key);
  const side = (r: KeyRecord | undefined) =>
    r ? { modRevision: r.modRevision, valueSize: r.value.length } : null;
  return {
    key: key.text,
    keyEncoding: key.encoding,
    change: change.change,
    a: side(change.a),
    b: side(change.b),
  };
}
