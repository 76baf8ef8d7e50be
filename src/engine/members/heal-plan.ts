/**
 * The pure half of self-healing: from a survey of the cluster and what the runtime says about
 * each hosted member (running, data dir, offline check), which member needs what — replace,
 * restart, promote or nothing — and whether the action is blocked because it would need a quorum
 * that is not there. No I/O and no clock: the agent keeps the "since when" and the `after` wait.
 */
import type { DataDirState } from '../../runtime/membership-host.js';
import { caughtUp, checkRemoval, labelOf, quorumOf } from './plan.js';
import { isHealthy, memberAtPeerUrl, type Survey } from './survey.js';

/** What the agent may do to one member. */
export type HealAction = 'replace' | 'restart' | 'promote';

/** A hosted member as the runtime sees it, with the offline check of its data when it ran. */
export interface HostedMemberFacts {
  readonly name: string;
  readonly peerUrl: string;
  readonly running: boolean;
  readonly dataDir: DataDirState;
  /** Problems the snapshot reader found in DATA/member/snap/db; undefined when not checked. */
  readonly dataProblems: readonly string[] | undefined;
  /** A replace of this member was begun and did not finish (its note is there). */
  readonly replaceUnfinished: boolean;
}

/** One member that needs healing: what is wrong, what would fix it, and whether it may be done now. */
export interface HealFinding {
  readonly member: string;
  readonly id: string | undefined;
  /** What is wrong, in a few words ("unreachable, not running, data dir missing"). */
  readonly condition: string;
  readonly action: HealAction | undefined;
  /** Why this action (or why none). */
  readonly reason: string;
  /** Set when the action would need a quorum that is not there; the agent only reports it then. */
  readonly blocked: string | undefined;
}

/** The data dir's verdict: usable, or why not. */
export function dataVerdict(facts: HostedMemberFacts): { usable: boolean; why: string } {
  if (facts.dataDir === 'missing') return { usable: false, why: 'data dir missing' };
  if (facts.dataDir === 'empty') return { usable: false, why: 'data dir empty' };
  if (facts.dataProblems && facts.dataProblems.length > 0)
    return { usable: false, why: `data fails the offline check: ${facts.dataProblems[0] ?? ''}` };
  return { usable: true, why: facts.dataProblems ? 'data intact (offline check passed)' : 'data present' };
}

/**
 * Every hosted member that needs something, in the order the runtime lists them. A member cut
 * off or unreachable while its process runs and its data is intact gets no action: a network
 * problem heals itself, and replacing it would only resync data it already has.
 */
export function planHealing(survey: Survey, hosted: readonly HostedMemberFacts[]): HealFinding[] {
  const findings: HealFinding[] = [];
  const voters = survey.members.filter((m) => !m.isLearner);
  const healthyVoters = voters.filter(isHealthy).length;
  const quorumLost = survey.leaderId === undefined || healthyVoters < quorumOf(voters.length);
  const noQuorum = `would need quorum: ${healthyVoters} of ${voters.length} voting members are healthy and ${quorumOf(voters.length)} are needed${survey.leaderId === undefined ? ' (no leader)' : ''}; \`etcd-steward recover\` is for that`;
  for (const facts of hosted) {
    const member = memberAtPeerUrl(survey, facts.peerUrl);
    const data = dataVerdict(facts);
    if (facts.replaceUnfinished) {
      findings.push({
        member: facts.name,
        id: member?.id,
        condition: 'a replace was begun and did not finish',
        action: 'replace',
        reason: 'finish the replace (every step is safe to run again)',
        blocked: quorumLost ? noQuorum : undefined,
      });
      continue;
    }
    if (!member) continue; // not a member: scaling's business (`up`), not healing's
    if (member.isLearner) {
      if (isHealthy(member) && caughtUp(survey, member))
        findings.push({
          member: facts.name,
          id: member.id,
          condition: 'learner caught up with the leader',
          action: 'promote',
          reason: 'a learner that has caught up becomes a voting member',
          blocked: quorumLost ? noQuorum : undefined,
        });
      continue;
    }
    if (isHealthy(member)) continue;
    const how = member.status ? (member.status.health.error ?? 'not healthy') : 'unreachable';
    const condition = `${how}, ${facts.running ? 'running' : 'not running'}, ${data.why}`;
    if (!data.usable) {
      const check = checkRemoval(survey, member.id);
      findings.push({
        member: facts.name,
        id: member.id,
        condition,
        action: 'replace',
        reason: `its data is lost (${data.why}): replace ${labelOf(member)} and resync it from the leader`,
        blocked: quorumLost ? noQuorum : check.ok ? undefined : `would need quorum: ${check.reason}`,
      });
    } else if (!facts.running) {
      findings.push({
        member: facts.name,
        id: member.id,
        condition,
        action: 'restart',
        reason: 'stopped with intact data: start it again (it catches up from the log; nothing to resync)',
        blocked: undefined,
      });
    } else {
      findings.push({
        member: facts.name,
        id: member.id,
        condition,
        action: undefined,
        reason:
          'running with intact data: a network or load problem; replacing it would not help, so it is only reported',
        blocked: undefined,
      });
    }
  }
  return findings;
}
