/**
 * Membership actions on one local member: record it in the state file with its own free ports,
 * start it to join the running cluster (`--initial-cluster-state existing`), stop it, move its
 * data aside (never delete), forget it. Each call is safe to repeat; the engine decides when
 * (engine/members/). A member's folder keeps its log and every moved-aside data dir.
 */
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Spec } from '../../config/spec.js';
import { StewardError } from '../../errors.js';
import type { EtcdBinaries } from '../etcd-binaries.js';
import type {
  DataDirState,
  HostedMember,
  MembershipHost,
  RecoverNote,
  ReplaceNote,
} from '../membership-host.js';
import {
  clientUrl,
  isMemberProcess,
  memberArgs,
  memberPaths,
  peerUrl,
  spawnMember,
  stopProcess,
  tailLog,
} from './member-process.js';
import { freePorts, portInUse } from './ports.js';
import { readState, writeState, type LocalClusterState, type LocalMemberState } from './state.js';

const NOTE_FILE = 'replace.json';
/** `DATA_DIR.recover.json`: the note of a `recover` in progress. */
export const RECOVER_NOTE_SUFFIX = 'recover.json';

/** What a member's data dir holds: etcd data (files in its `member` folder), nothing, or no folder. */
export async function dataDirState(memberDataDir: string): Promise<DataDirState> {
  try {
    await stat(memberDataDir);
  } catch {
    return 'missing';
  }
  try {
    return (await readdir(path.join(memberDataDir, 'member'))).length > 0 ? 'present' : 'empty';
  } catch {
    return 'empty';
  }
}

/**
 * The command line of a member joining a running cluster: the member's usual flags with
 * `--initial-cluster-state existing` and the cluster's current `initialCluster`.
 */
export function joiningArgs(
  spec: Spec,
  state: LocalClusterState,
  member: LocalMemberState,
  initialCluster: string,
): string[] {
  return memberArgs(spec, state, member).map((arg) => {
    if (arg.startsWith('--initial-cluster=')) return `--initial-cluster=${initialCluster}`;
    if (arg.startsWith('--initial-cluster-state=')) return '--initial-cluster-state=existing';
    return arg;
  });
}

