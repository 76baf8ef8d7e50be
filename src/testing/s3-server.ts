/**
 * A real S3-protocol server for tests: MinIO (built by scripts/install-minio.sh, never shipped),
 * run as a child process on 127.0.0.1 with free ports, its data in a test temp dir, one bucket
 * and its own credentials. MinIO verifies SigV4 signatures, lists and aborts multipart uploads,
 * and answers NoSuchBucket / InvalidAccessKeyId / SignatureDoesNotMatch as AWS does.
 *
 * (Before MinIO we used s3rver, an npm package; it checks no signatures and has neither
 * ListMultipartUploads nor AbortMultipartUpload. The contract test still probes these features
 * and names any that a server lacks, so it would say so if the server changed again.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { cacheDir } from '../runtime/etcd-binaries.js';
import { freePorts } from '../runtime/local/ports.js';
import { tempDir, type Cleanup } from './harness.js';
import { killAndWait, once } from './child-process.js';

export interface S3TestServer {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  /** A bucket that exists on the server. */
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The server's data dir (inside a test temp dir). */
  readonly dir: string;
  /** The child's pid. */
  readonly pid: number;
  /** Kills the server and removes its data dir; safe to call twice. */
  stop(): Promise<void>;
}

/** Features a test S3 server may lack; tests name the gap in their skip message. */
export const S3_SERVER_GAPS = {
  sigV4:
    'the S3 test server does not verify SigV4 signatures (it accepts any secret key for a known access key id)',
  listMultipartUploads: 'the S3 test server does not implement ListMultipartUploads',
  abortMultipartUpload: 'the S3 test server does not implement AbortMultipartUpload',
} as const;

const START_TIMEOUT_MS = 30_000;

/** The MinIO binary: $MINIO_BIN, else the newest one scripts/install-minio.sh put in the cache. */
export async function minioBinary(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env['MINIO_BIN']) return env['MINIO_BIN'];
  const root = path.join(cacheDir(env), 'minio');
  const versions = (await readdir(root).catch(() => [])).sort().reverse();
  for (const version of versions) {
    const dir = path.join(root, version);
    const ready = await access(path.join(dir, '.complete')).then(
      () => true,
      () => false,
    );
    if (ready) return path.join(dir, 'minio');
  }
  throw new Error(`no MinIO binary in ${root}: run \`bash scripts/install-minio.sh\` (npm test does)`);
}

/** The key id of the test server's static KMS key (for SSE-KMS tests). */
export const MINIO_KMS_KEY_ID = 'steward-test-key';

/** Starts MinIO and registers its stop (and its dir's removal) with `cleanup`. */
export async function startS3Server(
  cleanup: Cleanup,
  options: { bucket?: string } = {},
): Promise<S3TestServer> {
  const binary = await minioBinary();
  const dir = await tempDir(cleanup, 's3');
  const bucket = options.bucket ?? `steward-test-${randomBytes(3).toString('hex')}`;
  const accessKeyId = `STEWARDTEST${randomBytes(6).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64url');
  const [port, consolePort] = (await freePorts(2)) as [number, number];
  const child = spawn(
    binary,
    [
      'server',
      path.join(dir, 'data'),
      '--address',
      `127.0.0.1:${port}`,
      '--console-address',
      `127.0.0.1:${consolePort}`,
      '--quiet',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env['PATH'],
        HOME: dir,
        MINIO_ROOT_USER: accessKeyId,
        MINIO_ROOT_PASSWORD: secretAccessKey,
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
        MINIO_CI_CD: '1',
        // A static KMS key, so SSE-S3 and SSE-KMS (key id MINIO_KMS_KEY_ID) work; unused otherwise.
        MINIO_KMS_SECRET_KEY: `${MINIO_KMS_KEY_ID}:${randomBytes(32).toString('base64')}`,
      },
    },
  );
  let output = '';
  const collect = (d: Buffer) => (output = (output + d.toString()).slice(-8000));
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const stop = once(async () => {
    await killAndWait(child, 3000);
    await rm(dir, { recursive: true, force: true });
  });
  cleanup.add(stop);
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitLive(endpoint, child, () => output);
    const client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
    });
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } finally {
      client.destroy();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, bucket, accessKeyId, secretAccessKey, dir, pid: child.pid ?? -1, stop };
}

async function waitLive(endpoint: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`MinIO exited while starting (${child.exitCode}):\n${output()}`);
    const ok = await fetch(`${endpoint}/minio/health/live`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`MinIO did not start within ${START_TIMEOUT_MS} ms:\n${output()}`);
}
