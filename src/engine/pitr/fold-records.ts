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

/** Protobuf writer for the few messages a fold needs. */
class ProtoWriter {
  private readonly parts: number[] = [];
  private readonly chunks: Buffer[] = [];
  private flushBytes(): void {
    if (this.parts.length > 0) {
      this.chunks.push(Buffer.from(this.parts));
      this.parts.length = 0;
    }
  }
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
  bytes(field: number, value: Uint8Array): this {
    if (value.length === 0) return this;
    this.parts.push((field << 3) | 2);
    this.smallVarint(value.length);
    this.flushBytes();
    this.chunks.push(Buffer.from(value.buffer, value.byteOffset, value.length));
    return this;
  }
  finish(): Buffer {
    this.flushBytes();
    return this.chunks.length === 1 ? Buffer.from(this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
  }
}

/** An mvccpb.KeyValue as etcd marshals it (key=1, create=2, mod=3, version=4, value=5, lease=6). */
export function encodeKeyValue(kv: {
  key: Uint8Array;
  value: Uint8Array;
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
