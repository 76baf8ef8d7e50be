/**
 * Rolling etcd version changes through the runtime seam: `upgrade --to` (a patch, the next minor
 * line, or back to the old line while the cluster version has not moved) and `downgrade --to`
 * (etcd 3.6+'s downgrade API, then binaries one by one). A pre-flight lists every check and
 * refuses on the first problem; then one member at a time, followers first, the leader last
 * after handing leadership to a member already done; after each member a gate waits until it is
 * healthy, caught up with the leader, alarm-free, on the new version, and the cluster version is
 * what it should be. The first failure stops the run and the report says which member runs what
 * and the way back. A progress note (progress-note.ts) lets a rerun after a crash finish the job.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { etcdSettingsFlags } from '../../config/etcd-flags.js';
import type { EtcdLine } from '../../config/etcd-lines.js';
import { SUPPORTED_LINES } from '../../config/etcd-lines.js';
import {
  compareVersions,
  floorFor,
  lineOf,
  refusedFlags,
  upgradeStep,
  type UpgradeStep,
} from '../../config/upgrade-paths.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../../etcd/member-client.js';
import { memberVersions } from '../../etcd/version-endpoint.js';
import { describeError } from '../../errors.js';
import { resolveEtcd, resolveEtcdRelease, type EtcdBinaries } from '../../runtime/etcd-binaries.js';
import { namesByEndpoint, type ClusterRuntime } from '../../runtime/runtime.js';
import { chooseTransferee } from '../defrag/plan.js';
import { clusterStatus, type ClusterStatus, type MemberStatusRow } from '../status.js';
import { clearNote, notePath, readNote, writeNote, type UpgradeNote } from './progress-note.js';
import { checkV2store } from './v2store.js';

/** One pre-flight check as printed: its name, pass or fail, and why. */
export interface UpgradeCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** What one member went through. */
export interface MemberStep {
  readonly member: string;
  readonly from: string | undefined;
  readonly to: string;
  readonly outcome: 'changed' | 'skipped';
  readonly tookMs: number;
}

/** Where a member stands when the run ends (or stops). */
export interface MemberState {
  readonly member: string;
  readonly version: string | undefined;
  readonly healthy: boolean;
  readonly leader: boolean;
}

export interface UpgradeReport {
  readonly operation: 'upgrade' | 'downgrade';
  readonly outcome: 'done' | 'refused' | 'failed' | 'nothing-to-do';
  readonly from: string | undefined;
  readonly to: string;
  readonly checks: readonly UpgradeCheck[];
  readonly steps: readonly MemberStep[];
  readonly members: readonly MemberState[];
  readonly clusterVersion: string | undefined;
  readonly backup: string | undefined;
  readonly resumed: boolean;
  readonly error?: string | undefined;
  /** The command that puts the cluster back where it was (failed or refused mid-way). */
  readonly wayBack?: string | undefined;
  readonly tookMs: number;
}

/** Takes the verified backup before the first change; resolves to the backup's id. */
export type TakeBackup = () => Promise<string>;

export interface UpgradeOptions {
  readonly runtime: ClusterRuntime;
  readonly connection: ConnectionOptions;
  readonly operation: 'upgrade' | 'downgrade';
  /** `3.6` (the newest installed patch of the line) or an exact release `3.6.16`. */
  readonly to: string;
  /** A folder with the target's etcd, etcdctl, etcdutl (`--etcd-bin`). */
  readonly bin?: string | undefined;
  /** undefined: the backup is skipped (the CLI's --skip-backup-i-have-one). */
  readonly takeBackup: TakeBackup | undefined;
  /** Skip `etcdutl check v2store` (for data this machine cannot read, e.g. a pod's volume). */
  readonly skipV2storeCheck?: boolean;
  /** How long one member may take to come back healthy and caught up; default 90 s. */
  readonly memberTimeoutMs?: number;
  /** Print the checks and plan only. */
  readonly dryRun?: boolean;
  readonly onProgress?: (message: string) => void;
  /** Called after each step with its name; a throw stops the run there (tests: a crash). */
  readonly afterStep?: (step: string) => void | Promise<void>;
  readonly signal?: AbortSignal;
}

