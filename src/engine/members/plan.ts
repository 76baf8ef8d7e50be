/**
 * The pure half of membership changes: whether removing a member keeps quorum, which member takes
 * over leadership, the `--initial-cluster` a joining member needs, and when a learner has caught
 * up. No I/O: inputs are surveys (survey.ts), outputs are decisions.
 */
import { isHealthy, lagOf, type Survey, type SurveyedMember } from './survey.js';

/** A learner is promoted once it is at most this many raft entries behind the leader. */
export const PROMOTE_MAX_LAG = 100;

/** The smallest number of voting members that still makes a quorum of `voters`. */
export function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** What removing one member does to quorum: allowed, or why not (with the numbers). */
export type RemovalCheck =
  { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly consequence: string };

/**
 * Removing a learner is always safe. Removing a voter must leave at least one voter, and enough
 * healthy voters among those left to make their quorum; otherwise the cluster stops serving.
 */
export function checkRemoval(survey: Survey, id: string): RemovalCheck {
  const target = survey.members.find((m) => m.id === id);
  if (!target || target.isLearner) return { ok: true };
  const left = survey.members.filter((m) => !m.isLearner && m.id !== id);
  const label = labelOf(target);
  if (left.length === 0) {
    return {
      ok: false,
      reason: `${label} is the last voting member`,
      consequence: 'a cluster without a voting member cannot serve anything again',
    };
  }
  const healthy = left.filter(isHealthy).length;
  const needed = quorumOf(left.length);
  if (healthy < needed) {
    return {
      ok: false,
      reason: `removing ${label} would lose quorum: ${left.length} voting member${left.length === 1 ? '' : 's'} would be left, ${healthy} of them healthy, and ${left.length} voting members need ${needed} healthy for quorum`,
      consequence: `the cluster would stop accepting reads and writes until ${needed - healthy} more of the remaining voting members are back`,
    };
  }
  return { ok: true };
}

/** The healthy voting member (not `excludeId`) least behind the leader: where leadership goes. */
export function chooseNewLeader(survey: Survey, excludeId: string): SurveyedMember | undefined {
  const candidates = survey.members.filter((m) => !m.isLearner && m.id !== excludeId && isHealthy(m));
  return candidates.sort((a, b) => (lagOf(survey, a) ?? Infinity) - (lagOf(survey, b) ?? Infinity))[0];
}

/**
 * `--initial-cluster` for a member joining with `existing` state: every member's peer URLs under
 * its name, `selfName` for the member at `selfPeerUrl`, and the id for members that never
 * started (etcd matches members by URL, but one name per member keeps their URLs apart).
 */
export function initialCluster(
  members: readonly { id: string; name: string; peerUrls: readonly string[] }[],
  selfPeerUrl: string,
  selfName: string,
): string {
  return members
    .flatMap((m) => {
      const self = m.peerUrls.some((u) => u.replace(/\/+$/, '') === selfPeerUrl.replace(/\/+$/, ''));
      const name = self ? selfName : m.name || `unstarted-${m.id}`;
      return m.peerUrls.map((u) => `${name}=${u}`);
    })
    .join(',');
}

/** True when a learner is close enough to the leader to be promoted. */
export function caughtUp(survey: Survey, learner: SurveyedMember, maxLag = PROMOTE_MAX_LAG): boolean {
  const lag = lagOf(survey, learner);
  return lag !== undefined && lag <= maxLag;
}

/** `name (id)`, or the id alone for a member that never started. */
export function labelOf(member: { id: string; name: string }): string {
  return member.name ? `${member.name} (${member.id})` : member.id;
}
