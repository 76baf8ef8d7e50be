/**
 * `member add [NAME]`: a new member, always through a learner — recorded with its own ports,
 * added as a learner, started with initial-cluster-state existing, promoted once caught up.
 */
import type { MembershipHost } from '../../runtime/membership-host.js';
import { StepRunner, joinSteps, survey, type MembershipOptions, type MembershipReport } from './steps.js';
import { memberAtPeerUrl } from './survey.js';

/** The steps of `member add`, in order (the afterStep hook sees these names). */
export const ADD_STEPS = [
  'record',
  'move-stale-data',
  'add-learner',
  'start',
  'promote',
  'wait-healthy',
] as const;

export interface AddOptions extends MembershipOptions {
  /** The new member's name; default: an unfinished add's member, else the next free `<cluster>-N`. */
  readonly name?: string | undefined;
}

/** Adds one member as a learner and promotes it; a rerun continues where a crash left off. */
export async function addMember(options: AddOptions): Promise<MembershipReport> {
  const { host } = options;
  const name = options.name ?? (await unfinishedAdd(options)) ?? (await host.nextMemberName());
  const runner = new StepRunner(options);
  let recorded = (await host.members()).find((m) => m.name === name);
  await runner.step('record', async () => {
    if (recorded)
      return {
        done: false,
        detail: `${name} is recorded (peer ${recorded.peerUrl}, client ${recorded.clientUrl})`,
      };
    recorded = await host.ensureMember(name);
    return {
      done: true,
      detail: `recorded ${name} with peer ${recorded.peerUrl} and client ${recorded.clientUrl}`,
    };
  });
  const member = recorded ?? (await host.ensureMember(name));
  await runner.step('move-stale-data', async () => {
    const there = memberAtPeerUrl(await survey(options), member.peerUrl);
    if (there) return { done: false, detail: `${member.peerUrl} is already member ${there.id}` };
    const data = await host.dataDir(name);
    if (data.state === 'missing') return { done: false, detail: `no data in ${data.path}` };
    if (await host.isRunning(name)) await host.stop(name); // a process of a member the cluster does not know
    const moved = await host.moveDataAside(name, 'removed');
    return { done: true, detail: `moved earlier data of ${name} aside to ${moved ?? '?'}` };
  });
  const id = await joinSteps(options, runner, member);
  return { operation: 'add', member: name, id, steps: runner.records };
}

/** A recorded member that is a learner or not in the cluster and has no data: an add that did not finish. */
export async function unfinishedAdd(
  options: { host: MembershipHost } & MembershipOptions,
): Promise<string | undefined> {
  const current = await survey(options);
  for (const m of await options.host.members()) {
    const there = memberAtPeerUrl(current, m.peerUrl);
    if (there?.isLearner) return m.name;
    if (!there && (await options.host.dataDir(m.name)).state !== 'present') return m.name;
  }
  return undefined;
}