/** How long the pre-flight asks an unhealthy member again before refusing. */
const PREFLIGHT_PATIENCE_MS = 15_000;

/** A gate or step that failed: carries the sentence for the report. */
class StepFailure extends Error {}

/** Runs an upgrade or downgrade; never throws for a refusal or a failed member (see the report). */
export async function runUpgrade(options: UpgradeOptions): Promise<UpgradeReport> {
  const started = Date.now();
  const say = options.onProgress ?? (() => undefined);
  const { runtime, connection, operation } = options;
  const file = notePath(runtime.recordsDir, runtime.spec.name);
  const found = await readNote(file);
  const checks: UpgradeCheck[] = [];
  const steps: MemberStep[] = [];
  const check = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    say(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
    return ok;
  };
  let note = found;
  let binaries: EtcdBinaries | undefined;
  let from: string | undefined = note?.from;
  let clusterVersion: string | undefined;
  const finish = async (
    outcome: UpgradeReport['outcome'],
    extra: { error?: string; wayBack?: string; backup?: string } = {},
  ): Promise<UpgradeReport> => {
    const now = await snapshotState(options).catch(() => undefined);
    return {
      operation,
      outcome,
      from,
      to: binaries?.version ?? options.to,
      checks,
      steps,
      members: now?.members ?? [],
      clusterVersion: now?.clusterVersion ?? clusterVersion,
      backup: extra.backup ?? note?.backup,
      resumed: note !== undefined,
      error: extra.error,
      wayBack: extra.wayBack,
      tookMs: Date.now() - started,
    };
  };

  // 1. The target binaries.
  try {
    binaries = await targetBinaries(options.to, options.bin);
    check('target', true, `etcd ${binaries.version} (${binaries.etcd})`);
  } catch (error) {
    check('target', false, describeError(error));
    return finish('refused', { error: describeError(error) });
  }
  const target = binaries.version;
  const targetLine = binaries.line;
  // An unfinished run is either resumed (same target) or undone (`upgrade --to` where it began).
  const goingBack =
    found !== undefined && found.to !== target && found.from === target && operation === 'upgrade';
  if (found && !goingBack && (found.to !== target || found.operation !== operation)) {
    check(
      'unfinished run',
      false,
      `a ${found.operation} from ${found.from} to ${found.to} has not finished (${file})`,
    );
    return finish('refused', {
      error: `finish it first: etcd-steward ${found.operation} --to ${found.to} (or go back: etcd-steward upgrade --to ${found.from})`,
    });
  }

  // 2. The cluster as it is now.
  let status: ClusterStatus;
  try {
    // A member busy for a moment (a loaded machine) is asked again for a while before it counts.
    status = await statusOf(options);
    for (
      let waited = 0;
      status.members.some((m) => !m.health.ok) && waited < PREFLIGHT_PATIENCE_MS;
      waited += 1000
    ) {
      await sleep(1000);
      status = await statusOf(options);
    }
    clusterVersion = await clusterVersionOf(status, connection);
  } catch (error) {
    check('members', false, describeError(error));
    return finish('refused', { error: describeError(error) });
  }
  const rows = status.members;
  const unhealthy = rows.filter((m) => !m.health.ok);
  // An unfinished run may have left a member stopped (it is changed again, so started): then a
  // healthy majority is enough. A fresh run wants every member healthy.
  const tolerated = found !== undefined && unhealthy.length < rows.length / 2;
  check(
    'members healthy',
    unhealthy.length === 0 || tolerated,
    unhealthy.length === 0
      ? `${rows.length} of ${rows.length} healthy, leader ${status.leaderName ?? status.leaderId ?? '?'}`
      : `${unhealthy.map((m) => `${label(m)}: ${m.health.error ?? 'unhealthy'}`).join('; ')}${tolerated ? ' (left so by the unfinished run: it is started again below)' : ''}`,
  );
  const alarms = rows.flatMap((m) => m.alarms);
  check('no alarms', alarms.length === 0, alarms.length === 0 ? 'none' : [...new Set(alarms)].join(', '));
  const versions = [...new Set(rows.map((m) => m.version ?? '?'))];
  if (!note) from = versions.length === 1 ? versions[0] : undefined;
  if (goingBack && note) {
    // Back to where the unfinished run began: the members still ahead come back; the backup it
    // took stays the backup of record, and the note now records this run.
    const ahead = rows.filter((m) => m.version && m.version !== target).map((m) => m.version as string);
    from = ahead.sort(compareVersions).at(-1) ?? note.to;
    check('going back', true, `the ${note.operation} to ${note.to} stopped; members: ${versions.join(', ')}`);
    note = { ...note, from, to: target, operation: 'upgrade', bin: options.bin };
    await writeNote(file, note);
  } else if (note) {
    check(
      'resuming',
      true,
      `a ${operation} from ${note.from} to ${note.to} began ${note.startedAt}; members: ${versions.join(', ')}`,
    );
  } else {
    check(
      'one version',
      versions.length === 1,
      versions.length === 1
        ? `every member runs ${versions[0]}`
        : `members differ: ${rows.map((m) => `${label(m)} ${m.version ?? '?'}`).join(', ')}`,
    );
  }
  if (checks.some((c) => !c.ok)) return finish('refused', { error: firstProblem(checks) });
  const fromVersion = from as string;
  const fromLine = lineOf(fromVersion) as string;
  if (rows.every((m) => m.version === target) && lineOf(clusterVersion ?? '') === targetLine) {
    await clearNote(file);
    check('versions', true, `every member already runs ${target}, cluster version ${clusterVersion}`);
    return finish('nothing-to-do');
  }

  // 3. What kind of move this is, and its own checks.
  const kind = moveKind(operation, fromVersion, target, clusterVersion);
  if (typeof kind === 'string') {
    check('path', false, kind);
    return finish('refused', { error: kind });
  }
  check('path', true, kind.describe);
  if (kind.step && !note) {
    const floor = kind.step.floor;
    const low = rows.filter((m) => m.version && compareVersions(m.version, floor.patch) < 0);
    check(
      'patch floor',
      low.length === 0,
      low.length === 0
        ? `${fromVersion} ≥ ${floor.patch}, the floor for ${kind.step.from} → ${kind.step.to} (${floor.source})`
        : `etcd supports ${kind.step.from} → ${kind.step.to} only from ${floor.patch} on (${floor.source}); ${low.map((m) => `${label(m)} runs ${m.version}`).join(', ')}: first run etcd-steward upgrade --to ${kind.step.from} (its newest patch)`,
    );
  }
  if (kind.minorUp || operation === 'downgrade') {
    const args = [
      ...etcdSettingsFlags({ ...runtime.spec, etcd: { ...runtime.spec.etcd, version: targetLine } }),
      ...runtime.spec.etcd.extraArgs,
    ];
    const refused = kind.minorUp ? refusedFlags(args, targetLine) : [];
    check(
      'flags',
      refused.length === 0,
      refused.length === 0
        ? `no spec flag that ${targetLine} refuses`
        : `etcd ${targetLine} refuses ${refused.map((r) => (r.replacement ? `${r.flag} (use ${r.replacement})` : r.flag)).join(', ')} (${refused[0]?.source}); remove them from the spec's etcd.extraArgs`,
    );
  }
  if (kind.step?.checkV2store && !note) {
    if (options.skipV2storeCheck) check('v2store', true, 'skipped on request (--skip-v2store-check)');
    else await v2storeCheck(options, rows, fromLine, check);
  }
  if (operation === 'downgrade' && !note) {
    const leader = rows.find((m) => m.isLeader) ?? rows[0];
    try {
      const answer = await withClient(leader as MemberStatusRow, connection, (c) =>
        c.downgrade('VALIDATE', targetLine),
      );
      check(
        'downgrade validate',
        true,
        `etcd accepts a downgrade to ${targetLine} (cluster version ${answer})`,
      );
    } catch (error) {
      check('downgrade validate', false, describeError(error));
    }
  }
  if (checks.some((c) => !c.ok)) return finish('refused', { error: firstProblem(checks) });

  const order = memberOrder(status);
  say(`order: ${order.map(label).join(', ')} (followers first, the leader last)`);
  if (options.dryRun) return finish('nothing-to-do');

  // 4. The backup, once.
  let backup = note?.backup;
  if (!note) {
    if (options.takeBackup) {
      try {
        say('taking a verified backup first');
        backup = await options.takeBackup();
        check('backup', true, `${backup} (verified at creation)`);
      } catch (error) {
        check('backup', false, describeError(error));
        return finish('refused', {
          error: `the backup failed, nothing was changed: ${describeError(error)}`,
        });
      }
    } else check('backup', true, 'skipped on request (--skip-backup-i-have-one)');
    await writeNote(file, {
      format: 1,
      operation,
      from: fromVersion,
      to: target,
      bin: options.bin,
      startedAt: new Date().toISOString(),
      backup,
    } satisfies UpgradeNote);
    await options.afterStep?.('note');
  }
  const wayBack =
    operation === 'downgrade'
      ? `etcd-steward upgrade --to ${fromVersion} once the downgrade is cancelled or finished`
      : `etcd-steward upgrade --to ${fromVersion}`;

  try {
    // 5. The downgrade API (once; a rerun finds it enabled or done).
    if (operation === 'downgrade') await enableDowngrade(options, targetLine, say);
    // 6. Member by member.
    for (const name of order.map((m) => m.name as string)) {
      options.signal?.throwIfAborted();
      steps.push(await changeMember(options, name, binaries, fromLine, say));
      await options.afterStep?.(`member ${name}`);
    }
    // 7. The cluster version follows once every member runs the target line.
    clusterVersion = await waitClusterVersion(options, targetLine, say);
    check('cluster version', true, clusterVersion);
  } catch (error) {
    const why = error instanceof StepFailure ? error.message : describeError(error);
    say(`stopped: ${why}`);
    return finish('failed', { error: why, wayBack, backup });
  }
  await clearNote(file);
  return finish('done', { backup });
}

