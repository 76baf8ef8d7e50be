/**
 * One run at a time per cluster, held in the backup storage and never in the cluster (a backup
 * must leave no trace in what it backs up).
 *
 * The lock `NAME` is a series of small objects `locks/NAME/GENERATION.json`, each created only if
 * absent (BackupStorage.createIfAbsent). The highest generation is the lock; it records who holds
 * it (owner, host, pid, run id) and until when. To take the lock, a run reads the highest
 * generation and, if it is released or expired, creates the next one: of two runs racing to take
 * over the same stale lock exactly one creates it, the other sees the winner's lock and stops.
 * The winner then checks that no higher generation exists (a run that read an old generation
 * long ago may only now create its successor: it finds a higher one and withdraws) and deletes
 * the older ones. Because the highest generation is never deleted (release marks it released)
 * the series only grows, which is what makes that check sound.
 *
 * The holder renews the expiry while it works; if a renewal finds a higher generation (the lock
 * was taken over after a stall) or cannot renew before the expiry, the run is aborted. A crashed
 * run's lock blocks for at most its time to live. Expiry is compared with the local clock: the
 * machines sharing a storage need roughly synchronised clocks (NTP), as S3 signing does anyway.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { StewardError } from '../../errors.js';
import {
  StorageLocationMissingError,
  StorageNotFoundError,
  type BackupStorage,
} from '../../storage/storage.js';

/** A run that overlaps with one already going on. */
export class LockHeldError extends StewardError {}

/** What a lock object holds. */
export interface LockRecord {
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
  /** Unique per run: tells this run's lock from another's with the same host and pid. */
  readonly run: string;
  readonly acquiredAt: string;
  readonly expiresAt: string;
  readonly released: boolean;
}

export interface LockOptions {
  /** How long a lock lasts without renewal. Default 60 s. */
  readonly ttlMs?: number;
  /** How often the holder renews it. Default a third of the time to live. */
  readonly renewEveryMs?: number;
  /** Clock (tests). */
  readonly now?: () => number;
}

/** A lock this run holds. */
export interface HeldLock {
  /** The storage key of the lock object. */
  readonly key: string;
  readonly record: LockRecord;
  /** Extends the expiry; throws LockHeldError if the lock was taken over meanwhile. */
  renew(): Promise<void>;
  /** Marks the lock released (if it is still ours). */
  release(): Promise<void>;
}

const TTL_MS = 60_000;
const DIGITS = 12;

/** The key prefix of lock `name` in a storage. */
export function lockPrefix(name: string): string {
  return `locks/${name}/`;
}

/** Takes lock `name` in `storage`, or throws LockHeldError naming the holder. */
export async function acquireStorageLock(
  storage: BackupStorage,
  name: string,
  options: LockOptions = {},
): Promise<HeldLock> {
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlMs ?? TTL_MS;
  const prefix = lockPrefix(name);
  const keyOf = (generation: number) => `${prefix}${String(generation).padStart(DIGITS, '0')}.json`;
  const base = {
    owner: userName(),
    host: os.hostname(),
    pid: process.pid,
    run: randomUUID(),
    acquiredAt: new Date(now()).toISOString(),
  };
  const recordAt = (released: boolean): LockRecord => ({
    ...base,
    expiresAt: new Date(now() + ttlMs).toISOString(),
    released,
  });
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const generations = await listGenerations(storage, prefix);
    const top = generations.at(-1);
    if (top !== undefined) {
      const current = await readRecord(storage, keyOf(top));
      if (current === undefined) continue; // deleted meanwhile: look again
      if (!current.released && Date.parse(current.expiresAt) > now()) {
        throw heldError(storage, name, keyOf(top), current, now());
      }
    }
    const generation = (top ?? 0) + 1;
    const key = keyOf(generation);
    let record = recordAt(false);
    if (!(await storage.createIfAbsent(key, encode(record)))) continue; // another run was quicker
    const after = await listGenerations(storage, prefix);
    if ((after.at(-1) ?? 0) > generation) {
      await storage.delete(key).catch(() => undefined); // a late successor of an old lock: withdraw
      continue;
    }
    for (const old of after.filter((g) => g < generation)) {
      await storage.delete(keyOf(old)).catch(() => undefined);
    }
    const stillOurs = async (): Promise<boolean> => {
      const latest = await listGenerations(storage, prefix);
      return latest.at(-1) === generation;
    };
    return {
      key,
      get record() {
        return record;
      },
      async renew() {
        if (!(await stillOurs())) {
          const holder = await readTop(storage, prefix, keyOf);
          throw new LockHeldError(
            `this run's lock ${key} in ${storage.displayUrl} was taken over${holder ? ` by ${describe(holder)}` : ''} after it expired`,
            {
              hint: 'the run was stopped; a run must renew its lock within its time to live (is the storage slow or was this process paused?)',
            },
          );
        }
        record = recordAt(false);
        await storage.write(key, Readable.from([encode(record)]));
      },
      async release() {
        if (!(await stillOurs())) return;
        record = { ...record, released: true };
        await storage.write(key, Readable.from([encode(record)]));
      },
    };
  }
  const holder = await readTop(storage, prefix, keyOf);
  throw new LockHeldError(
    `could not take the lock ${prefix} in ${storage.displayUrl}: other runs keep taking it${holder ? ` (now ${describe(holder)})` : ''}`,
    { hint: 'wait for them to finish and try again' },
  );
}

