/** etcd's KV service on one member: read, write, delete, count, scan, transactions, compaction. */
import type { KeyValue } from '../snapshot/etcd-records.js';
import type { MemberChannel } from './channel.js';

/** One condition of a `txn`: the key's mod revision or version equals `value`. */
export interface TxnCompare {
  readonly key: Buffer;
  readonly target: 'MOD' | 'VERSION';
  readonly value: number;
}

/** One operation of a `txn`. `lease` is a decimal lease id, '0' for none. */
export type TxnOp =
  | { readonly type: 'put'; readonly key: Buffer; readonly value: Buffer; readonly lease: string }
  | { readonly type: 'delete'; readonly key: Buffer };

/** mvccpb.KeyValue as the gRPC layer hands it over (64-bit numbers as decimal strings). */
export interface KeyValueWire {
  key: Buffer;
  value: Buffer;
  createRevision: string;
  modRevision: string;
  version: string;
  lease: string;
}

/** KV calls on one member. */
export class KvService {
  constructor(private readonly channel: MemberChannel) {}

  /** Writes one key. */
  async put(key: string, value: string | Buffer): Promise<{ revision: number }> {
    const r = await this.channel.unary<{ header: { revision: string } }>('KV', 'put', {
      key: Buffer.from(key),
      value: Buffer.from(value),
    });
    return { revision: Number(r.header.revision) };
  }

  /** Deletes one key, or every key starting with `key` when `prefix` is set; returns how many went. */
  async delete(
    key: string,
    options: { prefix?: boolean } = {},
  ): Promise<{ deleted: number; revision: number }> {
    const keyBytes = Buffer.from(key);
    const request: Record<string, unknown> = { key: keyBytes };
    if (options.prefix) request['rangeEnd'] = prefixEnd(keyBytes);
    const r = await this.channel.unary<{ deleted: string; header: { revision: string } }>(
      'KV',
      'deleteRange',
      request,
    );
    return { deleted: Number(r.deleted), revision: Number(r.header.revision) };
  }

  /** Reads one key, or every key starting with `key` when `prefix` is set. */
  async get(key: string, options: { prefix?: boolean; revision?: number } = {}): Promise<KeyValue[]> {
    const keyBytes = Buffer.from(key);
    const request: Record<string, unknown> = { key: keyBytes, revision: options.revision ?? 0 };
    if (options.prefix) request['rangeEnd'] = prefixEnd(keyBytes);
    const r = await this.channel.unary<{ kvs: KeyValueWire[] }>('KV', 'range', request);
    return r.kvs.map(fromWire);
  }

  /**
   * etcdctl's health probe: a linearizable read of the key `health` through this member. A
   * permission error still proves the member serves consensus reads, as etcdctl counts it.
   */
  async healthRead(): Promise<void> {
    try {
      await this.channel.unary('KV', 'range', { key: Buffer.from('health'), countOnly: true });
    } catch (error) {
      if (error instanceof Error && /permission denied/i.test(error.message)) return;
      throw error;
    }
  }

  /** How many keys exist at `revision` (0: now), without reading them. */
  async countKeys(revision = 0): Promise<{ count: number; revision: number }> {
    const r = await this.channel.unary<{ count: string; header: { revision: string } }>('KV', 'range', {
      key: Buffer.from([0]),
      rangeEnd: Buffer.from([0]),
      countOnly: true,
      revision,
    });
    return { count: Number(r.count), revision: Number(r.header.revision) };
  }

  /**
   * How many keys were created or changed after `revision` (their mod revision is higher).
   * etcd applies the mod-revision filter only to returned keys (not to count_only, nor before a
   * limit), so this reads the matching keys — keys only — and counts them.
   */
  async countChangedSince(revision: number): Promise<number> {
    const r = await this.channel.unary<{ kvs: unknown[] }>('KV', 'range', {
      key: Buffer.from([0]),
      rangeEnd: Buffer.from([0]),
      keysOnly: true,
      minModRevision: revision + 1,
    });
    return r.kvs.length;
  }

  /**
   * Every key (or every key under `prefix`) in key order, read in pages of `pageSize` at one
   * revision (the first page's), so the view is consistent however long the walk takes.
   */
  async *scan(
    options: { prefix?: string; pageSize?: number; keysOnly?: boolean } = {},
  ): AsyncGenerator<KeyValue> {
    const pageSize = options.pageSize ?? 5000;
    const prefix = options.prefix ? Buffer.from(options.prefix) : undefined;
    const end = prefix ? prefixEnd(prefix) : Buffer.from([0]);
    let from = prefix ?? Buffer.from([0]);
    let revision = 0;
    for (;;) {
      const r = await this.channel.unary<{
        kvs: KeyValueWire[];
        more: boolean;
        header: { revision: string };
      }>('KV', 'range', {
        key: from,
        rangeEnd: end,
        limit: pageSize,
        revision,
        keysOnly: options.keysOnly ?? false,
      });
      revision = Number(r.header.revision);
      for (const kv of r.kvs) yield fromWire(kv);
      const last = r.kvs.at(-1);
      if (!r.more || !last) return;
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  /**
   * One KV.Txn: if every `compare` holds, apply `ops` (puts with their lease, single-key
   * deletes) as one revision. Returns whether it applied and the revision after it.
   */
  async txn(
    compare: readonly TxnCompare[],
    ops: readonly TxnOp[],
  ): Promise<{ succeeded: boolean; revision: number }> {
    const r = await this.channel.unary<{ succeeded: boolean; header: { revision: string } }>('KV', 'txn', {
      compare: compare.map((c) =>
        c.target === 'MOD'
          ? { result: 'EQUAL', target: 'MOD', key: c.key, modRevision: c.value }
          : { result: 'EQUAL', target: 'VERSION', key: c.key, version: c.value },
      ),
      success: ops.map((op) =>
        op.type === 'put'
          ? { requestPut: { key: op.key, value: op.value, lease: op.lease } }
          : { requestDeleteRange: { key: op.key } },
      ),
      failure: [],
    });
    return { succeeded: r.succeeded, revision: Number(r.header.revision) };
  }

  /** Puts `key` = `value` with `lease` only if `key` does not exist; true when it was written. */
  async putIfAbsent(key: Buffer, value: Buffer, lease: string): Promise<boolean> {
    const r = await this.channel.unary<{ succeeded: boolean }>('KV', 'txn', {
      compare: [{ result: 'EQUAL', target: 'CREATE', key, createRevision: 0 }],
      success: [{ requestPut: { key, value, lease } }],
      failure: [],
    });
    return r.succeeded;
  }

  /**
   * KV.Compact up to `revision`. With `physical`, the call returns once this member has removed
   * the compacted revisions from its bolt file (the others do it on their own, a little later).
   */
  async compact(revision: number, physical: boolean, timeoutMs: number): Promise<void> {
    await this.channel.unary('KV', 'compact', { revision, physical }, timeoutMs);
  }
}

/** The end of the range of keys that start with `prefix` (etcd's prefix convention). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i -= 1) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** A wire KeyValue as the one `KeyValue` shape. */
export function fromWire(kv: KeyValueWire): KeyValue {
  return {
    key: kv.key,
    value: kv.value,
    createRevision: Number(kv.createRevision),
    modRevision: Number(kv.modRevision),
    version: Number(kv.version),
    lease: kv.lease,
  };
}