interface MoveKind {
  readonly describe: string;
  /** The minor step taken (its floor and flags), when the line goes up. */
  readonly step: UpgradeStep | undefined;
  readonly minorUp: boolean;
}

/** Which move `from` → `to` is, or the sentence refusing it. */
function moveKind(
  operation: 'upgrade' | 'downgrade',
  from: string,
  to: string,
  clusterVersion: string | undefined,
): MoveKind | string {
  const fromLine = lineOf(from) as string;
  const toLine = lineOf(to) as string;
  const clusterLine = clusterVersion ? lineOf(clusterVersion) : undefined;
  if (operation === 'downgrade') {
    const step = upgradeStep(toLine, fromLine);
    if (!step)
      return `a downgrade goes one minor line down (${fromLine} → ${previousLine(fromLine) ?? '?'}), not to ${to}`;
    if (compareVersions(`${fromLine}.0`, '3.6.0') < 0)
      return `etcd offers its downgrade API from 3.6 on; the cluster runs ${from}`;
    return {
      describe: `downgrade ${from} → ${to} through etcd's downgrade API`,
      step: undefined,
      minorUp: false,
    };
  }
  if (fromLine === toLine) {
    return { describe: `patch change ${from} → ${to} within ${toLine}`, step: undefined, minorUp: false };
  }
  if (compareVersions(`${toLine}.0`, `${fromLine}.0`) < 0) {
    if (clusterLine && clusterLine !== toLine) {
      return `the cluster version is already ${clusterVersion}: going back to ${toLine} needs etcd's downgrade API (etcd-steward downgrade --to ${to})`;
    }
    return {
      describe: `back to ${to}: the cluster version is still ${clusterVersion ?? '?'}`,
      step: undefined,
      minorUp: false,
    };
  }
  const step = upgradeStep(fromLine, toLine);
  if (!step) {
    const next = SUPPORTED_LINES.find((l) => upgradeStep(fromLine, l));
    return `etcd upgrades one minor line at a time: ${fromLine} → ${toLine} is not supported${next ? `; go to ${next} first (etcd-steward upgrade --to ${next})` : ''}`;
  }
  return { describe: `minor upgrade ${from} → ${to} (${step.guide})`, step, minorUp: true };
}

