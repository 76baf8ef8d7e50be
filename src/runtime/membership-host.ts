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

/**
 * The note `recover` (quorum loss) keeps beside the cluster while it runs: the source it chose
 * and what it has done so far, so a rerun after a crash continues with the same choice. The
 * engine (engine/members/recover.ts) owns its fields; the host only stores it.
 */
export interface RecoverNote {
  readonly begunAt: string;
  /** `member` (force-new-cluster on a survivor) or `backup` (restore from backup + change log). */
  readonly source: 'member' | 'backup';
  /** The survivor's name, or the backup's name. */
  readonly from: string;
  /** Member ids (hex) of the lost cluster other than the survivor's: zombies when they reappear. */
  readonly oldIds: readonly string[];
  /** Set once the survivor has run with --force-new-cluster, or the restore has finished. */
  readonly rebuilt?: boolean;
  /** The change log's last revision a backup restore replays to (backup source only). */
  readonly toRevision?: number;
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
  /**
   * Starts the member on its own data with `--force-new-cluster` (quorum loss: it becomes a
   * one-member cluster keeping its data); the caller stops it and starts it normally afterwards.
   */
  startForceNewCluster(name: string): Promise<void>;
  /** Starts a stopped member on its own data, as it was (no membership flags matter then). */
  startOnData(name: string): Promise<void>;
  readRecoverNote(): Promise<RecoverNote | undefined>;
  writeRecoverNote(note: RecoverNote): Promise<void>;
  clearRecoverNote(): Promise<void>;
}
