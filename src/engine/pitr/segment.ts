/**
 * The change log's on-storage format. Each segment is two objects under `changelog/` beside the
 * snapshots: the revisions (gzipped JSON lines, one line per revision with all its events) and
 * a small manifest (first/last revision and time, counts, SHA-256 of the stored object). The
 * manifest is written after the object, and only segments whose manifest exists are listed, so
 * a partial segment is never used. Both keys carry the revision and time range, so listing the
 * log never reads a manifest.
 *
 * Why gzipped JSON lines rather than a binary format: a segment can be read with `zcat | jq`
 * when it matters most (an incident), gzip takes back most of base64's overhead, and replay
 * time is spent in etcd's writes, not in decoding (see docs/benchmarks.md).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer, text } from 'node:stream/consumers';
import { isAscii } from 'node:buffer';
import { gunzipSync, gzipSync } from 'node:zlib';
import { StewardError } from '../../errors.js';
import type { BackupStorage, CallOptions } from '../../storage/storage.js';
import {
  decryptBuffer,
  encryptBuffer,
  recordFor,
  type DecryptionKeys,
  type EncryptionRecord,
  type EncryptionSettings,
} from '../backup/encryption.js';

export const CHANGELOG_PREFIX = 'changelog/';
export const SEGMENT_FORMAT = 1;

/** One logged change: a put with the key's new state, or a delete. Keys and values in base64. */
export type LoggedEvent =
  | {
      /** key */
      readonly k: string;
      /** value */
      readonly v: string;
      /** create revision */
      readonly c: number;
      /** version */
      readonly n: number;
      /** lease id (decimal); absent when none */
      readonly l?: string;
    }
  | { readonly k: string; readonly d: 1 };

/** One revision as logged: its number, when the watch saw it (ms epoch), its events in order. */
export interface LoggedRevision {
  readonly r: number;
  readonly t: number;
  readonly e: readonly LoggedEvent[];
}

export interface SegmentManifest {
  readonly format: number;
  readonly cluster: string;
  readonly object: string;
  readonly firstRevision: number;
  readonly lastRevision: number;
  readonly firstTime: string;
  readonly lastTime: string;
  readonly revisions: number;
  readonly events: number;
  /** Bytes of the JSON lines before compression, and of the stored object. */
  readonly size: number;
  readonly storedSize: number;
  readonly sha256: string;
  /** Granted TTL (seconds) of leases first seen in this segment; 0 when it had already expired. */
  readonly leases: Readonly<Record<string, number>>;
  readonly createdAt: string;
  /** Set when the object is age-encrypted (`.jsonl.gz.age`): recipients and the lines' SHA-256. */
  readonly encryption?: EncryptionRecord | undefined;
}

/** A segment as listed: its range from the key, and the keys of its two objects. */
export interface SegmentRef {
  readonly firstRevision: number;
  readonly lastRevision: number;
  readonly firstTimeMs: number;
  readonly lastTimeMs: number;
  readonly object: string;
  readonly manifest: string;
  readonly storedSize: number;
}

const KEY = /^changelog\/r(\d{16})-(\d{16})-t(\d{13})-(\d{13})\.(jsonl\.gz|jsonl\.gz\.age|json)$/;

function stem(first: number, last: number, firstMs: number, lastMs: number): string {
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  return `${CHANGELOG_PREFIX}r${pad(first, 16)}-${pad(last, 16)}-t${pad(firstMs, 13)}-${pad(lastMs, 13)}`;
}

/** Bytes of one revision as a JSON line (what a segment's size limit counts). */
export function encodeRevision(revision: LoggedRevision): string {
  return `${JSON.stringify(revision)}\n`;
}

/**
 * Writes one sealed segment: the gzipped lines (then age-encrypted, with `encryption`), then its
 * manifest. Throws (leaving at most an unlisted object behind) if either write fails.
 */
export async function writeSegment(
  storage: BackupStorage,
  cluster: string,
  revisions: readonly LoggedRevision[],
  leases: Readonly<Record<string, number>>,
  options: CallOptions & { now?: Date; encryption?: EncryptionSettings | undefined } = {},
): Promise<SegmentManifest & { manifestKey: string }> {
  const first = revisions[0];
  const last = revisions.at(-1);
  if (!first || !last) throw new Error('a segment needs at least one revision');
  const raw = Buffer.from(revisions.map(encodeRevision).join(''));
  const compressed = gzipSync(raw, { level: 6 });
  const stored = options.encryption ? await encryptBuffer(options.encryption, compressed) : compressed;
  const base = stem(first.r, last.r, first.t, last.t);
  const manifest: SegmentManifest = {
    format: SEGMENT_FORMAT,
    cluster,
    object: `${base}.jsonl.gz${options.encryption ? '.age' : ''}`,
    firstRevision: first.r,
    lastRevision: last.r,
    firstTime: new Date(first.t).toISOString(),
    lastTime: new Date(last.t).toISOString(),
    revisions: revisions.length,
    events: revisions.reduce((sum, r) => sum + r.e.length, 0),
    size: raw.length,
    storedSize: stored.length,
    sha256: createHash('sha256').update(stored).digest('hex'),
    leases,
    createdAt: (options.now ?? new Date()).toISOString(),
    ...(options.encryption
      ? { encryption: recordFor(options.encryption, createHash('sha256').update(raw).digest('hex')) }
      : {}),
  };
  await storage.write(manifest.object, Readable.from([stored]), { signal: options.signal });
  const manifestKey = `${base}.json`;
  await storage.write(manifestKey, Readable.from([Buffer.from(`${JSON.stringify(manifest)}\n`)]), {
    signal: options.signal,
  });
  return { ...manifest, manifestKey };
}

