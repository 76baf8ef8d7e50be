/**
 * `recover`: bring a cluster back after it lost its quorum. Refuses while any member still
 * serves. Otherwise reads what is left offline (recover-sources.ts), plans (recover-plan.ts), and
 * with `yes` rebuilds a cluster of the runtime's members from the chosen source:
 * - a survivor: started once with --force-new-cluster, then normally; member ids of the old
 *   cluster that reappear (etcd 3.6 zombies) removed; every other member's data moved aside and
 *   joined again as a learner, promoted (the joining steps of `member add`/`replace`);
 * - the backup: every member stopped, restored from the backup + change log to its last revision
 *   (engine/pitr, engine/restore: the old data dir moved aside as a whole).
 * Then every member's member list must agree. A note beside the data dir keeps the choice and
 * whether the rebuild is done, so a rerun after a crash between any two steps finishes the job.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Spec } from '../../config/spec.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient, type ClusterMember } from '../../etcd/member-client.js';
import { InputError, StewardError, describeError } from '../../errors.js';
import type { EtcdBinaries } from '../../runtime/etcd-binaries.js';
import type { HostedMember, RecoverNote } from '../../runtime/membership-host.js';
import type { BackupStorage } from '../../storage/storage.js';
import { readCatalog } from '../backup/catalog.js';
import { fetchBackup } from '../backup/fetch.js';
import { restorePointInTime } from '../pitr/restore.js';
import { restoreSnapshot } from '../restore.js';
import { clusterStatus } from '../status.js';
import { quorumOf } from './plan.js';
import { buildRecoverPlan, type RecoverPlan } from './recover-plan.js';
import { findRecoverSources } from './recover-sources.js';
import {
  StepRunner,
  joinSteps,
  removeThroughLeader,
  surveyWithLeader,
  type MembershipOptions,
  type StepRecord,
  type StepResult,
} from './steps.js';
import { memberAtPeerUrl, pollConnection } from './survey.js';

export interface RecoverOptions extends MembershipOptions {
  /** The spec and binaries a restore from backup builds the members with. */
  readonly spec: Spec;
  readonly binaries: EtcdBinaries;
  /** The spec's backup storage; undefined when it has none (then survivors are the only sources). */
  readonly storage: BackupStorage | undefined;
  /** A member name or `backup`: recover from it instead of the furthest source. */
  readonly source?: string | undefined;
  /** Carry the plan out; without it, only plan. */
  readonly yes?: boolean | undefined;
}

export interface RecoverReport {
  /** The plan (undefined when a rerun continued a recover begun earlier: see `continued`). */
  readonly plan: RecoverPlan | undefined;
  /** The note of the recover this run continued. */
  readonly continued: RecoverNote | undefined;
  /** True when the steps ran (`yes`); false for a plan only. */
  readonly executed: boolean;
  readonly steps: readonly StepRecord[];
  /** The members at the end, as every member lists them (empty for a plan). */
  readonly members: readonly { readonly name: string; readonly id: string }[];
}

