/**
 * The local runtime behind the ClusterRuntime seam: the spec's members as child processes on
 * loopback (cluster.ts does the work; this module answers the seam's questions from its state
 * file). Starting and stopping the whole cluster stays with `up`/`down`, which use LocalRuntime.
 */
import type { Spec } from '../../config/spec.js';
import { InputError, StewardError } from '../../errors.js';
import { resolveEtcd, type EtcdBinaries } from '../etcd-binaries.js';
import type {
  ClusterRuntime,
  MemberBootstrap,
  MemberDataLocation,
  MemberStopResult,
  MemberVersion,
  RuntimeMember,
} from '../runtime.js';
import type { MembershipHost } from '../membership-host.js';
import { LocalRuntime } from './cluster.js';
import { LocalMembershipHost } from './membership.js';
import { clientUrl, memberPaths, peerUrl } from './member-process.js';
import { memberOf } from './state.js';

/** How long a member changed to another binary is watched for an exit at start-up. */
const EARLY_EXIT_MS = 2_500;

/** The ClusterRuntime of a `runtime: local` spec. */
export class LocalClusterRuntime implements ClusterRuntime {
  readonly kind = 'local' as const;
  readonly spec: Spec;
  /** The process-level runtime (up, down, restore and the drills use it directly). */
  readonly local: LocalRuntime;
  private readonly binaries: EtcdBinaries | undefined;

  /** `binaries` may be left out when nothing is started (status, backup, defrag, member remove). */
  constructor(spec: Spec, binaries?: EtcdBinaries) {
    this.spec = spec;
    this.binaries = binaries;
    this.local = new LocalRuntime(spec, binaries);
  }

  get recordsDir(): string {
    return this.spec.dataDir;
  }

  async members(): Promise<RuntimeMember[]> {
    const state = await this.local.state();
    if (!state) {
      throw new InputError(`no local cluster in ${this.spec.dataDir} yet`, {
        hint: 'start it with `etcd-steward up` (or `npm start`)',
      });
    }
    return state.members.map((m) => ({ name: m.name, endpoint: clientUrl(state, m) }));
  }

  async startMember(name: string): Promise<void> {
    await this.local.startMember(name);
    this.local.detach(); // the member outlives this command
  }

  async stopMember(name: string, options: { graceMs?: number } = {}): Promise<MemberStopResult> {
    const [result] = await this.local.stop(options.graceMs, [name]);
    return result ?? { name, outcome: 'not-running' };
  }

  async memberData(name: string): Promise<MemberDataLocation> {
    memberOf(await this.local.requireState(), name);
    return { kind: 'dir', path: memberPaths(this.spec.dataDir, name).dataDir };
  }

  async memberBootstrap(name: string): Promise<MemberBootstrap> {
    const state = await this.local.requireState();
    const member = memberOf(state, name);
    return {
      name,
      dataDir: memberPaths(this.spec.dataDir, name).dataDir,
      initialCluster: state.members.map((m) => `${m.name}=${peerUrl(state, m)}`).join(','),
      initialClusterToken: state.token,
      initialAdvertisePeerUrls: peerUrl(state, member),
    };
  }

  /**
   * Stops the member, records the new binaries for it, and starts it again on its data. A member
   * that exits within the first seconds (a binary that refuses its flags or its data) fails the
   * call with its last log lines; the member then stays recorded on the new binaries, stopped.
   */
  async changeMemberVersion(name: string, version: MemberVersion): Promise<void> {
    const binaries = await resolveEtcd(version.line, version.bin);
    await this.stopMember(name);
    await this.local.setMemberBinaries(name, binaries);
    const started = await this.local.startMember(name);
    this.local.detach(); // the member outlives this command
    const exited = await Promise.race([
      started.firstExit,
      // Not unref'd: the member is detached, so this timer is what keeps the process waiting.
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), EARLY_EXIT_MS)),
    ]);
    if (exited) {
      const lines = await this.local.lastLogLines(name, 3);
      throw new StewardError(
        `member ${name} exited at once on etcd ${binaries.version} (${exited.signal ?? `code ${String(exited.code)}`}): ${lines.join(' | ')}`,
        { hint: `its log: ${memberPaths(this.spec.dataDir, name).logFile}` },
      );
    }
  }

  /** The members' records, processes and data dirs under the spec's dataDir. */
  membership(): MembershipHost {
    return new LocalMembershipHost(this.spec, this.binaries);
  }

  /** Nothing to close: members outlive the command (`down` stops them). */
  async close(): Promise<void> {}
}
