/**
 * Picks the backend for a storage URL. The S3 backend (and with it the AWS SDK, a few hundred
 * milliseconds of loading) is imported only when an `s3://` URL is opened.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';
import { FileStorage } from './file.js';
import { redactStorageUrl } from './s3-url.js';
import type { BackupStorage, S3Settings } from './storage.js';

export { redactStorageUrl } from './s3-url.js';

export interface OpenStorageOptions {
  /** S3 settings from the spec and environment; the URL's query parameters override them. */
  readonly s3?: S3Settings;
  /** What relative paths are relative to (the spec's folder); default the working directory. */
  readonly baseDir?: string;
}

const FORMS =
  'file:///ABSOLUTE/DIR, file://./RELATIVE/DIR, a plain path, or s3://BUCKET[/PREFIX][?endpoint=URL&region=NAME&forcePathStyle=true]';

/**
 * Opens the storage a URL names:
 * - `file:///abs/dir`, `file://./rel/dir`, `file://localhost/abs/dir` or a plain path (relative
 *   to `baseDir`) → FileStorage;
 * - `s3://bucket/prefix?endpoint=…&region=…&forcePathStyle=…&profile=…&credentialsFile=…` →
 *   S3Storage;
 * - anything else → InputError naming the URL and the accepted forms.
 */
export async function openStorage(url: string, options: OpenStorageOptions = {}): Promise<BackupStorage> {
  const baseDir = path.resolve(options.baseDir ?? process.cwd());
  const shown = redactStorageUrl(url);
  const bad = (problem: string) =>
    new InputError(`'${shown}' is not a storage location: ${problem}`, { hint: `use ${FORMS}` });
  if (url.trim() === '') throw bad('it is empty');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 's3') {
    const { S3Storage } = await import('./s3.js');
    return new S3Storage(url, options.s3 ?? {});
  }
  if (scheme === 'file') return new FileStorage(fileUrlPath(url, baseDir, bad));
  // One letter before ':' is a Windows drive, not a scheme; anything longer is a scheme we lack.
  if (scheme !== undefined && scheme.length > 1) throw bad(`the scheme '${scheme}:' is not supported`);
  return new FileStorage(path.resolve(baseDir, url));
}

function fileUrlPath(url: string, baseDir: string, bad: (problem: string) => Error): string {
  if (/[?#]/.test(url)) throw bad('a file: URL takes no query or fragment');
  const rest = url.replace(/^file:/i, '');
  if (!rest.startsWith('//')) throw bad("write file:///ABSOLUTE/DIR or file://./RELATIVE/DIR (with '//')");
  const afterSlashes = rest.slice(2);
  let decoded: string;
  try {
    decoded = decodeURIComponent(afterSlashes);
  } catch {
    throw bad('it is not correctly percent-encoded');
  }
  if (afterSlashes.startsWith('/')) return fileURLToPath(`file://${afterSlashes}`);
  if (/^localhost\//i.test(afterSlashes)) return fileURLToPath(`file://${afterSlashes}`);
  if (decoded === '.' || decoded === '..' || decoded.startsWith('./') || decoded.startsWith('../')) {
    return path.resolve(baseDir, decoded);
  }
  throw bad(
    `'${decoded.split('/')[0] ?? ''}' would be a host; write file:///ABSOLUTE/DIR or file://./RELATIVE/DIR`,
  );
}
