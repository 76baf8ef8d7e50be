/**
 * The local runtime: the spec's members as child processes on loopback. It creates a cluster on
 * an empty data dir, restarts the same cluster (same ports, same data) on an existing one, and
 * never initialises over data. Waiting for health is the engine's job (engine/up.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { Spec } from '../../config/spec.js';
import { InputError, StewardError } from '../../errors.js';
import type { EtcdBinaries } from '../etcd-binaries.js';
import {
  clientUrl,
  isMemberProcess,
  memberArgs,
  memberPaths,
  spawnMember,
  stopProcess,
  tailLog,
} from './member-process.js';
import { freePorts, portInUse } from './ports.js';
import {
  STATE_FILE,
  memberOf,
  readState,
  writeState,
  type LocalClusterState,
  type LocalMemberState,
} from './state.js';

export interface MemberExit {
  readonly name: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface StartResult {
  /** created: a new cluster; restarted: stopped members started on their data; running: nothing to do. */
  readonly mode: 'created' | 'restarted' | 'running';
  readonly state: LocalClusterState;
  /** Members this call started. */
  readonly started: readonly string[];
  /** Settles when any member this call started exits. */
  readonly firstExit: Promise<MemberExit>;
  /**
   * Stopped members left alone because their data dir holds no etcd data (an add that did not
   * finish, or a lost member): the membership engine finishes or replaces them.
   */
  readonly notStarted?: readonly string[];
}

export interface StopResult {
  readonly name: string;
  readonly outcome: 'stopped' | 'killed' | 'not-running';
}

/** One spec's local cluster. */
export class LocalRuntime {
  readonly spec: Spec;
  private readonly binaries: EtcdBinaries | undefined;
  private readonly children = new Map<string, ChildProcess>();

  /** `binaries` may be left out for stopping and purging, which start nothing. */
  constructor(spec: Spec, binaries?: EtcdBinaries) {
    this.spec = spec;
    this.binaries = binaries;
  }

  /** The recorded state, or undefined before the first `start`. */
  state(): Promise<LocalClusterState | undefined> {
    return readState(this.spec.dataDir);
  }

  /** Client URLs of the members, from the state file. */
  async endpoints(): Promise<string[]> {
    const state = await this.requireState();
    return state.members.map((m) => clientUrl(state, m));
  }

  /** Starts what is not running: creates the cluster on an empty data dir, else restarts it. */
  async start(): Promise<StartResult> {
    const existing = await this.state();
    if (!existing) return this.create();
    this.checkMatchesSpec(existing);
    const stopped: LocalMemberState[] = [];
    for (const member of existing.members) {
      const { dataDir } = memberPaths(this.spec.dataDir, member.name);
      if (!(await isMemberProcess(member.pid, dataDir))) stopped.push(member);
    }
    // A stopped member without data is one an add had recorded but not yet started (the
    // membership engine finishes it once the others run), unless no member has data at all.
    const withoutData: string[] = [];
    for (const member of existing.members) {
      if (!(await hasEtcdData(memberPaths(this.spec.dataDir, member.name).dataDir)))
        withoutData.push(member.name);
    }
    const startable = stopped.filter((m) => !withoutData.includes(m.name));
    if (startable.length === 0 && stopped.length > 0 && withoutData.length === existing.members.length) {
      const { dataDir } = memberPaths(this.spec.dataDir, stopped[0]?.name ?? '');
      throw new StewardError(
        `member ${stopped[0]?.name ?? '?'} of cluster '${existing.name}' has no data in ${dataDir}`,
        {
          hint: 'its data was removed; restore the cluster from a backup, or `etcd-steward down --purge` to start afresh',
        },
      );
    }
    const notStarted = stopped.filter((m) => withoutData.includes(m.name)).map((m) => m.name);
    if (startable.length === 0)
      return { mode: 'running', state: existing, started: [], notStarted, firstExit: new Promise(() => {}) };
    for (const member of startable) await this.checkPortsFree([member]);
    return { ...(await this.launch(existing, startable, 'restarted')), notStarted };
  }

