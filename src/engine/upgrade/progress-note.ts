/**
 * The small note a rolling upgrade or downgrade keeps beside the cluster's records while it runs:
 * where it started (the version to go back to), where it goes, and the backup it took. The members'
 * own versions say which step comes next, so after a crash between any two steps a rerun reads the
 * note, skips what is done (and the backup it already has) and finishes; the note goes when done.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cacheDir } from '../../runtime/etcd-binaries.js';

export interface UpgradeNote {
  readonly format: 1;
  readonly operation: 'upgrade' | 'downgrade';
  /** The version every member ran when the run began. */
  readonly from: string;
  /** The version the run moves every member to. */
  readonly to: string;
  /** The `--etcd-bin` folder of the target, when one was given. */
  readonly bin?: string | undefined;
  readonly startedAt: string;
  /** The verified backup taken before the first change (undefined: skipped on request). */
  readonly backup?: string | undefined;
}

/** The note's file: in the runtime's records folder (local), else under the cache dir by cluster name. */
export function notePath(recordsDir: string | undefined, clusterName: string): string {
  return recordsDir
    ? path.join(recordsDir, 'upgrade-progress.json')
    : path.join(cacheDir(), 'upgrades', `${clusterName}.json`);
}

/** The note of a run that has not finished, or undefined. */
export async function readNote(file: string): Promise<UpgradeNote | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as UpgradeNote;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes the note whole (temp file, then rename), so a crash never leaves half of it. */
export async function writeNote(file: string, note: UpgradeNote): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(note, null, 2)}\n`);
  await rename(temp, file);
}

export async function clearNote(file: string): Promise<void> {
  await rm(file, { force: true });
}
