/**
 * Backups in a directory (a local disk or an NFS mount). A write goes to `KEY.part-RANDOM`, is
 * fsynced, renamed into place and the directory fsynced: a crash leaves only a `.part-` file,
 * which `list` never shows and `cleanup` removes.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { constants } from 'node:fs';
import { access, link, mkdir, open, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  StorageError,
  StorageLocationMissingError,
  StorageNotFoundError,
  type BackupStorage,
  type CallOptions,
  type StoredObject,
  type WriteOptions,
} from './storage.js';

const PART = '.part-';

export class FileStorage implements BackupStorage {
  readonly displayUrl: string;
  readonly local = true;
  private readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.displayUrl = `file://${this.root}`;
  }

  async write(key: string, body: Readable, options: WriteOptions = {}): Promise<{ size: number }> {
    const target = this.pathOf(key);
    const part = `${target}${PART}${randomBytes(4).toString('hex')}`;
    let refused: { error: unknown } | undefined;
    try {
      await mkdir(path.dirname(target), { recursive: true });
      const out = createWriteStream(part, { flags: 'wx' });
      await pipeline(body, out, { signal: options.signal });
      const handle = await open(part, 'r+');
      try {
        // The check reads the file while the disk takes it in: CPU and disk at once.
        const check = options.beforeCommit?.(part).catch((error: unknown) => {
          refused = { error };
          throw error;
        });
        await Promise.all([handle.sync(), check]);
      } finally {
        await handle.close();
      }
      const { size } = await stat(part);
      await rename(part, target);
      await syncDir(path.dirname(target));
      return { size };
    } catch (error) {
      await unlink(part).catch(() => undefined);
      if (refused) throw refused.error;
      throw this.explain(error, `writing ${key}`);
    }
  }

  async createIfAbsent(key: string, data: Buffer, options: CallOptions = {}): Promise<boolean> {
    checkAborted(options.signal);
    const target = this.pathOf(key);
    const part = `${target}${PART}${randomBytes(4).toString('hex')}`;
    try {
      await makeDirs(path.dirname(target));
      await writeFile(part, data, { flag: 'wx', flush: true });
      // link() fails with EEXIST if the name exists, atomically, also over NFS (where O_EXCL
      // was not always atomic); and the name appears with its whole content.
      await link(part, target);
      await syncDir(path.dirname(target));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw this.explain(error, `creating ${key}`);
    } finally {
      await unlink(part).catch(() => undefined);
    }
  }

  async read(key: string, options: CallOptions = {}): Promise<Readable> {
    checkAborted(options.signal);
    const file = this.pathOf(key);
    try {
      await stat(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        throw new StorageNotFoundError(this.displayUrl, key);
      throw this.explain(error, `reading ${key}`);
    }
    return createReadStream(file, { highWaterMark: 1 << 20, signal: options.signal });
  }

  async list(prefix: string, options: CallOptions = {}): Promise<StoredObject[]> {
    checkAborted(options.signal);
    const root = await stat(this.root).catch(() => undefined);
    if (!root?.isDirectory()) {
      throw new StorageLocationMissingError(
        `${this.displayUrl}: ${root ? 'is not a directory' : 'the directory does not exist'}`,
        {
          hint: 'check the path for typos (--storage or backup.storage in the spec); `etcd-steward backup create` creates it on its first run',
        },
      );
    }
    const objects: StoredObject[] = [];
    const walk = async (dir: string): Promise<void> => {
      checkAborted(options.signal);
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw this.explain(error, 'listing');
      }
      for (const entry of entries) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.isFile() && !entry.name.includes(PART)) {
          const key = path.relative(this.root, full).split(path.sep).join('/');
          if (!key.startsWith(prefix)) continue;
          const info = await stat(full).catch(() => undefined);
          if (info) objects.push({ key, size: info.size, modified: info.mtime });
        }
      }
    };
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    await walk(folder ? this.pathOf(folder) : this.root);
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async ensureLocation(options: CallOptions = {}): Promise<void> {
    checkAborted(options.signal);
    await makeDirs(this.root).catch((error: unknown) => {
      throw this.explain(error, 'creating the directory');
    });
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    checkAborted(options.signal);
    await rm(this.pathOf(key), { force: true }).catch((error: unknown) => {
      throw this.explain(error, `deleting ${key}`);
    });
  }

  async cleanup(options: CallOptions & { olderThanMs?: number } = {}): Promise<string[]> {
    const cutoff = Date.now() - (options.olderThanMs ?? 3_600_000);
    const removed: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      checkAborted(options.signal);
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.name.includes(PART)) {
          const info = await stat(full).catch(() => undefined);
          if (info && info.mtimeMs < cutoff) {
            await unlink(full).catch(() => undefined);
            removed.push(path.relative(this.root, full).split(path.sep).join('/'));
          }
        }
      }
    };
    await walk(this.root);
    return removed;
  }

  private pathOf(key: string): string {
    const full = path.resolve(this.root, key);
    if (key.length === 0 || !full.startsWith(this.root + path.sep)) {
      throw new StorageError(`'${key}' is not a key inside ${this.displayUrl}`);
    }
    return full;
  }

  private explain(error: unknown, doing: string): Error {
    if (error instanceof StorageError) return error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason = (error as Error).message;
    if (code === 'ABORT_ERR' || (error as Error).name === 'AbortError') return error as Error;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      return new StorageError(`${this.displayUrl}: no space left on the device while ${doing}`, {
        hint: 'free space there (prune old backups: `etcd-steward backup prune`) or point backup.storage at a bigger volume',
        cause: error,
      });
    }
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return new StorageError(
        `${this.displayUrl}: cannot write there (${code === 'EROFS' ? 'read-only file system' : 'permission denied'}) while ${doing}`,
        {
          hint: 'mount it read-write and give this user write permission, or choose another backup.storage',
          cause: error,
        },
      );
    }
    return new StorageError(`${this.displayUrl}: ${doing} failed: ${reason}`, { cause: error });
  }
}

/** Throws an AbortError (as streams and fetch do) when `signal` has been aborted. */
function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DOMException('The operation was aborted', 'AbortError');
}

/**
 * `mkdir -p`. On a read-only file system Node's recursive mkdir reports ENOENT; the nearest
 * existing folder then tells the real reason (EROFS, EACCES).
 */
async function makeDirs(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    let existing = path.dirname(dir);
    while (
      !(await stat(existing).then(
        () => true,
        () => false,
      )) &&
      existing !== path.dirname(existing)
    )
      existing = path.dirname(existing);
    await access(existing, constants.W_OK);
    throw error;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync().catch(() => undefined); // not every file system syncs directories
  } finally {
    await handle.close();
  }
}