  /**
   * Plans a new cluster without starting it: member names, free ports (or `ports`, e.g. a
   * replaced cluster's), a new cluster token; writes the state file. Refuses a data dir that
   * already holds a cluster. `start()` then launches what `plan()` laid out (restore builds each
   * member's data in between).
   */
  async plan(ports?: { client: readonly number[]; peer: readonly number[] }): Promise<LocalClusterState> {
    if (await this.state()) {
      throw new StewardError(
        `${this.spec.dataDir} already holds a cluster (${path.join(this.spec.dataDir, STATE_FILE)})`,
        {
          hint: 'refusing to overwrite it; choose another name or folder',
        },
      );
    }
    const names = Array.from({ length: this.spec.members }, (_, i) => `${this.spec.name}-${i}`);
    for (const name of names) {
      const { dataDir } = memberPaths(this.spec.dataDir, name);
      if (await hasEtcdData(dataDir)) {
        throw new StewardError(
          `${dataDir} already holds etcd data, but ${path.join(this.spec.dataDir, STATE_FILE)} is missing`,
          {
            hint: 'refusing to initialise a new cluster over existing data; move that folder away or choose another dataDir',
          },
        );
      }
    }
    // Ports picked free may be taken by another process before we check them (tests start many
    // clusters side by side): with auto ports, pick again a few times before giving up.
    for (let attempt = 1; ; attempt += 1) {
      const picked = ports ?? (await this.pickPorts(names.length));
      const state: LocalClusterState = {
        format: 1,
        name: this.spec.name,
        token: `${this.spec.name}-${randomBytes(6).toString('hex')}`,
        clientScheme: this.spec.tls?.server ? 'https' : 'http',
        peerScheme: this.spec.tls?.peer ? 'https' : 'http',
        createdAt: new Date().toISOString(),
        etcdVersion: this.requireBinaries().version,
        members: names.map((name, i) => ({
          name,
          clientPort: picked.client[i] as number,
          peerPort: picked.peer[i] as number,
          pid: null,
        })),
      };
      try {
        await this.checkPortsFree(state.members);
      } catch (error) {
        const auto = this.spec.ports.client === 'auto' || this.spec.ports.peer === 'auto';
        if (ports !== undefined || !auto || attempt >= 5) throw error;
        continue;
      }
      await writeState(this.spec.dataDir, state);
      return state;
    }
  }