/** Plans, and with `yes` carries out, the recovery of a cluster that lost its quorum. */
export async function recoverCluster(options: RecoverOptions): Promise<RecoverReport> {
  const { host } = options;
  const hosted = await host.members();
  let note = await host.readRecoverNote();
  let plan: RecoverPlan | undefined;
  const continued = note;
  if (!note) {
    await refuseWhileQuorum(options, hosted);
    const sources = await findRecoverSources({
      host,
      storage: options.storage,
      signal: options.signal,
    });
    try {
      plan = await buildRecoverPlan(
        sources,
        hosted.map((m) => m.name),
        options.source,
      );
    } finally {
      await sources.close();
    }
    const withData = sources.members.length;
    if (withData >= quorumOf(hosted.length) && options.source === undefined) {
      throw new StewardError(
        `${withData} of ${hosted.length} members still have their data (${sources.members.map((m) => m.name).join(', ')}), a quorum: they only need to run`,
        {
          hint: 'start them (`etcd-steward up`); if they cannot start, name the source to recover from with --source NAME',
        },
      );
    }
    if (!options.yes) return { plan, continued: undefined, executed: false, steps: [], members: [] };
  } else if (!options.yes) {
    return { plan: undefined, continued: note, executed: false, steps: [], members: [] };
  }

  const runner = new StepRunner(options);
  await runner.step('note', async () => {
    if (note) {
      return {
        done: false,
        detail: `continuing the recover from ${note.source} ${note.from} begun at ${note.begunAt}`,
      };
    }
    const chosen = (plan as RecoverPlan).chosen.source;
    note =
      chosen.kind === 'member'
        ? {
            begunAt: new Date().toISOString(),
            source: 'member',
            from: chosen.name,
            oldIds: chosen.knownIds.filter((id) => id !== chosen.id),
          }
        : {
            begunAt: new Date().toISOString(),
            source: 'backup',
            from: chosen.backup,
            oldIds: [],
            toRevision: chosen.revision,
          };
    await host.writeRecoverNote(note);
    return {
      done: true,
      detail: `recovering from ${note.source} ${note.from} (${(plan as RecoverPlan).reason})`,
    };
  });
  const current = note as unknown as RecoverNote;
  if (current.source === 'member') await fromSurvivor(options, runner, current, hosted);
  else await fromBackup(options, runner, current, hosted);

  let members: { name: string; id: string }[] = [];
  await runner.step('check-members', async () => {
    members = await agreeingMembers(options, await host.members(), current.oldIds);
    return {
      done: true,
      detail: `${members.length} healthy voting members list the same ids (${members.map((m) => `${m.name} ${m.id}`).join(', ')}), no zombies`,
    };
  });
  await runner.step('clear-note', async () => {
    await host.clearRecoverNote();
    return { done: true, detail: 'the cluster is whole again' };
  });
  return { plan, continued, executed: true, steps: runner.records, members };
}

/** Refuses while any member serves a linearizable read: then a quorum is there. */
async function refuseWhileQuorum(options: RecoverOptions, hosted: readonly HostedMember[]): Promise<void> {
  let serving: Awaited<ReturnType<typeof clusterStatus>>['members'];
  for (let attempt = 0; ; attempt += 1) {
    const status = await clusterStatus({
      endpoints: hosted.map((m) => m.clientUrl),
      connection: pollConnection(options.connection),
    });
    serving = status.members.filter((m) => m.health.ok);
    if (serving.length > 0) break;
    // Right after a member died the others may be electing a leader and serve nothing for a
    // moment: while a majority still runs, look again before concluding the quorum is gone.
    const running = await Promise.all(hosted.map((m) => options.host.isRunning(m.name)));
    if (running.filter(Boolean).length * 2 <= hosted.length || attempt >= 5) return;
    await sleep(1000);
  }
  const names = new Map(hosted.map((m) => [m.clientUrl, m.name]));
  throw new StewardError(
    `the cluster still has a quorum: ${serving.map((m) => names.get(m.endpoint) ?? m.endpoint).join(', ')} ${serving.length === 1 ? 'serves' : 'serve'} reads and writes; recover is only for a cluster that lost its quorum`,
    {
      hint: 'for a member that lost its data, use `etcd-steward member replace NAME`; `etcd-steward member list` shows which members are down',
    },
  );
}

/** Polls `url` until it serves a linearizable read, or throws after `timeoutMs` with its log. */
async function waitServing(options: RecoverOptions, member: HostedMember, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let why = 'no answer';
  for (;;) {
    options.signal?.throwIfAborted();
    if (!(await options.host.isRunning(member.name))) {
      const lines = await options.host.lastLogLines(member.name);
      throw new StewardError(
        `member ${member.name} exited; its last log lines:\n    ${lines.join('\n    ')}`,
        {
          hint: 'read the lines above; the full log is etcd.log in the member folder; then run the command again',
        },
      );
    }
    const status = await clusterStatus({
      endpoints: [member.clientUrl],
      connection: pollConnection(options.connection),
    }).catch((error: unknown) => ({ members: [], error: describeError(error) }));
    const row = status.members[0];
    if (row?.health.ok) return;
    why = row?.health.error ?? why;
    if (Date.now() > deadline) {
      const lines = await options.host.lastLogLines(member.name);
      throw new StewardError(
        `member ${member.name} did not serve within ${Math.round(timeoutMs / 1000)} s: ${why}; its last log lines:\n    ${lines.join('\n    ')}`,
        { hint: 'run the command again; it continues from this step' },
      );
    }
    await sleep(250);
  }
}

