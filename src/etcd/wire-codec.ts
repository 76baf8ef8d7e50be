/**
 * The protobuf codec of etcd's v3 API messages, driven by the field tables generated from
 * proto/etcd-v3.proto (etcd-api.generated.ts): no .proto parsing and no protobuf runtime at run
 * time. Objects have the shape @grpc/proto-loader gave with `longs: String, enums: String,
 * defaults: true`: camelCase names, 64-bit integers as decimal strings, enums by name, bytes as
 * Buffers (views of the response), absent scalars as their default, absent messages as null,
 * repeated fields as arrays, and a oneof's fields only when set.
 */
import { ProtobufError, ProtobufReader } from '../snapshot/etcd-records.js';
import { ENUMS, MESSAGES, PACKAGE, SERVICES } from './etcd-api.generated.js';

/** One field of a message, as the generator writes it. */
export interface FieldSpec {
  readonly number: number;
  readonly name: string;
  /** A scalar (int64, uint64, int32, uint32, bool, string, bytes), an enum or a message name. */
  readonly type: string;
  readonly repeated?: boolean;
  /** The oneof it belongs to (camelCase). */
  readonly oneof?: string;
}

/** One method of a service, as the generator writes it. */
export interface MethodSpec {
  readonly request: string;
  readonly response: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/** A method found by service and (any-case) method name, with its gRPC path. */
export interface ResolvedMethod extends MethodSpec {
  readonly path: string;
  readonly service: string;
  /** The method's name as the .proto spells it (`Status`, `HashKV`). */
  readonly name: string;
}

/** The etcd v3 service names. */
export type ServiceName = keyof typeof SERVICES;

const methodIndex = new Map<string, ResolvedMethod>();

/** `service`.`method` (`'KV', 'deleteRange'` or `'KV', 'DeleteRange'`); throws if there is none. */
export function resolveMethod(service: ServiceName, method: string): ResolvedMethod {
  const key = `${service}/${method.toLowerCase()}`;
  let found = methodIndex.get(key);
  if (!found) {
    const methods = SERVICES[service] as Record<string, MethodSpec>;
    const name = Object.keys(methods).find((m) => m.toLowerCase() === method.toLowerCase());
    if (!name) throw new Error(`etcd's ${service} service has no method ${method}`);
    found = { ...(methods[name] as MethodSpec), path: `/${PACKAGE}.${service}/${name}`, service, name };
    methodIndex.set(key, found);
  }
  return found;
}

const TWO_32 = 2 ** 32;
const SCALAR_WIRE: Record<string, number> = {
  int64: 0,
  uint64: 0,
  int32: 0,
  uint32: 0,
  bool: 0,
  string: 2,
  bytes: 2,
};

function fieldsOf(type: string): readonly FieldSpec[] {
  const fields = MESSAGES[type];
  if (!fields) throw new Error(`unknown etcd message ${type}`);
  return fields;
}

function wireType(type: string): number {
  return SCALAR_WIRE[type] ?? (ENUMS[type] ? 0 : 2);
}

// ---- encoding ----

class Writer {
  private readonly parts: Uint8Array[] = [];
  private scratch: number[] = [];
  private length = 0;

  varint(value: number | bigint): void {
    if (typeof value === 'number' && value >= 0 && value <= Number.MAX_SAFE_INTEGER) {
      let v = value;
      while (v >= 0x80) {
        this.scratch.push((v % 0x80) | 0x80);
        v = Math.floor(v / 0x80);
      }
      this.scratch.push(v);
      return;
    }
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.scratch.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.scratch.push(Number(v));
  }

  bytes(data: Uint8Array): void {
    this.varint(data.length);
    this.flush();
    this.parts.push(data);
    this.length += data.length;
  }

  finish(): Buffer {
    this.flush();
    return Buffer.concat(this.parts, this.length);
  }

  private flush(): void {
    if (this.scratch.length === 0) return;
    this.parts.push(Uint8Array.from(this.scratch));
    this.length += this.scratch.length;
    this.scratch = [];
  }
}

function integer(value: unknown, where: string): number | bigint {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError(`${where}: ${value} is not an integer`);
    return value;
  }
  if (typeof value === 'bigint') return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  throw new TypeError(`${where}: ${String(value)} is not an integer`);
}

