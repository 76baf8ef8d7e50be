/**
 * Scaling on Kubernetes, one member per `apply`: the StatefulSet's replicas move toward the
 * spec's `members:` by one at a time. Growing raises replicas by one and leaves the join to the new
 * pod's init step (learner first, promoted by its sidecar); the next step waits until every member
 * votes. Shrinking removes the highest-numbered member from etcd first (through `member remove`'s
 * steps: quorum checked, leadership handed away), then lowers replicas. The PodDisruptionBudget
 * follows the voting members the cluster has after the step: maxUnavailable = voters − quorum.
 */
import { StewardError } from '../../errors.js';
import { podHost } from './bootstrap.js';
import { quorumOf } from './plan.js';
import { removeMember } from './remove.js';
import type { MembershipOptions } from './steps.js';
import type { Survey } from './survey.js';

/** What one apply does to the member count, and the budget that goes with it. */
export interface KubeScalePlan {
  /** The StatefulSet's replicas after this step. */
  readonly replicas: number;
  /** The PodDisruptionBudget's maxUnavailable: voting members after this step − their quorum. */
  readonly maxUnavailable: number;
  /** Voting members after this step (undefined when the cluster was not read). */
  readonly voters: number | undefined;
  /** The member removed from etcd before replicas are lowered. */
  readonly remove: string | undefined;
  /** A sentence for the user (empty when nothing changes). */
  readonly note: string;
}

/** The budget of `voters` voting members: how many may be down at once and quorum kept. */
export function disruptionBudget(voters: number): number {
  return Math.max(0, voters - quorumOf(voters));
}

/**
 * The next single step from `liveReplicas` toward `target`, given the cluster as surveyed (members
 * are `memberName(ordinal)`). No live StatefulSet: the spec's size, as created.
 */
export function planKubeScale(input: {
  readonly liveReplicas: number | undefined;
  readonly target: number;
  readonly survey: Survey | undefined;
  readonly memberName: (ordinal: number) => string;
}): KubeScalePlan {
  const { liveReplicas, target, survey } = input;
  if (liveReplicas === undefined || (liveReplicas === target && !survey)) {
    const size = liveReplicas ?? target;
    return {
      replicas: size,
      maxUnavailable: disruptionBudget(size),
      voters: undefined,
      remove: undefined,
      note: '',
    };
  }
  if (!survey) {
    throw new StewardError(
      `the spec asks for ${target} members and the StatefulSet has ${liveReplicas}, and no member of the cluster answered`,
      {
        hint: 'scaling changes etcd membership one member at a time and needs the cluster: run apply where the members are reachable (in the cluster, or pass --endpoints)',
      },
    );
  }
  const voters = survey.members.filter((m) => !m.isLearner);
  const learners = survey.members.filter((m) => m.isLearner);
  const same = {
    replicas: liveReplicas,
    maxUnavailable: disruptionBudget(voters.length),
    voters: voters.length,
    remove: undefined,
  };
  if (target > liveReplicas) {
    if (learners.length > 0 || survey.members.length < liveReplicas)
      return {
        ...same,
        note: `scaling ${liveReplicas} → ${target} waits: ${learners.length > 0 ? `${learners.map((m) => m.name || m.id).join(', ')} is still a learner` : `${liveReplicas - survey.members.length} pod(s) have not joined yet`}; apply again once every member votes`,
      };
    const next = input.memberName(liveReplicas);
    return {
      ...same,
      replicas: liveReplicas + 1,
      note: `scaling ${liveReplicas} → ${target}: replicas ${liveReplicas + 1}; pod ${next} joins as a learner and is promoted once caught up${liveReplicas + 1 < target ? '; apply again then for the next' : ''}`,
    };
  }
  if (target < liveReplicas) {
    const last = input.memberName(liveReplicas - 1);
    const inCluster = survey.members.find((m) => m.name === last);
    const after = voters.filter((m) => m.name !== last).length;
    return {
      replicas: liveReplicas - 1,
      maxUnavailable: disruptionBudget(after),
      voters: after,
      remove: inCluster ? last : undefined,
      note: `scaling ${liveReplicas} → ${target}: ${inCluster ? `removed ${last} from etcd, then ` : ''}replicas ${liveReplicas - 1}${liveReplicas - 1 > target ? '; apply again for the next' : ''}`,
    };
  }
  return { ...same, note: '' };
}

/** Carries out the etcd half of a step: removes `plan.remove` through `member remove`'s steps. */
export async function removeForScale(
  plan: KubeScalePlan,
  options: Omit<MembershipOptions, 'host'> & { readonly endpoints: readonly string[] },
): Promise<void> {
  if (plan.remove === undefined) return;
  await removeMember({ ...options, host: podHost(options.endpoints), target: plan.remove });
}