/** Stops every member of `members` that runs; a step result naming them. */
async function stopAll(
  options: RecoverOptions,
  members: readonly HostedMember[],
  none: string,
): Promise<StepResult> {
  const stopped: string[] = [];
  for (const m of members) if ((await options.host.stop(m.name)) !== 'not-running') stopped.push(m.name);
  return stopped.length > 0
    ? { done: true, detail: `stopped ${stopped.join(', ')}` }
    : { done: false, detail: none };
}

async function fromSurvivor(
  options: RecoverOptions,
  runner: StepRunner,
  note: RecoverNote,
  hosted: readonly HostedMember[],
): Promise<void> {
  const { host } = options;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const survivor = hosted.find((m) => m.name === note.from);
  if (!survivor) {
    throw new StewardError(`the recover note names member ${note.from}, which the runtime no longer has`, {
      hint: 'remove the note (DATA_DIR.recover.json beside the data dir) and run `recover` again to plan afresh',
    });
  }
  const others = hosted.filter((m) => m !== survivor);
  let rebuilt = note.rebuilt === true;

  await runner.step('stop-others', async () =>
    rebuilt
      ? { done: false, detail: `${survivor.name} was rebuilt already; the others are rejoining` }
      : stopAll(options, others, 'no other member runs'),
  );

  await runner.step('stop-survivor', async () => {
    if (rebuilt) return { done: false, detail: `${survivor.name} was rebuilt already` };
    const outcome = await host.stop(survivor.name);
    return outcome === 'not-running'
      ? { done: false, detail: `${survivor.name} was not running` }
      : { done: true, detail: `${survivor.name} ${outcome} (it could not serve without a quorum)` };
  });

  await runner.step('force-new-cluster', async () => {
    if (rebuilt) return { done: false, detail: `${survivor.name} ran with --force-new-cluster already` };
    await host.startForceNewCluster(survivor.name);
    await waitServing(options, survivor, timeoutMs);
    await host.stop(survivor.name);
    await host.writeRecoverNote({ ...note, rebuilt: true });
    rebuilt = true;
    return {
      done: true,
      detail: `${survivor.name} ran once with --force-new-cluster: a one-member cluster on its own data`,
    };
  });

  await runner.step('restart', async () => {
    if (await host.isRunning(survivor.name)) {
      await waitServing(options, survivor, timeoutMs);
      return { done: false, detail: `${survivor.name} runs and serves` };
    }
    await host.startOnData(survivor.name);
    await waitServing(options, survivor, timeoutMs);
    return { done: true, detail: `started ${survivor.name} normally; it serves` };
  });

  await runner.step('remove-zombies', async () => {
    const current = await surveyWithLeader(options);
    const own = memberAtPeerUrl(current, survivor.peerUrl);
    const zombies = current.members.filter((m) => m.id !== own?.id && note.oldIds.includes(m.id));
    for (const z of zombies) await removeThroughLeader(options, z.id, `old member ${z.id}`);
    return zombies.length > 0
      ? { done: true, detail: `removed old member ids ${zombies.map((z) => z.id).join(', ')}` }
      : { done: false, detail: 'no member id of the old cluster is listed' };
  });

  for (const member of others) {
    const sub: MembershipOptions = {
      ...options,
      onProgress: (message) => options.onProgress?.(`${member.name}: ${message}`),
      afterStep: (step) => options.afterStep?.(`${member.name}/${step}`),
    };
    const subRunner = new StepRunner(sub);
    try {
      await subRunner.step('move-data-aside', async () => {
        const current = await surveyWithLeader(options);
        const there = memberAtPeerUrl(current, member.peerUrl);
        if (there && !note.oldIds.includes(there.id))
          return { done: false, detail: `${member.name} has joined as ${there.id}` };
        await host.stop(member.name);
        const moved = await host.moveDataAside(member.name, 'replaced');
        return moved
          ? { done: true, detail: `moved ${member.name}'s old data to ${moved}` }
          : { done: false, detail: `${member.name} has no data dir to move` };
      });
      await joinSteps(sub, subRunner, member);
    } finally {
      runner.records.push(...subRunner.records.map((r) => ({ ...r, step: `${member.name}/${r.step}` })));
    }
  }
}