/** A data dir's name once moved aside: `<dir>.<why>-<UTC timestamp>`. */
export function asideName(dir: string, why: string, now = new Date()): string {
  return `${dir}.${why}-${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

/** The membership host of a spec's local cluster (its state file under `spec.dataDir`). */
export class LocalMembershipHost implements MembershipHost {
  private readonly spec: Spec;
  private readonly binaries: EtcdBinaries | undefined;

  /** `binaries` may be left out when nothing will be started (list, remove). */
  constructor(spec: Spec, binaries?: EtcdBinaries) {
    this.spec = spec;
    this.binaries = binaries;
  }

  async members(): Promise<HostedMember[]> {
    const state = await this.state();
    return state.members.map((m) => hosted(state, m));
  }

  async nextMemberName(): Promise<string> {
    const state = await this.state();
    const taken = new Set(state.members.map((m) => m.name));
    for (let i = 0; ; i += 1) {
      const name = `${this.spec.name}-${i}`;
      if (taken.has(name)) continue;
      const used = await stat(memberPaths(this.spec.dataDir, name).dir).then(
        () => true,
        () => false,
      );
      if (!used) return name;
    }
  }

  async ensureMember(name: string): Promise<HostedMember> {
    const state = await this.state();
    const known = state.members.find((m) => m.name === name);
    if (known) return hosted(state, known);
    const taken = new Set(state.members.flatMap((m) => [m.clientPort, m.peerPort]));
    let ports: number[] = [];
    while (ports.length < 2) ports = (await freePorts(2)).filter((p) => !taken.has(p));
    const member: LocalMemberState = {
      name,
      clientPort: ports[0] as number,
      peerPort: ports[1] as number,
      pid: null,
    };
    state.members.push(member);
    await writeState(this.spec.dataDir, state);
    return hosted(state, member);
  }

  async dataDir(name: string): Promise<{ path: string; state: DataDirState }> {
    const dir = memberPaths(this.spec.dataDir, name).dataDir;
    return { path: dir, state: await dataDirState(dir) };
  }

  async isRunning(name: string): Promise<boolean> {
    const state = await this.state();
    const member = state.members.find((m) => m.name === name);
    return member !== undefined && isMemberProcess(member.pid, memberPaths(this.spec.dataDir, name).dataDir);
  }

  async startJoining(name: string, initialCluster: string): Promise<void> {
    await this.spawnWith(name, (state, member) => joiningArgs(this.spec, state, member, initialCluster));
  }

  async startForceNewCluster(name: string): Promise<void> {
    await this.spawnWith(name, (state, member) => [
      ...memberArgs(this.spec, state, member),
      '--force-new-cluster',
    ]);
  }

  async startOnData(name: string): Promise<void> {
    if ((await dataDirState(memberPaths(this.spec.dataDir, name).dataDir)) !== 'present')
      throw new StewardError(`member ${name} has no data to start on`);
    await this.spawnWith(name, (state, member) => memberArgs(this.spec, state, member));
  }

  /** Starts the member's etcd with `args` (unless it runs), detached, and records its pid. */
  private async spawnWith(
    name: string,
    args: (state: LocalClusterState, member: LocalMemberState) => string[],
  ): Promise<void> {
    if (!this.binaries) throw new Error('LocalMembershipHost: starting a member needs the etcd binaries');
    const state = await this.state();
    const member = this.member(state, name);
    const paths = memberPaths(this.spec.dataDir, name);
    if (await isMemberProcess(member.pid, paths.dataDir)) return;
    for (const [kind, port] of [
      ['client', member.clientPort],
      ['peer', member.peerPort],
    ] as const) {
      if (await portInUse(port)) {
        throw new StewardError(`port ${port} (${kind} port of member ${name}) is in use by another process`, {
          hint: `stop whatever listens on ${port} (\`ss -ltnp 'sport = :${port}'\`), then run the command again`,
        });
      }
    }
    await mkdir(paths.dir, { recursive: true });
    const child = spawnMember(this.binaries.etcd, args(state, member), paths.logFile);
    child.once('error', () => undefined); // a binary that cannot start shows as a member not running
    child.unref(); // the member outlives this command, as after `up --detach`
    if (child.pid === undefined)
      throw new StewardError(`could not start ${this.binaries.etcd} for member ${name}`);
    member.pid = child.pid;
    await writeState(this.spec.dataDir, state);
  }

  async stop(name: string): Promise<'stopped' | 'killed' | 'not-running'> {
    const state = await this.state();
    const member = state.members.find((m) => m.name === name);
    if (!member) return 'not-running';
    const { dataDir } = memberPaths(this.spec.dataDir, name);
    const outcome = (await isMemberProcess(member.pid, dataDir))
      ? await stopProcess(member.pid as number, dataDir)
      : 'not-running';
    member.pid = null;
    await writeState(this.spec.dataDir, state);
    return outcome;
  }

  async moveDataAside(name: string, why: 'replaced' | 'removed'): Promise<string | undefined> {
    const { dataDir } = memberPaths(this.spec.dataDir, name);
    if ((await dataDirState(dataDir)) === 'missing') return undefined;
    let target = asideName(dataDir, why);
    for (
      let i = 2;
      await stat(target).then(
        () => true,
        () => false,
      );
      i += 1
    )
      target = `${asideName(dataDir, why)}-${i}`;
    await rename(dataDir, target);
    return target;
  }

  async forget(name: string): Promise<void> {
    const state = await this.state();
    if (!state.members.some((m) => m.name === name)) return;
    await writeState(this.spec.dataDir, { ...state, members: state.members.filter((m) => m.name !== name) });
  }

  lastLogLines(name: string): Promise<string[]> {
    return tailLog(memberPaths(this.spec.dataDir, name).logFile);
  }

  async readReplaceNote(name: string): Promise<ReplaceNote | undefined> {
    try {
      return JSON.parse(await readFile(this.notePath(name), 'utf8')) as ReplaceNote;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async writeReplaceNote(note: ReplaceNote): Promise<void> {
    const file = this.notePath(note.name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(`${file}.tmp`, `${JSON.stringify(note, null, 2)}\n`);
    await rename(`${file}.tmp`, file);
  }

  async clearReplaceNote(name: string): Promise<void> {
    await rm(this.notePath(name), { force: true });
  }

  async readRecoverNote(): Promise<RecoverNote | undefined> {
    try {
      return JSON.parse(await readFile(this.recoverNotePath(), 'utf8')) as RecoverNote;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async writeRecoverNote(note: RecoverNote): Promise<void> {
    const file = this.recoverNotePath();
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(`${file}.tmp`, `${JSON.stringify(note, null, 2)}\n`);
    await rename(`${file}.tmp`, file);
  }

  async clearRecoverNote(): Promise<void> {
    await rm(this.recoverNotePath(), { force: true });
  }

  /** Beside the data dir, not in it: a restore moves the whole data dir aside and the note must stay. */
  private recoverNotePath(): string {
    return `${this.spec.dataDir.replace(/\/+$/, '')}.${RECOVER_NOTE_SUFFIX}`;
  }

  private notePath(name: string): string {
    return path.join(memberPaths(this.spec.dataDir, name).dir, NOTE_FILE);
  }

  private member(state: LocalClusterState, name: string): LocalMemberState {
    const member = state.members.find((m) => m.name === name);
    if (!member) throw new StewardError(`member ${name} is not recorded in ${this.spec.dataDir}`);
    return member;
  }

  private async state(): Promise<LocalClusterState> {
    const state = await readState(this.spec.dataDir);
    if (!state) {
      throw new StewardError(`no local cluster in ${this.spec.dataDir}`, {
        hint: 'start it with `etcd-steward up`',
      });
    }
    return state;
  }
}

function hosted(state: LocalClusterState, member: LocalMemberState): HostedMember {
  return { name: member.name, peerUrl: peerUrl(state, member), clientUrl: clientUrl(state, member) };
}
