/**
 * `member replace NAME`: a member whose data is lost or damaged comes back under the same name
 * and ports — its old id removed, its data dir moved aside (never deleted), added again as a
 * learner, started with initial-cluster-state existing, promoted once caught up. A note beside
 * the member keeps the old id while the replace runs, so a rerun tells the old member from the
 * new one; every other decision is taken from the cluster as it is at that step.
 */
import { InputError, StewardError } from '../../errors.js';
import { checkRemoval, chooseNewLeader, labelOf } from './plan.js';
import {
  StepRunner,
  joinSteps,
  moveLeadership,
  removeThroughLeader,
  survey,
  surveyWithLeader,
  type MembershipOptions,
  type MembershipReport,
} from './steps.js';
import { isHealthy, memberAtPeerUrl, type Survey } from './survey.js';

/** The steps of `member replace`, in order. */
export const REPLACE_STEPS = [
  'note',
  'move-leader',
  'stop',
  'remove-old',
  'move-data-aside',
  'add-learner',
  'start',
  'promote',
  'wait-healthy',
  'clear-note',
] as const;

export interface ReplaceOptions extends MembershipOptions {
  readonly name: string;
  /** Replace although the member is healthy (its data is moved aside and resynced from the leader). */
  readonly force?: boolean | undefined;
}

/** Replaces one member; a rerun after a crash between any two steps finishes the job. */
export async function replaceMember(options: ReplaceOptions): Promise<MembershipReport> {
  const { host, name } = options;
  const member = (await host.members()).find((m) => m.name === name);
  if (!member) {
    throw new InputError(`no member named '${name}' here`, {
      hint: '`etcd-steward member list` shows the names; `member add NAME` adds a new member',
    });
  }
  const runner = new StepRunner(options);
  let note = await host.readReplaceNote(name);

  await runner.step('note', async () => {
    if (note) {
      return {
        done: false,
        detail: `continuing the replace begun at ${note.begunAt} (old id ${note.oldId ?? 'none'})`,
      };
    }
    const current = await surveyWithLeader(options);
    const old = memberAtPeerUrl(current, member.peerUrl);
    const data = await host.dataDir(name);
    if (old && isHealthy(old) && data.state === 'present' && !options.force) {
      throw new StewardError(`member ${labelOf(old)} is healthy and has its data; refusing to replace it`, {
        hint: 'replace is for a member whose data is lost or damaged; --force replaces it anyway (its data is moved aside and it resyncs from the leader)',
      });
    }
    if (old && !old.isLearner) {
      const check = checkRemoval(current, old.id);
      if (!check.ok) {
        throw new StewardError(`cannot replace ${name}: ${check.reason}`, {
          hint: 'a replace needs the other voting members to keep quorum; bring them back first, or restore the cluster from a backup',
        });
      }
    }
    note = { name, oldId: old?.id, begunAt: new Date().toISOString() };
    await host.writeReplaceNote(note);
    return { done: true, detail: `noted old id ${old?.id ?? 'none'} (data dir ${data.state})` };
  });
  const oldId = note?.oldId;
  /** The member now at the peer URL when it is not the old one: the replacement was added. */
  const replacement = (current: Survey) => {
    const there = memberAtPeerUrl(current, member.peerUrl);
    return there && there.id !== oldId ? there : undefined;
  };
  const old = (current: Survey) => (oldId ? current.members.find((m) => m.id === oldId) : undefined);

  await runner.step('move-leader', async () => {
    const current = await surveyWithLeader(options);
    const was = old(current);
    if (!was || current.leaderId !== was.id)
      return { done: false, detail: `the old ${name} is not the leader` };
    const next = chooseNewLeader(current, was.id);
    if (!next)
      throw new StewardError(`no other healthy voting member can take over leadership from ${labelOf(was)}`);
    await moveLeadership(options, current, next.id);
    return { done: true, detail: `moved leadership to ${labelOf(next)}` };
  });

  await runner.step('stop', async () => {
    const now = replacement(await survey(options));
    if (now) return { done: false, detail: `the replacement ${now.id} is in the cluster` };
    const outcome = await host.stop(name);
    return outcome === 'not-running'
      ? { done: false, detail: `${name} was not running` }
      : { done: true, detail: `${name} ${outcome}` };
  });

  await runner.step('remove-old', async () => {
    const current = await surveyWithLeader(options);
    const was = old(current);
    if (!was) return { done: false, detail: `the old id ${oldId ?? '(none)'} is not in the cluster` };
    await removeThroughLeader(options, was.id, `old ${labelOf(was)}`);
    return { done: true, detail: `removed old id ${was.id}` };
  });

  await runner.step('move-data-aside', async () => {
    const now = replacement(await survey(options));
    if (now) return { done: false, detail: `the replacement ${now.id} owns the data dir` };
    const moved = await host.moveDataAside(name, 'replaced');
    return moved
      ? { done: true, detail: `moved the old data to ${moved}` }
      : { done: false, detail: 'no data dir to move' };
  });

  const id = await joinSteps(options, runner, member);

  await runner.step('clear-note', async () => {
    await host.clearReplaceNote(name);
    return { done: true, detail: `${name} replaced: new id ${id}` };
  });
  return { operation: 'replace', member: name, id, steps: runner.records };
}
