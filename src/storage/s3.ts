/**
 * Backups in an S3 bucket (AWS S3 or an S3-compatible server: MinIO, Ceph RGW, R2, …) through
 * `@aws-sdk/client-s3`. Keys given to the interface are relative to the URL's prefix.
 *
 * A write streams through `@aws-sdk/lib-storage`'s `Upload`: a body smaller than one part is
 * one PutObject; a larger one is a multipart upload of PART_SIZE parts, QUEUE_SIZE in flight, so
 * memory stays near PART_SIZE × (QUEUE_SIZE + 1) whatever the stream's length. The object exists
 * only once PutObject / CompleteMultipartUpload succeeds; on any failure or abort the multipart
 * upload is aborted (and if the server refuses that, `cleanup` removes it later).
 */
import { Transform, addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Upload } from '@aws-sdk/lib-storage';
import { parseS3Url } from './s3-url.js';
import {
  StorageError,
  StorageLocationMissingError,
  StorageNotFoundError,
  type BackupStorage,
  type CallOptions,
  type WriteOptions,
  type S3Settings,
  type StoredObject,
} from './storage.js';

/** Timeouts, retries and upload shape; the defaults suit real S3. Tests make them short. */
export interface S3Tuning {
  /** Time to open a TCP/TLS connection. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Time a request may go without any bytes in either direction. Default 60 s. */
  readonly idleTimeoutMs?: number;
  /** Attempts per request, the SDK's retries included. Default 3. */
  readonly maxAttempts?: number;
  /** Multipart part size in bytes (≥ 5 MiB). Default 8 MiB. */
  readonly partSize?: number;
  /** Parts uploaded at once. Default 4. */
  readonly queueSize?: number;
}

const MiB = 1024 * 1024;
const PART_SIZE = 8 * MiB;
const QUEUE_SIZE = 4;

// The SDK warns on every start under Node < 22 that its releases after January 2027 will need
// Node 22. That is a note for this project's maintainers (package.json pins the SDK), not for
// someone taking a backup, so it is silenced unless the user asked for it explicitly.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

export class S3Storage implements BackupStorage {
  readonly displayUrl: string;
  readonly local = false;
  readonly bucket: string;
  /** '' or a prefix ending in '/'. */
  readonly prefix: string;
  /** The endpoint in use (redacted), or undefined for AWS S3. */
  readonly endpoint: string | undefined;
  /** The SDK client (tests add middleware to watch requests). */
  readonly client: S3Client;
  private readonly where: string;
  private readonly secrets: string[];
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly idleTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  /** Server-side encryption headers sent with every write (none unless the spec asks). */
  private readonly sse: { ServerSideEncryption?: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string };