function previousLine(line: string): string | undefined {
  return UPGRADE_STEPS_PREVIOUS[line];
}
const UPGRADE_STEPS_PREVIOUS: Record<string, string> = { '3.6': '3.5', '3.7': '3.6' };

async function targetBinaries(to: string, bin: string | undefined): Promise<EtcdBinaries> {
  const line = lineOf(to);
  if (!line || !(SUPPORTED_LINES as readonly string[]).includes(line)) {
    throw new Error(`'${to}' is not a version of a supported etcd line (${SUPPORTED_LINES.join(', ')})`);
  }
  const exact = /^\d+\.\d+\.\d+$/.test(to);
  const found = bin || !exact ? await resolveEtcd(line as EtcdLine, bin) : await resolveEtcdRelease(to);
  if (exact && found.version !== to) throw new Error(`${found.etcd} is etcd ${found.version}, not ${to}`);
  return found;
}

async function statusOf(options: UpgradeOptions): Promise<ClusterStatus> {
  const members = await options.runtime.members();
  return clusterStatus({
    endpoints: members.map((m) => m.endpoint),
    connection: pollConnection(options.connection),
    names: namesByEndpoint(members),
  });
}

function pollConnection(connection: ConnectionOptions): ConnectionOptions {
  return {
    ...connection,
    dialTimeoutMs: Math.min(connection.dialTimeoutMs, 2_000),
    commandTimeoutMs: Math.min(connection.commandTimeoutMs, 3_000),
  };
}

