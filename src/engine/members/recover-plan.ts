/**
 * The plan of `recover` as data: which source is furthest ahead (raft index among survivors,
 * revision against the backup), what each choice would lose against every other source
 * (revisions, and keys counted by merging both key spaces), and the steps that follow.
 */
import { InputError } from '../../errors.js';
import { diffKeySpaces, type KeyRecord } from '../snapshot/diff.js';
import type { LostMember, RecoverSource, RecoverSources } from './recover-sources.js';

/** What choosing one source loses against another that is further ahead. */
export interface RecoverLoss {
  /** The other source's name (a member name, or `backup`). */
  readonly against: string;
  /** Revisions the other source has beyond the chosen one (0 when it is not ahead). */
  readonly revisions: number;
  /** Live keys of the other source that the chosen one lacks, holds older, or still holds deleted. */
  readonly keys: number;
  readonly missing: number;
  readonly older: number;
  readonly resurrected: number;
}

/** One source as the plan shows it, with what choosing it would lose. */
export interface RecoverOption {
  readonly source: RecoverSource;
  readonly losses: readonly RecoverLoss[];
}

export interface RecoverPlan {
  /** The option recover goes ahead with (`--source` or the furthest ahead). */
  readonly chosen: RecoverOption;
  /** Why that one: furthest ahead, or named with --source. */
  readonly reason: string;
  readonly options: readonly RecoverOption[];
  readonly lost: readonly LostMember[];
  readonly backupProblem: string | undefined;
  /** The members the rebuilt cluster has, in the runtime's order. */
  readonly members: readonly string[];
  readonly steps: readonly string[];
}

/** Orders sources by how far they are: revision first, then raft index; a survivor wins a tie (no restore). */
function further(a: RecoverSource, b: RecoverSource): number {
  if (a.revision !== b.revision) return b.revision - a.revision;
  const ia = a.kind === 'member' ? (a.consistentIndex ?? 0) : -1;
  const ib = b.kind === 'member' ? (b.consistentIndex ?? 0) : -1;
  return ib - ia;
}

/** The source furthest ahead, or the one `--source` names (a member name or `backup`). */
export function chooseSource(
  sources: readonly RecoverSource[],
  requested: string | undefined,
  lost: readonly LostMember[] = [],
): { source: RecoverSource; reason: string } {
  const ordered = [...sources].sort(further);
  const best = ordered[0];
  if (requested !== undefined) {
    const named = sources.find((s) => s.name === requested);
    if (!named) {
      const gone = lost.find((l) => l.name === requested);
      throw new InputError(
        gone
          ? `--source ${requested}: that member is no source (${gone.problem})`
          : `--source ${requested}: no such source`,
        { hint: `the sources are ${sources.map((s) => s.name).join(', ') || 'none'}` },
      );
    }
    return {
      source: named,
      reason: named === best ? 'named with --source; it is also the furthest ahead' : 'named with --source',
    };
  }
  if (!best) {
    throw new InputError(
      'there is nothing to recover from: no member has readable data and there is no backup',
      {
        hint: "a backup in the spec's storage is the last way back (`etcd-steward backup list`); without one the data is gone",
      },
    );
  }
  return {
    source: best,
    reason:
      best.kind === 'member'
        ? `furthest ahead: revision ${best.revision}, raft index ${best.consistentIndex ?? '?'}`
        : `furthest ahead: the change log reaches revision ${best.revision}`,
  };
}

/** What `chosen` loses against `other`, counted by merging their live keys. */
export async function lossAgainst(
  chosen: RecoverSource,
  other: RecoverSource,
  records: (source: RecoverSource) => AsyncIterable<KeyRecord>,
): Promise<RecoverLoss> {
  const none = { against: other.name, revisions: 0, keys: 0, missing: 0, older: 0, resurrected: 0 };
  // One history: a source at or past the other's revision holds everything the other holds.
  if (other.revision <= chosen.revision) return none;
  const { counts } = await diffKeySpaces(records(chosen), records(other));
  const older = counts.changed + counts.rewritten;
  return {
    against: other.name,
    revisions: other.revision - chosen.revision,
    keys: counts.added + older + counts.removed,
    missing: counts.added,
    older,
    resurrected: counts.removed,
  };
}

function describeSteps(chosen: RecoverSource, members: readonly string[]): string[] {
  if (chosen.kind === 'backup') {
    return [
      'stop every member that still runs',
      `restore backup ${chosen.backup} (revision ${chosen.backupRevision}) + ${chosen.segments} change-log segments up to revision ${chosen.revision} into ${members.length} members; the old data dir is moved aside as a whole, never deleted`,
      'check that every member is healthy and that their member lists agree',
    ];
  }
  const others = members.filter((m) => m !== chosen.name);
  return [
    `stop the other members that still run (${others.join(', ')})`,
    `start ${chosen.name} once with --force-new-cluster (it keeps its data: revision ${chosen.revision}), then stop it and start it normally`,
    "remove the old cluster's member ids that reappear in its member list (etcd 3.6 can leave such zombie members)",
    ...others.map(
      (m) =>
        `${m}: move its data dir aside (never deleted), add it as a learner, start it, promote it once caught up`,
    ),
    'check that every member is healthy and that their member lists agree (same ids, no zombies)',
  ];
}

/** Builds the plan: the chosen source, every option's losses against the others, the steps. */
export async function buildRecoverPlan(
  sources: RecoverSources,
  members: readonly string[],
  requested: string | undefined,
): Promise<RecoverPlan> {
  const all: RecoverSource[] = [...sources.members, ...(sources.backup ? [sources.backup] : [])];
  const { source, reason } = chooseSource(all, requested, sources.lost);
  const options: RecoverOption[] = [];
  for (const s of all) {
    const losses: RecoverLoss[] = [];
    for (const other of all)
      if (other !== s) losses.push(await lossAgainst(s, other, (x) => sources.records(x)));
    options.push({ source: s, losses });
  }
  return {
    chosen: options.find((o) => o.source === source) as RecoverOption,
    reason,
    options,
    lost: sources.lost,
    backupProblem: sources.backupProblem,
    members,
    steps: describeSteps(source, members),
  };
}
