/**
 * etcd's records inside its bbolt buckets: revision keys of the `key` bucket, the
 * mvccpb.KeyValue and leasepb.Lease protobufs, and big-endian integers of the `meta` bucket.
 *
 * The protobuf decoder is written by hand (about 60 lines) rather than with protobufjs: it runs
 * once per revision, so it returns zero-copy views of key and value, keeps 64-bit lease ids exact
 * (decimal strings) without a Long dependency, skips unknown fields, and names the field that is
 * malformed; and the reader then loads no protobuf runtime at all.
 */

/** A revision: main (the store's revision) and sub (the op's index inside that transaction). */
export interface Revision {
  readonly main: number;
  readonly sub: number;
}

/** A key of the `key` bucket: 8-byte BE main, '_', 8-byte BE sub, and a trailing 't' for a tombstone. */
export interface RevisionKey extends Revision {
  readonly tombstone: boolean;
}

const TWO_32 = 2 ** 32;
const UNDERSCORE = 0x5f;
const TOMBSTONE = 0x74;

function readU64BE(buffer: Buffer, offset: number): number {
  return buffer.readUInt32BE(offset) * TWO_32 + buffer.readUInt32BE(offset + 4);
}

/** Parses a `key` bucket key; undefined when it is not 17 bytes (18 with 't') in that shape. */
export function parseRevisionKey(key: Buffer): RevisionKey | undefined {
  if (key.length !== 17 && key.length !== 18) return undefined;
  if (key[8] !== UNDERSCORE) return undefined;
  if (key.length === 18 && key[17] !== TOMBSTONE) return undefined;
  const main = readU64BE(key, 0);
  const sub = readU64BE(key, 9);
  if (!Number.isSafeInteger(main) || !Number.isSafeInteger(sub)) return undefined;
  return { main, sub, tombstone: key.length === 18 };
}

/** The 17-byte key of a revision (no tombstone mark): where a scan from that revision starts. */
export function revisionKeyBytes(revision: Revision): Buffer {
  const key = Buffer.alloc(17);
  key.writeBigUInt64BE(BigInt(revision.main), 0);
  key[8] = UNDERSCORE;
  key.writeBigUInt64BE(BigInt(revision.sub), 9);
  return key;
}

/** A big-endian u64 value of the `meta` bucket (consistent_index, term); undefined unless 8 bytes. */
export function parseU64BE(value: Buffer): number | undefined {
  return value.length === 8 ? readU64BE(value, 0) : undefined;
}

/**
 * etcd's mvccpb.KeyValue: one key as etcd stores and returns it. The one shape for a key
 * everywhere: read from a snapshot (`Snapshot.keyValues`), from a member (`get`, `scan`) or in a
 * watch event. `key` and `value` are the raw bytes (keys need not be UTF-8).
 */
export interface KeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly createRevision: number;
  readonly modRevision: number;
  /** How many times the key was written since it was (last) created: 1 after the first put. */
  readonly version: number;
  /** The lease id in decimal, as etcdctl's JSON prints it; "0" when none. */
  readonly lease: string;
}

/** A protobuf message that cannot be decoded; the caller adds where it was. */
export class ProtobufError extends Error {}

/** Reads protobuf wire format field by field (shared with etcd/wire-codec.ts). */
export class ProtobufReader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  /** A varint as [low 32 bits, high 32 bits]. */
  varint(field: string): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new ProtobufError(`${field}: varint runs past the end`);
      const b = this.buf[this.pos++] as number;
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >> 4;
      } else hi |= bits << (7 * i - 32);
      if ((b & 0x80) === 0) return [lo >>> 0, hi >>> 0];
    }
    throw new ProtobufError(`${field}: varint longer than 10 bytes`);
  }
  /** A non-negative int64 that must fit a double exactly (revisions, versions). */
  safeInt(field: string): number {
    const [lo, hi] = this.varint(field);
    const n = hi * TWO_32 + lo;
    if (!Number.isSafeInteger(n)) throw new ProtobufError(`${field}: ${n} is not a valid revision or count`);
    return n;
  }
  int64String(field: string): string {
    const [lo, hi] = this.varint(field);
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
  }
  bytes(field: string): Buffer {
    const length = this.safeInt(field);
    if (this.pos + length > this.buf.length)
      throw new ProtobufError(`${field}: ${length} bytes run past the end of the message`);
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }
  skip(wireType: number, field: number): void {
    const name = `field ${field}`;
    if (wireType === 0) this.varint(name);
    else if (wireType === 1) this.advance(8, name);
    else if (wireType === 2) this.bytes(name);
    else if (wireType === 5) this.advance(4, name);
    else throw new ProtobufError(`${name}: unsupported wire type ${wireType}`);
  }
  private advance(n: number, field: string): void {
    if (this.pos + n > this.buf.length) throw new ProtobufError(`${field}: runs past the end`);
    this.pos += n;
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Decodes an mvccpb.KeyValue (key=1, create_revision=2, mod_revision=3, version=4, value=5,
 * lease=6). `key` and `value` are views into `message`: copy them to keep them.
 */
export function decodeKeyValue(message: Buffer): KeyValue {
  const r = new ProtobufReader(message);
  let key: Buffer = EMPTY;
  let value: Buffer = EMPTY;
  let createRevision = 0;
  let modRevision = 0;
  let version = 0;
  let lease = '0';
  while (!r.done) {
    const [tag] = r.varint('tag');
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === 2) key = r.bytes('key');
    else if (field === 2 && wire === 0) createRevision = r.safeInt('create_revision');
    else if (field === 3 && wire === 0) modRevision = r.safeInt('mod_revision');
    else if (field === 4 && wire === 0) version = r.safeInt('version');
    else if (field === 5 && wire === 2) value = r.bytes('value');
    else if (field === 6 && wire === 0) lease = r.int64String('lease');
    else if (field === 0) throw new ProtobufError('field number 0');
    else r.skip(wire, field);
  }
  return { key, value, createRevision, modRevision, version, lease };
}

/** A decoded leasepb.Lease. */
export interface DecodedLease {
  /** The lease id in decimal. */
  readonly id: string;
  /** The TTL it was granted with, in seconds. */
  readonly ttl: number;
}

/** Decodes a leasepb.Lease (ID=1, TTL=2, RemainingTTL=3). */
export function decodeLease(message: Buffer): DecodedLease {
  const r = new ProtobufReader(message);
  let id = '0';
  let ttl = 0;
  while (!r.done) {
    const [tag] = r.varint('tag');
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === 0) id = r.int64String('ID');
    else if (field === 2 && wire === 0) ttl = Number(r.int64String('TTL'));
    else if (field === 0) throw new ProtobufError('field number 0');
    else r.skip(wire, field);
  }
  return { id, ttl };
}