/** The cluster version as the first member that answers `/version` says. */
async function clusterVersionOf(
  status: ClusterStatus,
  connection: ConnectionOptions,
): Promise<string | undefined> {
  const ordered = [...status.members].sort(
    (a, b) => Number(b.isLeader === true) - Number(a.isLeader === true),
  );
  for (const m of ordered) {
    const answer = await memberVersions(parseEndpoint(m.endpoint), pollConnection(connection)).catch(
      () => undefined,
    );
    if (answer?.cluster) return answer.cluster;
  }
  return undefined;
}

async function snapshotState(
  options: UpgradeOptions,
): Promise<{ members: MemberState[]; clusterVersion: string | undefined }> {
  const status = await statusOf(options);
  return {
    members: status.members.map((m) => ({
      member: label(m),
      version: m.version,
      healthy: m.health.ok,
      leader: m.isLeader === true,
    })),
    clusterVersion: await clusterVersionOf(status, options.connection),
  };
}

function label(m: MemberStatusRow): string {
  return m.name ?? m.endpoint;
}

function firstProblem(checks: readonly UpgradeCheck[]): string {
  const bad = checks.find((c) => !c.ok);
  return bad ? `${bad.name}: ${bad.detail}` : 'refused';
}

/** Followers in a stable order, the leader last. */
function memberOrder(status: ClusterStatus): MemberStatusRow[] {
  const named = [...status.members].sort((a, b) => label(a).localeCompare(label(b)));
  return [...named.filter((m) => m.isLeader !== true), ...named.filter((m) => m.isLeader === true)];
}

