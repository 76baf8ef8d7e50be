/**
 * Running a membership change as named steps. Each step looks at the cluster as it is now and
 * either acts or says why it skips, so a rerun after a crash between any two steps finishes the
 * job. The joining steps (add as learner, start, promote, wait) are shared by add and replace.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberRequestError } from '../../etcd/errors.js';
import { MemberClient, type ConnectionOptions } from '../../etcd/member-client.js';
import { StewardError, describeError } from '../../errors.js';
import type { HostedMember, MembershipHost } from '../../runtime/membership-host.js';
import { caughtUp, initialCluster, labelOf } from './plan.js';
import { isHealthy, lagOf, memberAtPeerUrl, pollConnection, surveyCluster, type Survey } from './survey.js';

/** What every membership operation needs. */
export interface MembershipOptions {
  readonly host: MembershipHost;
  readonly connection: ConnectionOptions;
  /** How long a learner may take to start, catch up and turn healthy; default 120 s. */
  readonly timeoutMs?: number;
  readonly onProgress?: (message: string) => void;
  /** Called after every step (acted or skipped), with its name; a throw stops the run there. */
  readonly afterStep?: (step: string) => void | Promise<void>;
  readonly signal?: AbortSignal;
}

/** One step's outcome in a report. */
export interface StepRecord {
  readonly step: string;
  readonly outcome: 'done' | 'skipped';
  readonly detail: string;
  readonly tookMs: number;
}

/** What an add, remove or replace did, step by step. */
export interface MembershipReport {
  readonly operation: 'add' | 'remove' | 'replace';
  readonly member: string;
  /** The member's id after the operation (add, replace) or the id it had (remove). */
  readonly id: string | undefined;
  readonly steps: readonly StepRecord[];
}

/** Either the step acted (`done`) or found nothing to do (`skipped`), with a sentence saying which. */
export type StepResult = { readonly done: boolean; readonly detail: string };

/** Runs steps in order, records them, and calls the afterStep hook after each. */
export class StepRunner {
  readonly records: StepRecord[] = [];
  private readonly options: MembershipOptions;

  constructor(options: MembershipOptions) {
    this.options = options;
  }

  async step(name: string, run: () => Promise<StepResult>): Promise<void> {
    this.options.signal?.throwIfAborted();
    const started = Date.now();
    const result = await run();
    this.records.push({
      step: name,
      outcome: result.done ? 'done' : 'skipped',
      detail: result.detail,
      tookMs: Date.now() - started,
    });
    this.options.onProgress?.(`${name}: ${result.done ? '' : 'skipped, '}${result.detail}`);
    await this.options.afterStep?.(name);
  }
}

/** The cluster as it is now, found through the runtime's members. */
export async function survey(options: MembershipOptions): Promise<Survey> {
  const hosted = await options.host.members();
  return surveyCluster(
    hosted.map((h) => h.clientUrl),
    options.connection,
  );
}

/** Like `survey`, but waits up to `waitMs` (an election) for the cluster to have a leader. */
export async function surveyWithLeader(options: MembershipOptions, waitMs = 10_000): Promise<Survey> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const current = await survey(options);
    if (current.leaderId !== undefined || Date.now() > deadline) return current;
    options.signal?.throwIfAborted();
    await sleep(250);
  }
}