  constructor(url: string, settings: S3Settings = {}, tuning: S3Tuning = {}) {
    const parsed = parseS3Url(url);
    this.displayUrl = parsed.displayUrl;
    this.bucket = parsed.bucket;
    this.prefix = parsed.prefix;
    const endpoint = parsed.endpoint ?? settings.endpoint;
    const profile = parsed.profile ?? settings.profile;
    const credentialsFile = parsed.credentialsFile ?? settings.credentialsFile;
    const region =
      parsed.region ??
      settings.region ??
      process.env['AWS_REGION'] ??
      process.env['AWS_DEFAULT_REGION'] ??
      // S3-compatible servers mostly ignore the region but SigV4 needs one; AWS itself has to
      // find it in the profile's config (the SDK does that when this is undefined).
      (endpoint ? 'us-east-1' : undefined);
    this.endpoint = endpoint?.replace(/^([a-z]+:\/\/)[^/?#]*@/i, '$1');
    this.where = this.endpoint ? `endpoint ${this.endpoint}` : `AWS S3${region ? ` (region ${region})` : ''}`;
    this.secrets = [
      settings.accessKeyId,
      settings.secretAccessKey,
      settings.sessionToken,
      process.env['AWS_ACCESS_KEY_ID'],
      process.env['AWS_SECRET_ACCESS_KEY'],
      process.env['AWS_SESSION_TOKEN'],
    ].filter((s): s is string => typeof s === 'string' && s.length >= 4);
    this.partSize = tuning.partSize ?? PART_SIZE;
    this.queueSize = tuning.queueSize ?? QUEUE_SIZE;
    this.idleTimeoutMs = tuning.idleTimeoutMs ?? 60_000;
    this.connectTimeoutMs = tuning.connectTimeoutMs ?? 10_000;
    this.sse = {
      ...(settings.serverSideEncryption ? { ServerSideEncryption: settings.serverSideEncryption } : {}),
      ...(settings.kmsKeyId ? { SSEKMSKeyId: settings.kmsKeyId } : {}),
    };

    const config: S3ClientConfig = {
      region,
      endpoint,
      forcePathStyle: parsed.forcePathStyle ?? settings.forcePathStyle ?? false,
      maxAttempts: tuning.maxAttempts ?? 3,
      followRegionRedirects: true,
      // Since 3.729 the SDK's default (WHEN_SUPPORTED) sends CRC32 "flexible checksum" headers
      // (x-amz-sdk-checksum-algorithm, x-amz-checksum-crc32) with every PutObject/UploadPart and
      // x-amz-checksum-algorithm with lib-storage's CreateMultipartUpload, and would send a body
      // of unknown length aws-chunked with a checksum trailer. S3-compatible servers that predate
      // flexible checksums refuse those headers (Backblaze B2: "Unsupported header
      // 'x-amz-sdk-checksum-algorithm'") or cannot decode aws-chunked bodies. WHEN_REQUIRED sends
      // a checksum only where the API demands one (e.g. DeleteObjects, which we don't use) and
      // validates response checksums only when asked. Each request still carries its payload's
      // SHA-256 in the signature (x-amz-content-sha256). We watched the headers on the wire with
      // both settings; MinIO, the test server, accepts either.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: this.connectTimeoutMs,
        socketTimeout: this.idleTimeoutMs,
      },
    };
    if (profile) config.profile = profile;
    if (settings.accessKeyId && settings.secretAccessKey) {
      config.credentials = {
        accessKeyId: settings.accessKeyId,
        secretAccessKey: settings.secretAccessKey,
        ...(settings.sessionToken ? { sessionToken: settings.sessionToken } : {}),
      };
    } else if (credentialsFile) {
      // The SDK's default chain (environment, shared files with `profile`, SSO, process,
      // web identity, container/instance metadata), reading this credentials file instead of
      // AWS_SHARED_CREDENTIALS_FILE / ~/.aws/credentials.
      config.credentialDefaultProvider = (input: object) =>
        defaultProvider({ ...input, ...(profile ? { profile } : {}), filepath: credentialsFile });
    }
    // Otherwise the client's own default chain, which honours `profile` given above.
    this.client = new S3Client(config);
  }

  async write(key: string, body: Readable, options: WriteOptions = {}): Promise<{ size: number }> {
    const { signal } = options;
    let objectKey: string;
    try {
      objectKey = this.objectKey(key);
      signal?.throwIfAborted();
    } catch (error) {
      body.destroy(); // whoever produces the stream learns that nobody reads it
      throw signal?.aborted ? abortError(signal) : error;
    }
    let sourceError: unknown;
    body.once('error', (error) => (sourceError = error));
    let size = 0;
    let refused: { error: unknown } | undefined;
    const { beforeCommit } = options;
    // The upload completes when this stream ends: holding its end until `beforeCommit` passes
    // keeps the object invisible, and its failure aborts the multipart upload.
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        done(null, chunk);
      },
      flush(done) {
        if (!beforeCommit) return done();
        beforeCommit(undefined).then(
          () => done(),
          (error: unknown) => {
            refused = { error };
            done(error as Error);
          },
        );
      },
    });
    // Errors of `body` (and an abort) destroy `counter`, which the upload reads: it fails and
    // aborts the multipart upload. If the upload stops reading, `body` is destroyed in turn.
    const piping = pipeline(body, counter, signal ? { signal } : {}).catch(() => undefined);
    const state: UploadState = { abortFailure: undefined };
    const upload = new Upload({
      client: this.clientFor(signal, state),
      params: { Bucket: this.bucket, Key: objectKey, Body: counter, ...this.sse },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      counter.destroy();
      await piping;
      if (refused && !signal?.aborted) throw refused.error;
      const explained =
        sourceError !== undefined && error === sourceError && !signal?.aborted
          ? // The data failed, not the storage: no endpoint to blame.
            new StorageError(
              `${this.displayUrl}: writing ${key} failed: ${this.scrub(messageOf(sourceError))}`,
              {
                cause: sourceError,
              },
            )
          : this.explain(error, `writing ${key}`, signal);
      if (state.abortFailure === undefined || !(explained instanceof StorageError)) throw explained;
      throw new StorageError(explained.message, {
        hint: [
          explained.hint,
          `the incomplete multipart upload could not be aborted (${this.describe(state.abortFailure)}); ` +
            '`cleanup` removes it later, or a lifecycle rule (AbortIncompleteMultipartUpload) on the bucket',
        ]
          .filter(Boolean)
          .join('; '),
        cause: explained.cause,
      });
    }
    await piping;
    return { size };
  }

  async createIfAbsent(key: string, data: Buffer, options: CallOptions = {}): Promise<boolean> {
    const { signal } = options;
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Body: data,
          IfNoneMatch: '*',
          ...this.sse,
        }),
        { abortSignal: signal },
      );
      return true;
    } catch (error) {
      // 412: the object exists. 409 (AWS: ConditionalRequestConflict): another conditional
      // write of the same key is in flight, so this one did not create it either.
      const status = httpStatus(error);
      if (!signal?.aborted && (status === 412 || status === 409 || errorName(error) === 'PreconditionFailed'))
        return false;
      throw this.explain(error, `creating ${key} (a conditional PutObject, If-None-Match: *)`, signal);
    }
  }

  async read(key: string, options: CallOptions = {}): Promise<Readable> {
    const { signal } = options;
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
        {
          abortSignal: signal,
        },
      );
      const body = out.Body as Readable | undefined;
      if (!body) throw new StorageError(`${this.displayUrl}: ${this.where} sent no body for '${key}'`);
      // The SDK's signal covers the request; this one covers streaming the body afterwards.
      if (signal) addAbortSignal(signal, body);
      return body;
    } catch (error) {
      if (!signal?.aborted && errorName(error) === 'NoSuchKey')
        throw new StorageNotFoundError(this.displayUrl, key);
      throw this.explain(error, `reading ${key}`, signal);
    }
  }

  async list(prefix: string, options: CallOptions = {}): Promise<StoredObject[]> {
    const { signal } = options;
    const objects: StoredObject[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ContinuationToken: token,
          }),
          { abortSignal: signal },
        );
        for (const item of page.Contents ?? []) {
          if (item.Key === undefined || item.Key.endsWith('/')) continue; // "folder" markers
          if (!item.Key.startsWith(this.prefix)) continue;
          objects.push({
            key: item.Key.slice(this.prefix.length),
            size: item.Size ?? 0,
            modified: item.LastModified ?? new Date(0),
          });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw this.explain(error, prefix ? `listing '${prefix}'` : 'listing', signal);
    }
    // The same order as FileStorage (UTF-16 code units); S3 itself sorts by UTF-8 bytes.
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async ensureLocation(options: CallOptions = {}): Promise<void> {
    const { signal } = options;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: signal });
    } catch (error) {
      // HEAD answers have no body, so a missing bucket is a bare 404 (NotFound).
      const missing = !signal?.aborted && (httpStatus(error) === 404 || errorName(error) === 'NotFound');
      throw this.explain(
        missing ? Object.assign(new Error('no such bucket'), { name: 'NoSuchBucket' }) : error,
        'checking the bucket',
        signal,
      );
    }
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    const { signal } = options;
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }), {
        abortSignal: signal,
      });
    } catch (error) {
      if (!signal?.aborted && errorName(error) === 'NoSuchKey') return;
      throw this.explain(error, `deleting ${key}`, signal);
    }
  }

  async cleanup(options: CallOptions & { olderThanMs?: number } = {}): Promise<string[]> {
    const { signal } = options;
    const cutoff = Date.now() - (options.olderThanMs ?? 3_600_000);
    let stale: { key: string; uploadId: string }[];
    try {
      stale = await this.staleUploads(this.prefix, cutoff, signal);
      // MinIO lists multipart uploads only for an empty prefix or an exact object key (AWS
      // honours any prefix), so when the prefix finds nothing, look bucket-wide and filter here.
      // A policy that allows listing only under the prefix makes that second look AccessDenied,
      // which then simply means there is nothing more to find.
      if (stale.length === 0 && this.prefix !== '') {
        stale = await this.staleUploads(undefined, cutoff, signal).catch((error: unknown) => {
          if (errorName(error) === 'AccessDenied') return [];
          throw error;
        });
      }
    } catch (error) {
      throw this.explain(error, 'listing incomplete multipart uploads', signal);
    }
    const removed: string[] = [];
    for (const { key, uploadId } of stale) {
      const relative = key.slice(this.prefix.length);
      try {
        await this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
          { abortSignal: signal },
        );
      } catch (error) {
        if (errorName(error) === 'NoSuchUpload') continue; // finished or aborted meanwhile
        throw this.explain(error, `aborting the incomplete upload of ${relative}`, signal);
      }
      removed.push(`${relative} (incomplete upload ${uploadId})`);
    }
    return removed;
  }

  /** Incomplete uploads under this storage's prefix started before `cutoff`, listed with `prefix`. */
  private async staleUploads(
    prefix: string | undefined,
    cutoff: number,
    signal: AbortSignal | undefined,
  ): Promise<{ key: string; uploadId: string }[]> {
    const stale: { key: string; uploadId: string }[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
        { abortSignal: signal },
      );
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId || !upload.Key.startsWith(this.prefix)) continue;
        if ((upload.Initiated?.getTime() ?? 0) < cutoff)
          stale.push({ key: upload.Key, uploadId: upload.UploadId });
      }
      const more = page.IsTruncated === true;
      keyMarker = more ? page.NextKeyMarker : undefined;
      uploadIdMarker = more ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
    return stale;
  }

  /** The bucket key of an interface key; refuses keys that are empty or leave the prefix. */
  private objectKey(key: string): string {
    const segments = key.split('/');
    if (key.length === 0 || key.startsWith('/') || segments.some((s) => s === '.' || s === '..')) {
      throw new StorageError(`'${key}' is not a key inside ${this.displayUrl}`);
    }
    return this.prefix + key;
  }

  /**
   * The client as `Upload` sees it: every request carries `signal`, except the commit
   * (CompleteMultipartUpload: once sent, the object may exist, so an abort then is too late and
   * the write succeeds) and the clean-up (AbortMultipartUpload must still go out after an abort;
   * its failure is recorded so that the write throws the original error).
   */
  private clientFor(signal: AbortSignal | undefined, state: UploadState): S3Client {
    const client = this.client;
    const send = client.send.bind(client) as (command: unknown, options?: object) => Promise<unknown>;
    const wrapped = async (command: unknown, options?: object): Promise<unknown> => {
      if (command instanceof AbortMultipartUploadCommand) {
        try {
          return await send(command, options);
        } catch (error) {
          state.abortFailure = error;
          return {};
        }
      }
      if (command instanceof CompleteMultipartUploadCommand || !signal) return send(command, options);
      return send(command, { ...options, abortSignal: signal });
    };
    return new Proxy(client, {
      get(target, property, receiver) {
        return property === 'send' ? wrapped : (Reflect.get(target, property, receiver) as unknown);
      },
    });
  }

  /** A StorageError that names the location and the problem and never a credential. */
  private explain(error: unknown, doing: string, signal?: AbortSignal): Error {
    if (signal?.aborted) return abortError(signal);
    if (error instanceof StorageError) return error;
    if (errorName(error) === 'AbortError') return error as Error;
    const name = errorName(error);
    const code = errorCode(error);
    const status = httpStatus(error);
    const message = messageOf(error);
    const at = `${this.displayUrl}:`;
    const credentialsHint =
      'check the credentials in use: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or the profile ' +
      '(profile=, AWS_PROFILE) in the credentials file (credentialsFile=, AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials)';
    let text: string;
    let hint: string | undefined;
    switch (true) {
      case name === 'NoSuchBucket':
        text = `${at} bucket '${this.bucket}' does not exist at ${this.where} (NoSuchBucket) while ${doing}`;
        hint = `create the bucket first (e.g. \`aws s3 mb s3://${this.bucket}${this.endpoint ? ` --endpoint-url ${this.endpoint}` : ''}\`) or fix the bucket name in the storage URL`;
        break;
      case name === 'InvalidAccessKeyId':
        text = `${at} ${this.where} does not know the access key id in use (InvalidAccessKeyId) while ${doing}`;
        hint = credentialsHint;
        break;
      case name === 'SignatureDoesNotMatch':
        text = `${at} ${this.where} refused the request signature: the secret access key does not belong to the access key id in use (SignatureDoesNotMatch) while ${doing}`;
        hint = `${credentialsHint}; a wrong system clock breaks signatures too`;
        break;
      case name === 'RequestTimeTooSkewed':
        text = `${at} ${this.where} refused the request because this machine's clock is off (RequestTimeTooSkewed) while ${doing}`;
        hint = 'synchronise the system clock (NTP)';
        break;
      case name === 'AccessDenied' || name === 'Forbidden' || status === 403:
        text = `${at} access denied by ${this.where} (${name ?? 'HTTP 403'}) while ${doing}`;
        hint =
          `the credentials in use need s3:ListBucket, s3:ListBucketMultipartUploads, s3:GetObject, s3:PutObject, ` +
          `s3:DeleteObject and s3:AbortMultipartUpload on bucket '${this.bucket}'; check the user's policy and the bucket policy`;
        break;
      case name === 'CredentialsProviderError' || /could not load credentials/i.test(message):
        text = `${at} no S3 credentials found while ${doing} (${message})`;
        hint = `set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile (profile=, AWS_PROFILE) in a credentials file`;
        break;
      case /region is missing/i.test(message):
        text = `${at} no region is set for ${this.where}`;
        hint = `add ?region=NAME to the storage URL or set AWS_REGION`;
        break;
      case code === 'ECONNREFUSED':
        text = `${at} cannot reach ${this.where}: connection refused while ${doing}`;
        hint =
          'check the endpoint (endpoint= in the storage URL) and that the S3 server is running and reachable from here';
        break;
      case code === 'ENOTFOUND' || code === 'EAI_AGAIN':
        text = `${at} cannot reach ${this.where}: its host name does not resolve (${code}) while ${doing}`;
        hint = 'check the host name of the endpoint (endpoint= in the storage URL) and this machine’s DNS';
        break;
      case code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ECONNRESET' || code === 'EPIPE':
        text = `${at} cannot reach ${this.where}: the connection failed (${code}) while ${doing}`;
        hint = 'check the endpoint, the network path to it, and proxies or firewalls in between';
        break;
      case name === 'TimeoutError' || code === 'ETIMEDOUT': {
        const connecting = /establish a connection/i.test(message);
        text = connecting
          ? `${at} could not connect to ${this.where} within ${this.connectTimeoutMs} ms while ${doing}`
          : `${at} no answer from ${this.where} within ${this.idleTimeoutMs} ms while ${doing}`;
        hint =
          'check that the endpoint is an S3 server that is up and reachable; a slow link may need a longer timeout';
        break;
      }
      case name === 'NotImplemented' || name === 'MethodNotAllowed' || status === 501:
        text = `${at} ${this.where} does not support ${doing} (${name ?? `HTTP ${status}`})`;
        hint =
          doing === 'listing incomplete multipart uploads'
            ? 'nothing was cleaned up; a lifecycle rule (AbortIncompleteMultipartUpload) on the bucket can remove incomplete uploads instead'
            : 'this S3-compatible server lacks an operation backups need; use one that implements it';
        break;
      default:
        text = `${at} ${doing} failed at ${this.where}: ${message}${name && name !== 'Error' ? ` (${name}${status ? `, HTTP ${status}` : ''})` : ''}`;
    }
    const Kind = name === 'NoSuchBucket' ? StorageLocationMissingError : StorageError;
    return new Kind(this.scrub(text), {
      ...(hint ? { hint: this.scrub(hint) } : {}),
      // Not the SDK error itself: its fields (e.g. AWSAccessKeyId, StringToSign) name credentials.
      cause: new Error(this.scrub(this.describe(error))),
    });
  }

  private describe(error: unknown): string {
    return this.scrub(`${errorName(error) ?? 'Error'}: ${messageOf(error)}`);
  }

  private scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('***');
    return out;
  }
}

interface UploadState {
  abortFailure: unknown;
}

function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'name' in error && typeof error.name === 'string'
    ? error.name
    : undefined;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function httpStatus(error: unknown): number | undefined {
  const metadata = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata;
  return metadata?.httpStatusCode;
}

/** The error an aborted call throws, shaped like Node's own AbortError. */
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });
}
