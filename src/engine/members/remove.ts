/**
 * `member remove NAME|ID`: refuses to lose quorum or the last voter (unless forced), hands
 * leadership away first when the member leads, removes it, stops its process and forgets it.
 * Its folder (data and log) stays where it was.
 */
import { InputError, StewardError } from '../../errors.js';
import type { HostedMember } from '../../runtime/membership-host.js';
import { checkRemoval, chooseNewLeader, labelOf } from './plan.js';
import {
  StepRunner,
  moveLeadership,
  removeThroughLeader,
  survey,
  surveyWithLeader,
  type MembershipOptions,
  type MembershipReport,
} from './steps.js';
import { sameUrl, type Survey, type SurveyedMember } from './survey.js';

/** The steps of `member remove`, in order. */
export const REMOVE_STEPS = ['check', 'move-leader', 'remove', 'stop', 'forget'] as const;

export interface RemoveOptions extends MembershipOptions {
  /** A member name or hex id. */
  readonly target: string;
  /** Remove although quorum would be lost (the error without it says what happens). */
  readonly force?: boolean | undefined;
}

/** Removes one member; a rerun after a crash finishes the job. */
export async function removeMember(options: RemoveOptions): Promise<MembershipReport> {
  const { host } = options;
  const hostedAll = await host.members();
  const first = await survey(options);
  const inCluster = findMember(first, hostedAll, options.target);
  const hosted =
    hostedAll.find((h) => h.name === options.target) ??
    (inCluster ? hostedAll.find((h) => inCluster.peerUrls.some((u) => sameUrl(u, h.peerUrl))) : undefined);
  if (!inCluster && !hosted) {
    const names = first.members.map(labelOf).join(', ');
    throw new InputError(`no member named or with id '${options.target}'`, {
      hint: `the members are: ${names || 'none'}; \`etcd-steward member list\` shows them`,
    });
  }
  const id = inCluster?.id;
  const label = inCluster ? labelOf(inCluster) : options.target;
  const present = (current: Survey) => (id ? current.members.find((m) => m.id === id) : undefined);
  const runner = new StepRunner(options);

  await runner.step('check', async () => {
    const current = await survey(options);
    const member = present(current);
    if (!member) return { done: false, detail: `${label} is not in the cluster` };
    const check = checkRemoval(current, member.id);
    if (check.ok) return { done: true, detail: `removing ${label} keeps quorum` };
    if (!options.force) {
      throw new StewardError(check.reason, {
        hint: `--force removes it anyway; ${check.consequence}`,
      });
    }
    return { done: true, detail: `forced: ${check.reason}; ${check.consequence}` };
  });

  await runner.step('move-leader', async () => {
    const current = await surveyWithLeader(options);
    const member = present(current);
    if (!member || current.leaderId !== member.id)
      return { done: false, detail: `${label} is not the leader` };
    const next = chooseNewLeader(current, member.id);
    if (!next)
      return {
        done: false,
        detail: 'no other healthy voting member to take over; etcd elects a leader after the removal',
      };
    await moveLeadership(options, current, next.id);
    return { done: true, detail: `moved leadership from ${label} to ${labelOf(next)}` };
  });

  await runner.step('remove', async () => {
    const current = await surveyWithLeader(options);
    const member = present(current);
    if (!member) return { done: false, detail: `${label} is not in the cluster` };
    await removeThroughLeader(options, member.id, label);
    return { done: true, detail: `removed ${label} from the cluster` };
  });

  await runner.step('stop', async () => {
    if (!hosted) return { done: false, detail: `${label} does not run here` };
    const outcome = await host.stop(hosted.name);
    return outcome === 'not-running'
      ? { done: false, detail: `${hosted.name} was not running` }
      : { done: true, detail: `${hosted.name} ${outcome}` };
  });

  await runner.step('forget', async () => {
    if (!hosted) return { done: false, detail: `${label} is not recorded here` };
    if (!(await host.members()).some((h) => h.name === hosted.name))
      return { done: false, detail: `${hosted.name} is already forgotten` };
    const data = await host.dataDir(hosted.name);
    await host.forget(hosted.name);
    return { done: true, detail: `forgot ${hosted.name}; its data stays in ${data.path}` };
  });

  return {
    operation: 'remove',
    member: hosted?.name ?? inCluster?.name ?? options.target,
    id,
    steps: runner.records,
  };
}

/** The cluster member a user means by `target`: a name, a hex id, or a hosted member's name. */
export function findMember(
  current: Survey,
  hosted: readonly HostedMember[],
  target: string,
): SurveyedMember | undefined {
  const lower = target.toLowerCase();
  const byName = current.members.find((m) => m.name === target || m.id === lower);
  if (byName) return byName;
  const own = hosted.find((h) => h.name === target);
  return own ? current.members.find((m) => m.peerUrls.some((u) => sameUrl(u, own.peerUrl))) : undefined;
}