/** Calls `fn` on the leader (membership changes go there); fails clearly without one. */
export async function onLeader<T>(
  options: MembershipOptions,
  current: Survey,
  fn: (client: MemberClient) => Promise<T>,
): Promise<T> {
  const leader = current.members.find((m) => m.id === current.leaderId);
  const url = leader?.clientUrls[0];
  if (!leader || !url) {
    throw new StewardError('the cluster has no leader right now, so its membership cannot change', {
      hint: 'a majority of the voting members must be up; `etcd-steward member list` shows which are not',
    });
  }
  const client = new MemberClient(parseEndpoint(url), options.connection);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Hands leadership from `fromId` to `toId` (both hex); the call goes to the leader. */
export async function moveLeadership(
  options: MembershipOptions,
  current: Survey,
  toId: string,
): Promise<void> {
  await onLeader(options, current, (client) =>
    client.moveLeader(toId, Math.max(10_000, options.connection.commandTimeoutMs)),
  );
}

/**
 * A membership change sent to the leader. etcd refuses one ("unhealthy cluster") until its leader
 * has been connected to the voting members for 5 s — briefly false after a start or a leader
 * change, lasting while a voting member is down (an add needs every voter connected). That
 * refusal is retried for up to 15 s, then explained with `hint`. `change` sees the cluster as it
 * is before each try, so it can find the change already made.
 */
export async function reconfigure<T>(
  options: MembershipOptions,
  what: string,
  hint: string,
  change: (leader: MemberClient, current: Survey) => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const current = await surveyWithLeader(options);
    try {
      return await onLeader(options, current, (client) => change(client, current));
    } catch (error) {
      const refused =
        error instanceof MemberRequestError &&
        /unhealthy cluster|not enough started members/i.test(error.reason);
      if (!refused) throw error;
      if (Date.now() > deadline) {
        throw new StewardError(`etcd refused to ${what}: ${error.reason}`, { hint, cause: error });
      }
      options.onProgress?.(`etcd is not ready to ${what} yet (${error.reason}); retrying`);
      await sleep(500);
    }
  }
}

/** MemberRemove of `id` (hex) through the leader, with etcd's transient refusal retried. */
export function removeThroughLeader(options: MembershipOptions, id: string, label: string): Promise<void> {
  return reconfigure(
    options,
    `remove ${label}`,
    'etcd checks on its own that the members its leader is connected to keep quorum after the change; bring the other members back first',
    async (leader, current) => {
      if (current.members.some((m) => m.id === id)) await leader.memberRemove(id);
    },
  );
}

/** Polls `probe` every 250 ms until it returns a value or the deadline passes (then `timeoutError`). */
async function waitFor<T>(
  options: MembershipOptions,
  deadline: number,
  probe: () => Promise<T | undefined>,
  timeoutError: () => Promise<Error>,
): Promise<T> {
  for (;;) {
    options.signal?.throwIfAborted();
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw await timeoutError();
    await sleep(250);
  }
}

const IN_SYNC = /in sync with leader|learner.*not ready/i;

/**
 * The joining half of add and replace, as four steps: `add-learner` (MemberAdd as a learner at
 * the member's peer URL, unless a member there exists), `start` (with initial-cluster-state
 * existing), `promote` (once caught up; etcd's "not in sync" is retried until the deadline),
 * `wait-healthy`. Returns the member's id.
 */