async function fromBackup(
  options: RecoverOptions,
  runner: StepRunner,
  note: RecoverNote,
  hosted: readonly HostedMember[],
): Promise<void> {
  const { host } = options;
  const storage = options.storage;
  if (!storage) {
    throw new InputError("recovering from the backup needs the spec's backup storage", {
      hint: 'add backup.storage to the spec or pass --storage',
    });
  }
  const rebuilt = note.rebuilt === true;
  await runner.step('stop-all', async () =>
    rebuilt
      ? { done: false, detail: 'the cluster was restored already' }
      : stopAll(options, hosted, 'no member runs'),
  );

  await runner.step('restore', async () => {
    if (rebuilt) return { done: false, detail: `restored from ${note.from} already` };
    const catalog = await readCatalog(storage, { signal: options.signal });
    const manifest = catalog.backups.find((b) => b.name === note.from);
    if (!manifest) {
      throw new StewardError(
        `backup ${note.from}, chosen when this recover began, is no longer in the storage`,
        {
          hint: 'remove the note (DATA_DIR.recover.json beside the data dir) and run `recover` again to plan afresh',
        },
      );
    }
    const toRevision = note.toRevision ?? manifest.revision;
    const common = {
      spec: options.spec,
      binaries: options.binaries,
      connection: options.connection,
      yes: true,
      onProgress: options.onProgress,
      signal: options.signal,
    };
    let match: boolean | undefined;
    if (toRevision > manifest.revision) {
      const result = await restorePointInTime({
        ...common,
        storage,
        reference: manifest.name,
        target: { revision: toRevision },
        restoreTarget: { kind: 'replace' },
      });
      match = result.match;
    } else {
      const file = await fetchBackup(storage, manifest, { signal: options.signal });
      try {
        const result = await restoreSnapshot({
          ...common,
          file,
          target: { kind: 'replace' },
          skipHashCheck: manifest.etcdSha256 === null,
          fetchedFrom: manifest,
        });
        match = result.match;
      } finally {
        const { rm } = await import('node:fs/promises');
        await rm(file, { force: true });
      }
    }
    if (match === false) {
      throw new StewardError("the restored cluster's keys differ from what was restored", {
        hint: 'the old data is kept aside; report this with `etcd-steward backup list -o json`',
      });
    }
    await host.writeRecoverNote({ ...note, rebuilt: true });
    return { done: true, detail: `restored ${note.from} up to revision ${toRevision}; keys checked` };
  });
}

/**
 * Waits until every hosted member serves and lists the same voting members — exactly the hosted
 * ones, none of them a learner and none an id of the old cluster — and returns them.
 */
async function agreeingMembers(
  options: RecoverOptions,
  hosted: readonly HostedMember[],
  oldIds: readonly string[],
): Promise<{ name: string; id: string }[]> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    options.signal?.throwIfAborted();
    let why = '';
    const lists: ClusterMember[][] = [];
    for (const m of hosted) {
      const client = new MemberClient(parseEndpoint(m.clientUrl), pollConnection(options.connection));
      try {
        await client.healthRead();
        lists.push(await client.memberList());
      } catch (error) {
        why ||= `${m.name} does not serve: ${describeError(error)}`;
      } finally {
        client.close();
      }
    }
    if (!why) {
      const key = (list: ClusterMember[]) =>
        list
          .map((x) => `${x.id}${x.isLearner ? 'L' : ''}`)
          .sort()
          .join(',');
      const first = lists[0] ?? [];
      if (!lists.every((l) => key(l) === key(first)))
        why = `the members' lists differ: ${lists.map(key).join(' | ')}`;
      else if (first.length !== hosted.length)
        why = `${first.length} members listed, ${hosted.length} expected: ${key(first)}`;
      else if (first.some((x) => x.isLearner)) why = 'a member is still a learner';
      else if (first.some((x) => oldIds.includes(x.id)))
        why = `an id of the old cluster is listed: ${first
          .filter((x) => oldIds.includes(x.id))
          .map((x) => x.id)
          .join(', ')}`;
      else if (!hosted.every((h) => first.some((x) => x.peerUrls.includes(h.peerUrl))))
        why = 'a member of the runtime is missing from the list';
      else {
        const order = (x: ClusterMember) => hosted.findIndex((h) => x.peerUrls.includes(h.peerUrl));
        return [...first].sort((a, b) => order(a) - order(b)).map((x) => ({ name: x.name, id: x.id }));
      }
    }
    if (Date.now() > deadline) {
      throw new StewardError(`the recovered cluster does not agree on its members: ${why}`, {
        hint: '`etcd-steward member list` shows each member; run `recover --yes` again to finish',
      });
    }
    await sleep(500);
  }
}