function writeValue(w: Writer, type: string, value: unknown, where: string): void {
  switch (type) {
    case 'int64':
    case 'uint64':
    case 'int32':
    case 'uint32':
      w.varint(integer(value, where));
      return;
    case 'bool':
      w.varint(value ? 1 : 0);
      return;
    case 'string':
      w.bytes(Buffer.from(String(value), 'utf8'));
      return;
    case 'bytes':
      if (!(value instanceof Uint8Array)) throw new TypeError(`${where}: bytes must be a Buffer`);
      w.bytes(value);
      return;
  }
  const values = ENUMS[type];
  if (values) {
    if (typeof value === 'number') w.varint(value);
    else {
      const number = Object.keys(values).find((n) => values[Number(n)] === value);
      if (number === undefined) throw new TypeError(`${where}: ${String(value)} is not a ${type}`);
      w.varint(Number(number));
    }
    return;
  }
  w.bytes(encodeMessage(type, value as Record<string, unknown>));
}

/** Encodes `message` as the etcd message `type`; fields that are undefined or null are left out. */
export function encodeMessage(type: string, message: Readonly<Record<string, unknown>>): Buffer {
  const w = new Writer();
  for (const field of fieldsOf(type)) {
    const value = message[field.name];
    if (value === undefined || value === null) continue;
    const where = `${type}.${field.name}`;
    const tag = field.number * 8 + wireType(field.type);
    if (field.repeated) {
      if (!Array.isArray(value)) throw new TypeError(`${where}: expected an array`);
      for (const item of value as unknown[]) {
        w.varint(tag);
        writeValue(w, field.type, item, where);
      }
    } else {
      w.varint(tag);
      writeValue(w, field.type, value, where);
    }
  }
  return w.finish();
}

// ---- decoding ----

function unsignedString(lo: number, hi: number): string {
  if (hi < 0x200000) return String(hi * TWO_32 + lo);
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

function signedString(lo: number, hi: number): string {
  if (hi < 0x200000) return String(hi * TWO_32 + lo);
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
}

function defaultOf(field: FieldSpec): unknown {
  if (field.repeated) return [];
  switch (field.type) {
    case 'int64':
    case 'uint64':
      return '0';
    case 'int32':
    case 'uint32':
      return 0;
    case 'bool':
      return false;
    case 'string':
      return '';
    case 'bytes':
      return Buffer.alloc(0);
  }
  const values = ENUMS[field.type];
  if (values) return values[0] ?? 0;
  return null;
}

function readValue(r: ProtobufReader, type: string, where: string): unknown {
  switch (type) {
    case 'int64': {
      const [lo, hi] = r.varint(where);
      return signedString(lo, hi);
    }
    case 'uint64': {
      const [lo, hi] = r.varint(where);
      return unsignedString(lo, hi);
    }
    case 'int32':
      return r.varint(where)[0] | 0;
    case 'uint32':
      return r.varint(where)[0];
    case 'bool': {
      const [lo, hi] = r.varint(where);
      return lo !== 0 || hi !== 0;
    }
    case 'string':
      return r.bytes(where).toString('utf8');
    case 'bytes':
      return r.bytes(where);
  }
  const values = ENUMS[type];
  if (values) {
    const n = r.varint(where)[0] | 0;
    return values[n] ?? n;
  }
  return decodeMessage(type, r.bytes(where));
}

/** Decodes the etcd message `type` from `data` (unknown fields skipped); ProtobufError if malformed. */
export function decodeMessage<T = Record<string, unknown>>(type: string, data: Buffer): T {
  const fields = fieldsOf(type);
  const out: Record<string, unknown> = {};
  for (const field of fields) if (!field.oneof) out[field.name] = defaultOf(field);
  const r = new ProtobufReader(data);
  while (!r.done) {
    const [tag] = r.varint(`${type}: tag`);
    const number = tag >>> 3;
    const wire = tag & 7;
    const field = fields.find((f) => f.number === number);
    if (!field) {
      r.skip(wire, number);
      continue;
    }
    const where = `${type}.${field.name}`;
    if (wire !== wireType(field.type))
      throw new ProtobufError(`${where}: wire type ${wire}, expected ${wireType(field.type)}`);
    const value = readValue(r, field.type, where);
    if (field.repeated) (out[field.name] as unknown[]).push(value);
    else out[field.name] = value;
  }
  return out as T;
}