export async function joinSteps(
  options: MembershipOptions,
  runner: StepRunner,
  member: HostedMember,
): Promise<string> {
  const { host } = options;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const progress = options.onProgress ?? (() => undefined);
  let id: string | undefined;

  await runner.step('add-learner', async () => {
    const current = await surveyWithLeader(options);
    const there = memberAtPeerUrl(current, member.peerUrl);
    if (there) {
      id = there.id;
      return {
        done: false,
        detail: `${member.peerUrl} is already member ${there.id}${there.isLearner ? ' (a learner)' : ''}`,
      };
    }
    id = await reconfigure(
      options,
      `add ${member.name} as a learner`,
      'etcd adds a member only while its leader is connected to every voting member; bring back or remove the unreachable one (`etcd-steward member list` shows it), then run the command again',
      async (leader, now) =>
        memberAtPeerUrl(now, member.peerUrl)?.id ??
        (await leader.memberAdd([member.peerUrl], true)).member.id,
    );
    return { done: true, detail: `added ${member.name} as learner ${id} at ${member.peerUrl}` };
  });

  await runner.step('start', async () => {
    if (await host.isRunning(member.name)) return { done: false, detail: `${member.name} is running` };
    const current = await survey(options);
    const there = memberAtPeerUrl(current, member.peerUrl);
    if (!there)
      throw new StewardError(`member ${member.name} left the cluster while it was being added`, {
        hint: 'run the command again',
      });
    id = there.id;
    const cluster = initialCluster(current.members, member.peerUrl, member.name);
    await host.startJoining(member.name, cluster);
    progress(`started ${member.name}; waiting until it answers`);
    const deadline = Date.now() + timeoutMs;
    await waitFor(
      options,
      deadline,
      async () => {
        if (!(await host.isRunning(member.name))) throw await exitedError(options, member.name);
        const client = new MemberClient(parseEndpoint(member.clientUrl), pollConnection(options.connection));
        try {
          return await client.status();
        } catch {
          return undefined;
        } finally {
          client.close();
        }
      },
      async () =>
        new StewardError(
          `member ${member.name} did not answer within ${Math.round(timeoutMs / 1000)} s of starting`,
          {
            hint: `its last log lines:\n    ${(await host.lastLogLines(member.name)).join('\n    ')}`,
          },
        ),
    );
    return { done: true, detail: `started ${member.name} with initial-cluster-state existing (${cluster})` };
  });

  await runner.step('promote', async () => {
    const deadline = Date.now() + timeoutMs;
    let lastLag: number | undefined;
    let said = 0;
    return waitFor(
      options,
      deadline,
      async (): Promise<StepResult | undefined> => {
        const current = await surveyWithLeader(options);
        const there = memberAtPeerUrl(current, member.peerUrl);
        if (!there)
          throw new StewardError(`member ${member.name} is no longer in the cluster`, {
            hint: 'run the command again',
          });
        id = there.id;
        if (!there.isLearner) return { done: false, detail: `${labelOf(there)} is a voting member` };
        lastLag = lagOf(current, there);
        if (!caughtUp(current, there)) {
          if (Date.now() - said > 2_000) {
            progress(
              `waiting for learner ${member.name} to catch up (${lastLag ?? '?'} entries behind the leader)`,
            );
            said = Date.now();
          }
          return undefined;
        }
        try {
          await onLeader(options, current, (client) => client.memberPromote(there.id));
        } catch (error) {
          if (error instanceof MemberRequestError && IN_SYNC.test(error.reason)) return undefined;
          throw error;
        }
        return { done: true, detail: `promoted ${member.name} (${there.id}) to a voting member` };
      },
      () =>
        Promise.resolve(
          new StewardError(
            `learner ${member.name} did not catch up within ${Math.round(timeoutMs / 1000)} s (${lastLag ?? '?'} entries behind)`,
            {
              hint: 'it keeps catching up on its own; run the command again to promote it once it has',
            },
          ),
        ),
    );
  });

  await runner.step('wait-healthy', async () => {
    const deadline = Date.now() + timeoutMs;
    let why = 'no answer';
    return waitFor(
      options,
      deadline,
      async (): Promise<StepResult | undefined> => {
        const current = await survey(options);
        const there = memberAtPeerUrl(current, member.peerUrl);
        if (there && isHealthy(there) && !there.isLearner)
          return { done: true, detail: `${labelOf(there)} is healthy` };
        why = there?.status?.health.error ?? (there ? 'no answer' : 'not a member');
        return undefined;
      },
      async () =>
        new StewardError(
          `member ${member.name} did not turn healthy within ${Math.round(timeoutMs / 1000)} s: ${why}`,
          {
            hint: `its last log lines:\n    ${(await host.lastLogLines(member.name)).join('\n    ')}`,
          },
        ),
    );
  });
  return id as string;
}

async function exitedError(options: MembershipOptions, name: string): Promise<StewardError> {
  const lines = await options.host.lastLogLines(name);
  return new StewardError(
    `member ${name} exited while joining; its last log lines:\n    ${lines.join('\n    ')}`,
    {
      hint: 'read the lines above; the full log is etcd.log in the member folder',
    },
  );
}

/** A short reason for a failed call, for step details. */
export function reasonOf(error: unknown): string {
  return error instanceof MemberRequestError ? error.reason : describeError(error);
}
