/**
 * Self-healing's actions: look at the cluster and the runtime's members (data dirs checked
 * offline with our snapshot reader when the member is not running), and carry out one action —
 * replace through `member replace`'s steps, restart through the runtime, promote a learner.
 * The agent (server/heal.ts) decides when; plans come from heal-plan.ts.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { StewardError, describeError } from '../../errors.js';
import { verifySnapshot } from '../../snapshot/index.js';
import { planHealing, type HealAction, type HealFinding, type HostedMemberFacts } from './heal-plan.js';
import { initialCluster, labelOf } from './plan.js';
import { replaceMember } from './replace.js';
import { onLeader, survey, surveyWithLeader, type MembershipOptions, type StepRecord } from './steps.js';
import { memberAtPeerUrl, type Survey } from './survey.js';

/** The cluster as healing sees it: the survey and the findings. */
export interface HealCheck {
  readonly survey: Survey;
  readonly findings: readonly HealFinding[];
}

/**
 * The offline check of a stopped member's data: the snapshot reader over DATA/member/snap/db
 * (meta pages, page tree). Undefined when there is no db file to read.
 */
export async function checkDataOffline(dataDir: string): Promise<readonly string[] | undefined> {
  const db = path.join(dataDir, 'member', 'snap', 'db');
  try {
    await stat(db);
  } catch {
    return ['member/snap/db is missing'];
  }
  try {
    const report = await verifySnapshot(db);
    // A live member's db has no SHA-256 trailer; the reader reports that as absent, not bad.
    return report.problems;
  } catch (error) {
    return [`member/snap/db cannot be read: ${describeError(error)}`];
  }
}

/** Offline checks already made, by db file, with the file's mtime and size when checked. */
export type DataCheckCache = Map<string, { stamp: string; problems: readonly string[] | undefined }>;

/** The offline check, read again only when the db file changed since `cache` saw it. */
async function cachedCheck(dataDir: string, cache: DataCheckCache | undefined) {
  if (!cache) return checkDataOffline(dataDir);
  const db = path.join(dataDir, 'member', 'snap', 'db');
  const stamp = await stat(db).then(
    (s) => `${s.mtimeMs}:${s.size}`,
    () => 'missing',
  );
  const seen = cache.get(db);
  if (seen?.stamp === stamp) return seen.problems;
  const problems = await checkDataOffline(dataDir);
  cache.set(db, { stamp, problems });
  return problems;
}

/**
 * Surveys the cluster and the runtime's members, and plans what healing would do. `cache` keeps
 * the offline checks of stopped members between calls (a 1 GiB db is not re-read every poll).
 */
export async function checkHealing(options: MembershipOptions, cache?: DataCheckCache): Promise<HealCheck> {
  const { host } = options;
  const current = await survey(options);
  const facts: HostedMemberFacts[] = [];
  for (const member of await host.members()) {
    const running = await host.isRunning(member.name);
    const data = await host.dataDir(member.name);
    const inCluster = memberAtPeerUrl(current, member.peerUrl);
    const needsLook = inCluster !== undefined && !running && data.state === 'present';
    facts.push({
      name: member.name,
      peerUrl: member.peerUrl,
      running,
      dataDir: data.state,
      dataProblems: needsLook ? await cachedCheck(data.path, cache) : undefined,
      replaceUnfinished: (await host.readReplaceNote(member.name)) !== undefined,
    });
  }
  return { survey: current, findings: planHealing(current, facts) };
}

/** What one healing action did. */
export interface HealOutcome {
  readonly member: string;
  readonly action: HealAction;
  readonly detail: string;
  readonly steps: readonly StepRecord[];
}

/** Carries out `finding`'s action (which must not be blocked); throws when it fails. */
export async function heal(options: MembershipOptions, finding: HealFinding): Promise<HealOutcome> {
  const { host } = options;
  const name = finding.member;
  if (!finding.action) throw new StewardError(`nothing to do for ${name}: ${finding.reason}`);
  if (finding.blocked) throw new StewardError(`healing ${name} ${finding.blocked}`);
  switch (finding.action) {
    case 'replace': {
      const report = await replaceMember({ ...options, name });
      return {
        member: name,
        action: 'replace',
        detail: `replaced: new id ${report.id}`,
        steps: report.steps,
      };
    }
    case 'restart': {
      const started = Date.now();
      const current = await survey(options);
      const hosted = (await host.members()).find((m) => m.name === name);
      if (!hosted) throw new StewardError(`member ${name} is no longer recorded`);
      if (await host.isRunning(name))
        return { member: name, action: 'restart', detail: `${name} is running again`, steps: [] };
      // A member with data ignores --initial-cluster*; the joining command line is its usual one.
      await host.startJoining(name, initialCluster(current.members, hosted.peerUrl, name));
      const detail = `started ${name} again with its data`;
      return {
        member: name,
        action: 'restart',
        detail,
        steps: [{ step: 'start', outcome: 'done', detail, tookMs: Date.now() - started }],
      };
    }
    case 'promote': {
      const started = Date.now();
      const current = await surveyWithLeader(options);
      const hosted = (await host.members()).find((m) => m.name === name);
      const there = hosted ? memberAtPeerUrl(current, hosted.peerUrl) : undefined;
      if (!there?.isLearner)
        return { member: name, action: 'promote', detail: `${name} is not a learner now`, steps: [] };
      await onLeader(options, current, (client) => client.memberPromote(there.id));
      const detail = `promoted ${labelOf(there)} to a voting member`;
      return {
        member: name,
        action: 'promote',
        detail,
        steps: [{ step: 'promote', outcome: 'done', detail, tookMs: Date.now() - started }],
      };
    }
  }
}