  /**
   * Stops every running member, or only the members named in `only` (SIGTERM, then SIGKILL
   * after `graceMs`).
   */
  async stop(graceMs = 10_000, only?: readonly string[]): Promise<StopResult[]> {
    const state = await this.state();
    if (!state) return [];
    for (const name of only ?? []) memberOf(state, name);
    const chosen = state.members.filter((m) => only === undefined || only.includes(m.name));
    const results = await Promise.all(
      chosen.map(async (member): Promise<StopResult> => {
        const { dataDir } = memberPaths(this.spec.dataDir, member.name);
        const outcome = (await isMemberProcess(member.pid, dataDir))
          ? await stopProcess(member.pid as number, dataDir, graceMs)
          : 'not-running';
        // A member this process started is its child: wait until it is reaped, so no zombie
        // (a pid that still answers signals) outlives the stop.
        const child = this.children.get(member.name);
        if (child && child.exitCode === null && child.signalCode === null) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 5_000);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
        member.pid = null;
        return { name: member.name, outcome };
      }),
    );
    await writeState(this.spec.dataDir, state);
    return results;
  }

  /**
   * Starts one stopped member on its data (same ports, same identity); a running member is left
   * alone (`running`). Refuses a member without data: that one needs a restore or a replace.
   */
  async startMember(name: string): Promise<StartResult> {
    const state = await this.requireState();
    this.checkMatchesSpec(state);
    const member = memberOf(state, name);
    const { dataDir } = memberPaths(this.spec.dataDir, member.name);
    if (await isMemberProcess(member.pid, dataDir)) {
      return { mode: 'running', state, started: [], firstExit: new Promise(() => {}) };
    }
    if (!(await hasEtcdData(dataDir))) {
      throw new StewardError(`member ${name} of cluster '${state.name}' has no data in ${dataDir}`, {
        hint: 'a member without data cannot rejoin on its own; restore the cluster from a backup',
      });
    }
    await this.checkPortsFree([member]);
    return this.launch(state, [member], 'restarted');
  }

  /**
   * Records that `name` runs on these binaries from its next start on (a rolling upgrade or
   * downgrade changes one member at a time); the member is not restarted here.
   */
  async setMemberBinaries(name: string, binaries: EtcdBinaries): Promise<void> {
    const state = await this.requireState();
    const member = memberOf(state, name);
    member.etcd = { version: binaries.version, bin: binaries.etcd };
    await writeState(this.spec.dataDir, state);
  }

  /** Removes the members' data, logs and the state file; refuses while a member runs. */
  async purge(): Promise<string[]> {
    const state = await this.state();
    if (!state) return [];
    for (const member of state.members) {
      const { dataDir } = memberPaths(this.spec.dataDir, member.name);
      if (await isMemberProcess(member.pid, dataDir)) {
        throw new StewardError(
          `member ${member.name} is still running; stop the cluster before purging its data`,
        );
      }
    }
    const removed: string[] = [];
    for (const member of state.members) {
      const { dir } = memberPaths(this.spec.dataDir, member.name);
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    }
    await rm(path.join(this.spec.dataDir, STATE_FILE), { force: true });
    await rmdir(this.spec.dataDir).catch(() => undefined); // only when nothing else is left in it
    return removed;
  }

  /** The member's last log lines, shortened, for error messages. */
  lastLogLines(memberName: string, count?: number): Promise<string[]> {
    return tailLog(memberPaths(this.spec.dataDir, memberName).logFile, count);
  }

  /** Lets this process exit while members keep running (`up --detach`). */
  detach(): void {
    for (const child of this.children.values()) child.unref();
  }

  private async create(): Promise<StartResult> {
    const state = await this.plan();
    return this.launch(state, state.members, 'created');
  }

  private async pickPorts(count: number): Promise<{ client: number[]; peer: number[] }> {
    const { client, peer } = this.spec.ports;
    const auto = await freePorts((client === 'auto' ? count : 0) + (peer === 'auto' ? count : 0));
    const range = (base: number) => Array.from({ length: count }, (_, i) => base + i);
    return {
      client: client === 'auto' ? auto.splice(0, count) : range(client),
      peer: peer === 'auto' ? auto.splice(0, count) : range(peer),
    };
  }

  private async checkPortsFree(members: readonly LocalMemberState[]): Promise<void> {
    for (const member of members) {
      for (const [kind, port] of [
        ['client', member.clientPort],
        ['peer', member.peerPort],
      ] as const) {
        if (await portInUse(port)) {
          throw new StewardError(
            `port ${port} (${kind} port of member ${member.name}) is already in use by another process`,
            {
              hint:
                this.spec.ports[kind] === 'auto'
                  ? `a restarted cluster keeps its ports; stop whatever listens on ${port} (e.g. \`ss -ltnp 'sport = :${port}'\`)`
                  : `stop whatever listens on ${port}, or set ports.${kind}: auto in the spec`,
            },
          );
        }
      }
    }
  }

  private async launch(
    state: LocalClusterState,
    members: readonly LocalMemberState[],
    mode: 'created' | 'restarted',
  ): Promise<StartResult> {
    const binaryOf = (member: LocalMemberState) => member.etcd?.bin ?? this.requireBinaries().etcd;
    await writeState(this.spec.dataDir, state);
    const exits: Promise<MemberExit>[] = [];
    for (const member of members) {
      const paths = memberPaths(this.spec.dataDir, member.name);
      await mkdir(paths.dir, { recursive: true });
      const child = spawnMember(binaryOf(member), memberArgs(this.spec, state, member), paths.logFile);
      const exit = new Promise<MemberExit>((resolve) => {
        child.once('exit', (code, signal) => resolve({ name: member.name, code, signal }));
        child.once('error', () => resolve({ name: member.name, code: null, signal: null }));
      });
      exits.push(exit);
      member.pid = child.pid ?? null;
      this.children.set(member.name, child);
    }
    await writeState(this.spec.dataDir, state);
    return { mode, state, started: members.map((m) => m.name), firstExit: Promise.race(exits) };
  }

  /** The data dir holds the spec's cluster (by name); a different size is scaled by `up`. */
  private checkMatchesSpec(state: LocalClusterState): void {
    if (state.name !== this.spec.name) {
      throw new InputError(
        `${this.spec.dataDir} holds cluster '${state.name}', but the spec names '${this.spec.name}'`,
        {
          hint: 'use the spec that created this data dir, or set another dataDir',
        },
      );
    }
  }

  private requireBinaries(): EtcdBinaries {
    if (!this.binaries) throw new Error('LocalRuntime: starting members needs the etcd binaries');
    return this.binaries;
  }

  /** The recorded state; an error saying to run `up` before the first start. */
  async requireState(): Promise<LocalClusterState> {
    const state = await this.state();
    if (!state) {
      throw new StewardError(`no local cluster in ${this.spec.dataDir}`, {
        hint: 'start it with `etcd-steward up`',
      });
    }
    return state;
  }
}

/** True when a member data dir holds etcd data (its `member` folder has files). */
async function hasEtcdData(memberDataDir: string): Promise<boolean> {
  try {
    const entries = await readdir(path.join(memberDataDir, 'member'));
    return entries.length > 0;
  } catch {
    return false;
  }
}