/** Every complete segment (object and manifest both present), by first revision. */
export async function listSegments(storage: BackupStorage, options: CallOptions = {}): Promise<SegmentRef[]> {
  const objects = await storage.list(CHANGELOG_PREFIX, options);
  const sizes = new Map(objects.map((o) => [o.key, o.size]));
  const segments: SegmentRef[] = [];
  for (const o of objects) {
    const m = KEY.exec(o.key);
    if (!m || m[5] !== 'json') continue;
    const plain = o.key.replace(/\.json$/, '.jsonl.gz');
    const object = sizes.has(`${plain}.age`) ? `${plain}.age` : plain;
    const storedSize = sizes.get(object);
    if (storedSize === undefined) continue;
    segments.push({
      firstRevision: Number(m[1]),
      lastRevision: Number(m[2]),
      firstTimeMs: Number(m[3]),
      lastTimeMs: Number(m[4]),
      object,
      manifest: o.key,
      storedSize,
    });
  }
  return segments.sort((a, b) => a.firstRevision - b.firstRevision || a.lastRevision - b.lastRevision);
}

/** A segment whose object does not match its manifest. */
export class SegmentDamagedError extends StewardError {}

/** The most a segment's lines are inflated into at once (the gzip trailer's size is a hint). */
const MAX_INFLATE_CHUNK = 256 << 20;

/**
 * gunzip in one output chunk when the gzip trailer gives the size (ISIZE, the length mod 2^32):
 * zlib's default 16 KiB chunks would be concatenated, copying the lines once more.
 */
function gunzipWhole(compressed: Buffer): Buffer {
  const size = compressed.length >= 18 ? compressed.readUInt32LE(compressed.length - 4) : 0;
  const chunkSize = Math.min(MAX_INFLATE_CHUNK, Math.max(64 << 10, size + 1));
  return gunzipSync(compressed, { chunkSize });
}

/**
 * Reads a segment's manifest and revisions, checking the object's SHA-256 against the manifest
 * (and, when encrypted, decrypting with `keys` and checking the lines' SHA-256).
 */
export async function readSegment(
  storage: BackupStorage,
  ref: SegmentRef,
  options: CallOptions & { keys?: DecryptionKeys | undefined } = {},
): Promise<{ manifest: SegmentManifest; revisions: LoggedRevision[] }> {
  const manifest = JSON.parse(await text(await storage.read(ref.manifest, options))) as SegmentManifest;
  // The manifest names its object (a rewrite by `backup reencrypt` may have moved it to `.age`).
  const stored = await buffer(await storage.read(manifest.object ?? ref.object, options));
  const sha256 = createHash('sha256').update(stored).digest('hex');
  if (sha256 !== manifest.sha256) {
    throw new SegmentDamagedError(
      `change-log segment ${ref.object} is damaged: its SHA-256 is ${sha256}, its manifest says ${manifest.sha256}`,
      { hint: 'restore to a revision before this segment, or from a later snapshot' },
    );
  }
  const compressed = manifest.encryption
    ? await decryptBuffer(stored, options.keys, `change-log segment ${ref.object}`, manifest.encryption)
    : stored;
  const raw = gunzipWhole(compressed);
  if (
    manifest.encryption &&
    createHash('sha256').update(raw).digest('hex') !== manifest.encryption.plaintextSha256
  ) {
    throw new SegmentDamagedError(
      `change-log segment ${ref.object} is damaged: its decrypted lines do not match its manifest's SHA-256`,
      {
        hint: 'restore to a revision before this segment, or from a later snapshot',
      },
    );
  }
  // The lines are JSON of base64 and numbers: ASCII, decoded without UTF-8's checks when so.
  const revisions = raw
    .toString(isAscii(raw) ? 'latin1' : 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as LoggedRevision);
  return { manifest, revisions };
}

/** Removes a segment: manifest first, so it leaves the listing at once. */
export async function deleteSegment(
  storage: BackupStorage,
  ref: SegmentRef,
  options: CallOptions = {},
): Promise<void> {
  await storage.delete(ref.manifest, options);
  await storage.delete(ref.object, options);
}
