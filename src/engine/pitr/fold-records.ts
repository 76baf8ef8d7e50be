/**
 * The records a fold writes into etcd's buckets, encoded as etcd encodes them, byte for byte
 * (etcd's HashKV hashes the `key` bucket's raw keys and values, so a different but equivalent
 * encoding would not do): revision keys with the tombstone mark, mvccpb.KeyValue and
 * leasepb.Lease protobufs (proto3: fields in number order, zero values left out), and the
 * big-endian integers of the `meta` bucket.
 */

const UNDERSCORE = 0x5f;
const TOMBSTONE = 0x74;

/** The `key` bucket key of revision `main`_`sub`, 18 bytes with the tombstone mark `t`. */
export function revisionKey(main: number, sub: number, tombstone: boolean): Buffer {
  const key = Buffer.alloc(tombstone ? 18 : 17);
  key.writeUInt32BE(Math.floor(main / 2 ** 32), 0);
  key.writeUInt32BE(main >>> 0, 4);
  key[8] = UNDERSCORE;
  key.writeUInt32BE(Math.floor(sub / 2 ** 32), 9);
  key.writeUInt32BE(sub >>> 0, 13);
  if (tombstone) key[17] = TOMBSTONE;
  return key;
}

/** An unsigned 64-bit big-endian integer (`consistent_index`, `term`). */
export function u64BE(value: number | bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt.asUintN(64, BigInt(value)));
  return out;
}

/** Bytes a field holds: raw, or base64 text decoded straight into the message (no copy between). */
type FieldBytes = Uint8Array | { readonly base64: string };

/**
 * Protobuf writer for the few messages a fold needs: field headers are collected as numbers and
 * `finish` allocates the message once, copying (or base64-decoding) each bytes field into place.
 */
class ProtoWriter {
  /** Header bytes, and for each bytes field its position in them and its source. */
  private readonly parts: number[] = [];
  private readonly fields: { field: number; tagAt: number; at: number; value: FieldBytes; length: number }[] =
    [];
  private size = 0;
  private varint(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.parts.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.parts.push(Number(v));
  }
  private smallVarint(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.parts.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.parts.push(v);
  }
  /** An int64 field; left out when zero (proto3). */
  int(field: number, value: number | bigint): this {
    if (value === 0 || value === 0n) return this;
    this.parts.push(field << 3);
    if (typeof value === 'number' && value > 0 && Number.isSafeInteger(value)) this.smallVarint(value);
    else this.varint(BigInt(value));
    return this;
  }
  /** A bytes field; left out when empty (proto3). */
  bytes(field: number, value: FieldBytes): this {
    const length = value instanceof Uint8Array ? value.length : Buffer.byteLength(value.base64, 'base64');
    if (length === 0) return this;
    const tagAt = this.parts.length;
    this.parts.push((field << 3) | 2);
    this.smallVarint(length);
    this.fields.push({ field, tagAt, at: this.parts.length, value, length });
    this.size += length;
    return this;
  }
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.parts.length + this.size);
    let from = 0;
    let to = 0;
    const headers = (until: number) => {
      for (; from < until; from += 1, to += 1) out[to] = this.parts[from] as number;
    };
    for (const f of this.fields) {
      headers(f.at);
      if (f.value instanceof Uint8Array) out.set(f.value, to);
      else if (out.write(f.value.base64, to, f.length, 'base64') !== f.length) return this.slowFinish(); // not canonical base64: decode it on its own
      to += f.length;
    }
    headers(this.parts.length);
    return out;
  }
  /** The message with base64 fields decoded first (their length then comes from the decode). */
  private slowFinish(): Buffer {
    const w = new ProtoWriter();
    let from = 0;
    for (const f of this.fields) {
      w.parts.push(...this.parts.slice(from, f.tagAt));
      w.bytes(f.field, f.value instanceof Uint8Array ? f.value : Buffer.from(f.value.base64, 'base64'));
      from = f.at;
    }
    w.parts.push(...this.parts.slice(from));
    return w.finish();
  }
}

/** An mvccpb.KeyValue as etcd marshals it (key=1, create=2, mod=3, version=4, value=5, lease=6). */
export function encodeKeyValue(kv: {
  key: Uint8Array;
  /** The value, or its base64 text (as the change log holds it), decoded into the message. */
  value: Uint8Array | { readonly base64: string };
  createRevision: number;
  modRevision: number;
  version: number;
  /** Lease id in decimal; "0" for none. */
  lease: string;
}): Buffer {
  return new ProtoWriter()
    .bytes(1, kv.key)
    .int(2, kv.createRevision)
    .int(3, kv.modRevision)
    .int(4, kv.version)
    .bytes(5, kv.value)
    .int(6, kv.lease === '0' ? 0 : BigInt(kv.lease))
    .finish();
}

/** A tombstone's value: a KeyValue holding only the key, as etcd writes it on delete. */
export function encodeTombstone(key: Uint8Array): Buffer {
  return new ProtoWriter().bytes(1, key).finish();
}

/** A leasepb.Lease (ID=1, TTL=2) as etcd persists a granted lease; id in decimal. */
export function encodeLease(id: string, ttlSeconds: number): Buffer {
  return new ProtoWriter().int(1, BigInt(id)).int(2, ttlSeconds).finish();
}

/** The `lease` bucket key of a lease: its id as 8 bytes big-endian. */
export function leaseKey(id: string): Buffer {
  return u64BE(BigInt(id));
}
