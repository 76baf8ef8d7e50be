/**
 * Where members run: one small interface, one module per runtime (local/runtime.ts, external.ts,
 * kubernetes/runtime.ts), and open.ts picks one from the spec's `runtime`, as storage/ does for
 * backup locations. Commands ask the runtime for endpoints and member names instead of comparing
 * `spec.runtime` themselves; an operation a runtime cannot do throws RuntimeUnsupportedError,
 * which names the runtime and what to do instead.
 */
import type { EtcdLine } from '../config/etcd-lines.js';
import type { Spec } from '../config/spec.js';
import { InputError } from '../errors.js';
import type { MembershipHost } from './membership-host.js';

/** The runtimes a spec can name. */
export type RuntimeKind = Spec['runtime'];

/**
 * One member as the runtime knows it: its name (undefined when only etcd knows it: external)
 * and the client URL that reaches it from here.
 */
export interface RuntimeMember {
  readonly name: string | undefined;
  readonly endpoint: string;
}

/** Where a member's data lives: a folder on this machine, or a volume claim on Kubernetes. */
export type MemberDataLocation =
  | { readonly kind: 'dir'; readonly path: string }
  | { readonly kind: 'volume'; readonly namespace: string; readonly claim: string; readonly path: string };

/**
 * How a member built from a snapshot (restore) or replaced is brought up: the identity that
 * `etcdutl snapshot restore` writes into its data and that the member then starts with.
 */
export interface MemberBootstrap {
  readonly name: string;
  /** The data dir as the member sees it (a path on this machine, or inside the pod). */
  readonly dataDir: string;
  readonly initialCluster: string;
  readonly initialClusterToken: string;
  readonly initialAdvertisePeerUrls: string;
}

/** What a member's binary (local) or image (Kubernetes) changes to. */
export interface MemberVersion {
  readonly line: EtcdLine;
  /** A folder with etcd, etcdctl and etcdutl (local), as `--etcd-bin`. */
  readonly bin?: string | undefined;
}

/** The result of stopping one member. */
export interface MemberStopResult {
  readonly name: string;
  readonly outcome: 'stopped' | 'killed' | 'not-running';
}

export interface RuntimeCallOptions {
  readonly signal?: AbortSignal | undefined;
}

/**
 * One cluster where it runs. `members` may open connections (port-forwards from a laptop to
 * Kubernetes pods); `close` ends them, and is safe to call more than once.
 */
export interface ClusterRuntime {
  readonly kind: RuntimeKind;
  readonly spec: Spec;
  /**
   * A folder on this machine beside the cluster's data where records about it (defrag history)
   * belong; undefined when the runtime has none (records then go under the cache dir by name).
   */
  readonly recordsDir: string | undefined;
  /** Every member's name and a client URL that reaches it from this process. */
  members(options?: RuntimeCallOptions): Promise<RuntimeMember[]>;
  /** Starts one stopped member on its existing data. */
  startMember(name: string, options?: RuntimeCallOptions): Promise<void>;
  /** Stops one member (SIGTERM, then SIGKILL after `graceMs`, on the local runtime). */
  stopMember(name: string, options?: RuntimeCallOptions & { graceMs?: number }): Promise<MemberStopResult>;
  /** Where the member's data lives. */
  memberData(name: string): Promise<MemberDataLocation>;
  /** How a restored or replaced member of this name is brought up (see MemberBootstrap). */
  memberBootstrap(name: string): Promise<MemberBootstrap>;
  /** Restarts one member on another etcd binary (local) or image (Kubernetes), its data kept. */
  changeMemberVersion(name: string, version: MemberVersion, options?: RuntimeCallOptions): Promise<void>;
  /** Ends what `members` opened (port-forwards); the members themselves keep running. */
  close(): Promise<void>;
  /**
   * The per-member actions membership changes (member add/remove/replace, scaling) need; the
   * engine (engine/members/) decides when. Throws RuntimeUnsupportedError where the runtime
   * cannot change membership itself (external; Kubernetes until its init step exists).
   */
  membership(): MembershipHost;
}

/** An operation the spec's runtime cannot do: names the runtime, the operation and the way instead. */
export class RuntimeUnsupportedError extends InputError {
  readonly runtime: RuntimeKind;
  readonly operation: string;
  constructor(runtime: RuntimeKind, operation: string, instead: string) {
    super(`the ${runtime} runtime cannot ${operation}`, { hint: instead });
    this.runtime = runtime;
    this.operation = operation;
  }
}

/** The endpoint → member name map status, backup and defrag print names with; undefined when names are unknown. */
export function namesByEndpoint(members: readonly RuntimeMember[]): Map<string, string> | undefined {
  const named = members.filter((m): m is RuntimeMember & { name: string } => m.name !== undefined);
  if (named.length < members.length) return undefined;
  return new Map(named.map((m) => [m.endpoint, m.name]));
}