/**
 * Runs `work` holding lock `name` in `storage`, renewing it meanwhile; `work` gets a signal that
 * aborts if the lock is lost (or `outer` aborts). The lock is released afterwards.
 */
export async function withStorageLock<T>(
  storage: BackupStorage,
  name: string,
  work: (signal: AbortSignal) => Promise<T>,
  outer?: AbortSignal,
  options: LockOptions = {},
): Promise<T> {
  const now = options.now ?? Date.now;
  const lock = await acquireStorageLock(storage, name, options);
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  if (outer?.aborted) onOuterAbort();
  let renewing: Promise<void> = Promise.resolve();
  const timer = setInterval(
    () => {
      renewing = renewing.then(async () => {
        if (controller.signal.aborted) return;
        try {
          await lock.renew();
        } catch (error) {
          if (error instanceof LockHeldError) controller.abort(error);
          else if (now() >= Date.parse(lock.record.expiresAt)) {
            controller.abort(
              new LockHeldError(
                `could not renew this run's lock ${lock.key} in ${storage.displayUrl} before it expired: ${(error as Error).message}`,
                {
                  hint: 'the run was stopped so that it cannot overlap another; check the storage and run it again',
                },
              ),
            );
          }
          // Otherwise try again at the next tick, while the lock still holds.
        }
      });
    },
    options.renewEveryMs ?? (options.ttlMs ?? TTL_MS) / 3,
  );
  try {
    return await work(controller.signal);
  } finally {
    clearInterval(timer);
    outer?.removeEventListener('abort', onOuterAbort);
    await renewing;
    await lock.release().catch(() => undefined); // an unreleased lock merely expires
  }
}

async function listGenerations(storage: BackupStorage, prefix: string): Promise<number[]> {
  let objects;
  try {
    objects = await storage.list(prefix);
  } catch (error) {
    // A new file:// location: createIfAbsent makes its directory. (A missing bucket fails there.)
    if (error instanceof StorageLocationMissingError) return [];
    throw error;
  }
  return objects
    .map((o) => /^(\d+)\.json$/.exec(o.key.slice(prefix.length))?.[1])
    .filter((g): g is string => g !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

async function readRecord(storage: BackupStorage, key: string): Promise<LockRecord | undefined> {
  let raw: string;
  try {
    raw = await text(await storage.read(key));
  } catch (error) {
    if (error instanceof StorageNotFoundError) return undefined;
    throw error;
  }
  try {
    const parsed = JSON.parse(raw) as Partial<LockRecord>;
    if (typeof parsed.expiresAt !== 'string' || Number.isNaN(Date.parse(parsed.expiresAt))) throw new Error();
    return parsed as LockRecord;
  } catch {
    throw new StewardError(`${key} in ${storage.displayUrl} is not a lock object`, {
      hint: 'if no other run is going on, delete it; the next run starts a new lock',
    });
  }
}

async function readTop(
  storage: BackupStorage,
  prefix: string,
  keyOf: (generation: number) => string,
): Promise<LockRecord | undefined> {
  const top = (await listGenerations(storage, prefix).catch(() => [])).at(-1);
  return top === undefined ? undefined : readRecord(storage, keyOf(top)).catch(() => undefined);
}

function heldError(
  storage: BackupStorage,
  name: string,
  key: string,
  holder: LockRecord,
  now: number,
): LockHeldError {
  const left = Math.max(1, Math.ceil((Date.parse(holder.expiresAt) - now) / 1000));
  return new LockHeldError(
    `another ${name.split('/')[0] ?? 'run'} of this cluster is running (lock ${key} in ${storage.displayUrl}: ${describe(holder)})`,
    {
      hint: `wait for it to finish; if that run crashed, its lock expires in ${left} s (at ${holder.expiresAt}) and the next run takes it over`,
    },
  );
}

function describe(record: LockRecord): string {
  return `${record.owner} on ${record.host}, pid ${record.pid}, since ${record.acquiredAt}`;
}

function encode(record: LockRecord): Buffer {
  return Buffer.from(`${JSON.stringify(record, null, 2)}\n`);
}

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'unknown';
  }
}
