/**
 * Where backups live: one small interface, one module per backend (file.ts, s3.ts), and
 * open.ts picks one from a URL. Keys are relative paths with `/` separators.
 */
import type { Readable } from 'node:stream';
import { StewardError } from '../errors.js';

/** One complete stored object. */
export interface StoredObject {
  readonly key: string;
  readonly size: number;
  readonly modified: Date;
}

export interface CallOptions {
  readonly signal?: AbortSignal | undefined;
}

/** A write's options: `beforeCommit` checks what was written before anyone can see it. */
export interface WriteOptions extends CallOptions {
  /**
   * Runs once every byte of the body is in the backend, before the object becomes visible; if
   * it rejects, the write fails with its error and nothing new is visible under the key. `file`
   * is a local file holding exactly the bytes written when the backend has one (`local`).
   */
  readonly beforeCommit?: ((file: string | undefined) => Promise<void>) | undefined;
}

/** A backup location. Every call can be cancelled through `signal`. */
export interface BackupStorage {
  /** The location for messages and manifests, never with credentials in it. */
  readonly displayUrl: string;
  /** Objects are files on this machine (file://): a write's `beforeCommit` can read them back cheaply. */
  readonly local: boolean;
  /**
   * Streams `body` into `key`, replacing what was there. The object becomes visible to `read`
   * and `list` only once the whole stream is durably written; if the stream fails, the write
   * fails or `signal` aborts, nothing new is visible under `key` and the error is thrown.
   */
  write(key: string, body: Readable, options?: WriteOptions): Promise<{ size: number }>;
  /** The object's bytes; throws StorageNotFoundError when there is none. */
  read(key: string, options?: CallOptions): Promise<Readable>;
  /**
   * Writes `data` under `key` only if no object is there yet: true if this call created it,
   * false if one existed. Atomic against concurrent callers on any machine (file: a hard link,
   * which fails if the name exists, also on NFS; S3: a conditional PutObject with
   * `If-None-Match: *`), and the object is visible whole or not at all. Creates the location's
   * directories as `write` does. For small objects (locks), not snapshots.
   */
  createIfAbsent(key: string, data: Buffer, options?: CallOptions): Promise<boolean>;
  /**
   * Complete objects whose key starts with `prefix`, sorted by key. A location that does not
   * exist (file: its directory; S3: its bucket) is not an empty one: StorageLocationMissingError.
   */
  list(prefix: string, options?: CallOptions): Promise<StoredObject[]>;
  /**
   * Makes sure the location exists, for the commands that write backups (backup create and
   * import, the agent): creates a file:// directory; never creates an S3 bucket (a missing one is
   * StorageLocationMissingError naming it and the fix).
   */
  ensureLocation(options?: CallOptions): Promise<void>;
  /** Removes an object; an absent one is not an error. */
  delete(key: string, options?: CallOptions): Promise<void>;
  /**
   * Removes the debris of interrupted writes (file: `*.part-*` files; S3: incomplete multipart
   * uploads) older than `olderThanMs` (default one hour); returns what it removed.
   */
  cleanup(options?: CallOptions & { olderThanMs?: number }): Promise<string[]>;
}

/** A storage operation failed; the message names the location and what to do, never a secret. */
export class StorageError extends StewardError {}

/** The location itself (file: its directory; S3: its bucket) does not exist. */
export class StorageLocationMissingError extends StorageError {}

/** `read` of a key that does not exist. */
export class StorageNotFoundError extends StorageError {
  readonly key: string;
  constructor(displayUrl: string, key: string) {
    super(`${displayUrl}: no object '${key}'`);
    this.key = key;
  }
}

/**
 * S3 connection settings from the spec and environment. Secrets here are already resolved (from
 * environment variables or files named in the spec), never written in the spec itself. Query
 * parameters of an `s3://bucket/prefix?endpoint=…&region=…&forcePathStyle=true` URL override them.
 */
export interface S3Settings {
  readonly endpoint?: string | undefined;
  readonly region?: string | undefined;
  readonly forcePathStyle?: boolean | undefined;
  readonly accessKeyId?: string | undefined;
  readonly secretAccessKey?: string | undefined;
  readonly sessionToken?: string | undefined;
  /** A profile in the shared credentials file (else AWS_PROFILE, else `default`). */
  readonly profile?: string | undefined;
  /** A shared credentials file (else AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials). */
  readonly credentialsFile?: string | undefined;
  /** Server-side encryption asked of S3 on every write: `AES256` (SSE-S3) or `aws:kms` (SSE-KMS). */
  readonly serverSideEncryption?: 'AES256' | 'aws:kms' | undefined;
  /** The KMS key (id, ARN or alias) for `aws:kms`; the bucket's default KMS key when absent. */
  readonly kmsKeyId?: string | undefined;
}
