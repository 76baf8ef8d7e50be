/**
 * The local cluster's state file (DATA_DIR/state.json): which members exist, their ports and
 * process ids. Written before members start, so `down` finds them even after a crash.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../errors.js';

export const STATE_FILE = 'state.json';

export interface LocalMemberState {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** Process id while running (as last recorded), else null. */
  pid: number | null;
  /** The etcd binary this member runs when it differs from the cluster's (a rolling upgrade). */
  etcd?: { readonly version: string; readonly bin: string };
}

export interface LocalClusterState {
  readonly format: 1;
  readonly name: string;
  readonly token: string;
  readonly clientScheme: 'http' | 'https';
  readonly peerScheme: 'http' | 'https';
  readonly createdAt: string;
  /** etcd version that created the data (informational). */
  readonly etcdVersion: string;
  readonly members: LocalMemberState[];
}

/** The state file of a data dir, or undefined when there is none. */
export async function readState(dataDir: string): Promise<LocalClusterState | undefined> {
  const file = path.join(dataDir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const state = JSON.parse(text) as LocalClusterState;
    if (state.format !== 1 || !Array.isArray(state.members)) throw new Error('unknown format');
    return state;
  } catch (error) {
    throw new InputError(
      `${file} is not a state file this version understands: ${(error as Error).message}`,
      {
        hint: 'if the data in this folder is disposable, remove it; otherwise point dataDir elsewhere',
      },
    );
  }
}

/** Writes the state file atomically (temp file + rename). */
export async function writeState(dataDir: string, state: LocalClusterState): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, STATE_FILE);
  await writeFile(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

/** The member of this name; an InputError listing the members when there is none. */
export function memberOf(state: LocalClusterState, name: string): LocalMemberState {
  const member = state.members.find((m) => m.name === name);
  if (!member) {
    throw new InputError(`cluster '${state.name}' has no member '${name}'`, {
      hint: `its members are ${state.members.map((m) => m.name).join(', ')}`,
    });
  }
  return member;
}
