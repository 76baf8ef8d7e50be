/**
 * What a runtime offers the membership engine (engine/members/): the members it hosts by name,
 * and the per-member actions a replace or an add needs — record, start to join an existing
 * cluster, stop, move data aside, forget. The local runtime implements it today
 * (runtime/local/membership.ts); Kubernetes will map the same calls onto pods and volumes.
 */

/** What a member's data dir holds: etcd data, nothing, or no folder at all. */
export type DataDirState = 'present' | 'empty' | 'missing';

/** One member as the runtime knows it: its name and its own URLs. */
export interface HostedMember {
  readonly name: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
}

/** A note kept beside a member while a replace runs, so a rerun knows which member id was the old one. */
export interface ReplaceNote {
  readonly name: string;
  /** The id (hex) the member had before the replace, or undefined when it was not in the cluster. */
  readonly oldId: string | undefined;
  readonly begunAt: string;
}

/** The per-member operations a runtime provides; each is safe to call again. */
export interface MembershipHost {
  /** Where the runtime's members are, as `name=…` rows (recorded order). */
  members(): Promise<HostedMember[]>;
  /** A name no recorded member has, for `member add` without a name. */
  nextMemberName(): Promise<string>;
  /** Records member `name` with its own ports, or returns it when it is recorded already. */
  ensureMember(name: string): Promise<HostedMember>;
  /** The member's data dir and what it holds. */
  dataDir(name: string): Promise<{ path: string; state: DataDirState }>;
  /** True while the member's process runs. */
  isRunning(name: string): Promise<boolean>;
  /**
   * Starts the member to join a running cluster (`--initial-cluster-state existing`) with
   * `initialCluster` (`name=peerURL,…`, every member of the cluster as it is now).
   */
  startJoining(name: string, initialCluster: string): Promise<void>;
  /** Stops the member's process (SIGTERM, then SIGKILL); 'not-running' when there was none. */
  stop(name: string): Promise<'stopped' | 'killed' | 'not-running'>;
  /** Renames the member's data dir to `<dir>.<why>-<timestamp>` (never deletes); undefined when there was none. */
  moveDataAside(name: string, why: 'replaced' | 'removed'): Promise<string | undefined>;
  /** Drops the member from the runtime's records (its folder and moved-aside data stay). */
  forget(name: string): Promise<void>;
  /** The member's last log lines, for errors. */
  lastLogLines(name: string): Promise<string[]>;
  readReplaceNote(name: string): Promise<ReplaceNote | undefined>;
  writeReplaceNote(note: ReplaceNote): Promise<void>;
  clearReplaceNote(name: string): Promise<void>;
}