async function withClient<T>(
  row: MemberStatusRow,
  connection: ConnectionOptions,
  fn: (client: MemberClient) => Promise<T>,
): Promise<T> {
  const client = new MemberClient(parseEndpoint(row.endpoint), connection);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

async function v2storeCheck(
  options: UpgradeOptions,
  rows: readonly MemberStatusRow[],
  fromLine: string,
  check: (name: string, ok: boolean, detail: string) => boolean,
): Promise<void> {
  const follower = rows.find((m) => m.isLeader !== true) ?? rows[0];
  const name = follower?.name;
  try {
    const tools = await resolveEtcd(fromLine as EtcdLine);
    const needed = floorFor(upgradeStep(fromLine, nextLine(fromLine))?.to ?? '')?.patch;
    if (needed && compareVersions(tools.version, needed) < 0) {
      check(
        'v2store',
        false,
        `etcdutl ${tools.version} cannot read the WAL records; install ${fromLine}'s newest patch (etcd-steward install-etcd ${fromLine})`,
      );
      return;
    }
    if (!name) throw new Error('the member has no name');
    const data = await options.runtime.memberData(name);
    if (data.kind !== 'dir') {
      check(
        'v2store',
        false,
        `${name}'s data is on a volume this machine cannot read: run \`etcdutl check v2store --data-dir ${data.path}\` in its pod, then pass --skip-v2store-check`,
      );
      return;
    }
    const result = await checkV2store(tools.etcdutl, data.path);
    check(
      'v2store',
      result.ok,
      `etcdutl ${tools.version} check v2store on a copy of ${name}'s data: ${result.detail}`,
    );
  } catch (error) {
    check('v2store', false, describeError(error));
  }
}

function nextLine(line: string): string {
  return Object.entries(UPGRADE_STEPS_PREVIOUS).find(([, prev]) => prev === line)?.[0] ?? '';
}

/** VALIDATE then ENABLE, unless the cluster already reports the target (a rerun). */
async function enableDowngrade(
  options: UpgradeOptions,
  targetLine: string,
  say: (m: string) => void,
): Promise<void> {
  const status = await statusOf(options);
  const current = await clusterVersionOf(status, options.connection);
  if (current && lineOf(current) === targetLine) {
    say(`downgrade already enabled: cluster version ${current}`);
    return;
  }
  const leader = status.members.find((m) => m.isLeader) ?? status.members[0];
  const version = await withClient(leader as MemberStatusRow, options.connection, (c) =>
    c.downgrade('ENABLE', targetLine),
  );
  say(`downgrade to ${targetLine} enabled (cluster version ${version})`);
  await options.afterStep?.('downgrade enable');
}

/** One member: skip when done; else hand over leadership if it leads, change its binary, gate. */
async function changeMember(
  options: UpgradeOptions,
  name: string,
  binaries: EtcdBinaries,
  fromLine: string,
  say: (m: string) => void,
): Promise<MemberStep> {
  const started = Date.now();
  let status = await statusOf(options);
  let row = status.members.find((m) => m.name === name);
  if (row?.version === binaries.version && row.health.ok) {
    say(`${name}: already runs ${binaries.version}`);
    return { member: name, from: row.version, to: binaries.version, outcome: 'skipped', tookMs: 0 };
  }
  const before = row?.version;
  if (row?.isLeader && status.members.length > 1 && row.id) {
    const done = new Set(
      status.members.filter((m) => m.version === binaries.version && m.id).map((m) => m.id as string),
    );
    const to = chooseTransferee(status, row.id, done, 1000);
    if (!to?.id) throw new StepFailure(`${name} leads and no healthy, caught-up member can take over`);
    say(`${name} leads: handing leadership to ${label(to)}`);
    await withClient(row, options.connection, (c) =>
      c.moveLeader(to.id as string, Math.max(10_000, options.connection.commandTimeoutMs)),
    );
    await options.afterStep?.(`leadership from ${name}`);
  }
  if (options.operation === 'downgrade') await waitStorageVersion(options, name, binaries.line, say);
  say(`${name}: ${before ?? '?'} → ${binaries.version}`);
  try {
    await options.runtime.changeMemberVersion(name, { line: binaries.line, bin: binaries.etcd });
  } catch (error) {
    throw new StepFailure(`${name} did not start on etcd ${binaries.version}: ${describeError(error)}`);
  }
  // The gate: healthy, on the new version, caught up with the leader, no alarm, cluster version.
  const deadline = Date.now() + (options.memberTimeoutMs ?? 90_000);
  let why = 'no answer yet';
  for (;;) {
    options.signal?.throwIfAborted();
    status = await statusOf(options).catch((error: unknown) => {
      why = describeError(error);
      return undefined as unknown as ClusterStatus;
    });
    row = status?.members.find((m) => m.name === name);
    const leader = status?.members.find((m) => m.isLeader);
    if (row && leader) {
      const cv = await clusterVersionOf(status, options.connection);
      const expectedLines = options.operation === 'downgrade' ? [binaries.line] : [fromLine, binaries.line];
      const lag = (leader.raftIndex ?? 0) - (row.raftAppliedIndex ?? 0);
      if (!row.health.ok) why = `${name} is not healthy: ${row.health.error ?? '?'}`;
      else if (row.version !== binaries.version) why = `${name} reports ${row.version ?? '?'}`;
      else if (row.alarms.length > 0) why = `alarm ${row.alarms.join(', ')}`;
      else if (lag > 100) why = `${name} is ${lag} entries behind the leader`;
      else if (!cv || !expectedLines.includes(lineOf(cv) ?? '')) why = `cluster version ${cv ?? '?'}`;
      else break;
    } else if (status) why = row ? 'no leader' : `${name} does not answer`;
    if (Date.now() > deadline) {
      throw new StepFailure(
        `${name} on etcd ${binaries.version} did not pass its checks within ${Math.round((options.memberTimeoutMs ?? 90_000) / 1000)} s: ${why}`,
      );
    }
    await sleep(300);
  }
  say(`${name}: healthy on ${binaries.version}, caught up`);
  return {
    member: name,
    from: before,
    to: binaries.version,
    outcome: 'changed',
    tookMs: Date.now() - started,
  };
}

/** During a downgrade, a member may take the lower binary once its storage version went down. */
async function waitStorageVersion(
  options: UpgradeOptions,
  name: string,
  targetLine: string,
  say: (m: string) => void,
): Promise<void> {
  const deadline = Date.now() + (options.memberTimeoutMs ?? 90_000);
  let said = false;
  for (;;) {
    const row = (await statusOf(options)).members.find((m) => m.name === name);
    const storage = row?.storageVersion;
    if (!storage || lineOf(storage) === targetLine) return;
    if (!said) {
      say(
        `${name}: waiting for its storage version ${storage} to drop to ${targetLine} (etcd migrates it at its next snapshot)`,
      );
      said = true;
    }
    if (Date.now() > deadline) {
      throw new StepFailure(
        `${name}'s storage version stayed ${storage}: etcd moves it at its next raft snapshot (every etcd.snapshotCount entries)`,
      );
    }
    await sleep(500);
  }
}

/** Waits until the cluster version is on `line` (etcd moves it a few seconds after the last member). */
async function waitClusterVersion(
  options: UpgradeOptions,
  line: string,
  say: (m: string) => void,
): Promise<string> {
  const deadline = Date.now() + (options.memberTimeoutMs ?? 90_000);
  let last: string | undefined;
  for (;;) {
    const status = await statusOf(options);
    last = await clusterVersionOf(status, options.connection);
    if (last && lineOf(last) === line) {
      say(`cluster version ${last}`);
      return last;
    }
    if (Date.now() > deadline)
      throw new StepFailure(`the cluster version stayed ${last ?? '?'}, expected ${line}`);
    await sleep(500);
  }
}
