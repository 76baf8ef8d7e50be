/**
 * The agent's self-healing (spec `heal:`, off by default): every check it asks the engine what
 * each member needs (engine/members/heal.ts), keeps since when, and once a member has needed it
 * for `heal.after` queues one `heal` job — replace, restart or promote — or, in dry-run mode or
 * when the action would need a quorum that is not there, a job that only reports. Each incident
 * (a member needing healing until it does not) is reported once; a restart is tried once per
 * incident, so a member that crash-loops with intact data is reported, never replaced.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Spec } from '../config/spec.js';
import type { HealFinding } from '../engine/members/heal-plan.js';
import { checkHealing, heal, type DataCheckCache } from '../engine/members/heal.js';
import type { MembershipOptions } from '../engine/members/steps.js';
import type { ConnectionOptions } from '../etcd/member-client.js';
import { describeError } from '../errors.js';
import type { MembershipHost } from '../runtime/membership-host.js';
import { JobFailure, type JobQueue, type JobResult } from './jobs.js';
import type { Logger } from './logger.js';
import type { Problem } from './problems.js';

export interface HealServiceOptions {
  readonly spec: Spec;
  readonly clusterName: string;
  readonly host: MembershipHost;
  readonly connection: ConnectionOptions;
  readonly jobs: JobQueue;
  readonly registry: Registry;
  readonly log: Logger;
}

export interface HealService {
  /** heal-needs-quorum while a member's healing is blocked; heal-failed after a failed action. */
  problems(): Problem[];
  stop(): Promise<void>;
}

/** One member's incident: since when it needs healing, and what was already done or said. */
interface Incident {
  readonly since: number;
  /** The action and blocked state last reported, so each is reported once. */
  reported: string | undefined;
  restarted: boolean;
  /** When the last action ran (the next try waits another `after`). */
  actedAt: number | undefined;
}

type HealResult = JobResult<'heal'>;

/** Starts the healing loop; it checks every status interval (at most half of `after`). */
export function startHealService(options: HealServiceOptions): HealService {
  const { spec, log } = options;
  const policy = spec.heal;
  const metrics = registerMetrics(options.registry, options.clusterName);
  const incidents = new Map<string, Incident>();
  const checked: DataCheckCache = new Map();
  let blocked: HealFinding[] = [];
  let lastFailure: { at: number; message: string } | undefined;
  const stop = new AbortController();
  const membership: MembershipOptions = {
    host: options.host,
    connection: options.connection,
    timeoutMs: policy.timeout,
    onProgress: (message) => log.info({ component: 'heal' }, message),
  };
  const interval = Math.max(1000, Math.min(spec.monitoring.statusInterval, policy.after / 2));

  const submit = (finding: HealFinding, incident: Incident, outcome: HealResult['outcome'] | 'act') => {
    const condition = `${finding.condition} (for ${Math.round((Date.now() - incident.since) / 1000)} s)`;
    const base = {
      member: finding.member,
      action: finding.action ?? ('none' as const),
      dryRun: policy.dryRun,
      condition,
      reason: finding.blocked ?? finding.reason,
      steps: [],
    };
    options.jobs.submit('heal', 'schedule', async (signal) => {
      if (outcome === 'would need quorum') {
        metrics.actions.inc({
          cluster: options.clusterName,
          action: base.action,
          result: 'would-need-quorum',
        });
        throw new JobFailure(
          `healing ${finding.member} ${finding.blocked ?? 'would need quorum'}`,
          { ...base, outcome, detail: null },
          'bring back enough voting members for a quorum (then healing goes on by itself), or run `etcd-steward recover`',
        );
      }
      if (outcome !== 'act') {
        if (outcome !== 'not acting')
          metrics.actions.inc({ cluster: options.clusterName, action: base.action, result: 'dry-run' });
        return { ...base, outcome, detail: null };
      }
      // The cluster may have changed since the check: look again before acting.
      const now = (await checkHealing({ ...membership, signal })).findings.find(
        (f) => f.member === finding.member && f.action === finding.action,
      );
      if (!now) return { ...base, outcome: 'not acting', detail: 'healed on its own before the job ran' };
      try {
        const done = await heal({ ...membership, signal }, now);
        metrics.actions.inc({ cluster: options.clusterName, action: base.action, result: 'succeeded' });
        const past = { replace: 'replaced', restart: 'restarted', promote: 'promoted' } as const;
        return { ...base, outcome: past[done.action], detail: done.detail, steps: [...done.steps] };
      } catch (error) {
        if (!signal.aborted) {
          metrics.actions.inc({ cluster: options.clusterName, action: base.action, result: 'failed' });
          lastFailure = {
            at: Date.now(),
            message: `healing ${finding.member} (${base.action}) failed: ${describeError(error)}`,
          };
        }
        throw error;
      }
    });
  };

  const check = async () => {
    if (options.jobs.pending('heal')) return;
    const { findings } = await checkHealing({ ...membership, signal: stop.signal }, checked);
    const now = Date.now();
    for (const name of incidents.keys())
      if (!findings.some((f) => f.member === name)) {
        log.info({ component: 'heal', member: name }, `${name} needs no healing any more`);
        incidents.delete(name);
      }
    blocked = findings.filter((f) => f.blocked !== undefined);
    metrics.needing.set({ cluster: options.clusterName }, findings.length);
    metrics.blocked.set({ cluster: options.clusterName }, blocked.length);
    for (const finding of findings) {
      let incident = incidents.get(finding.member);
      if (!incident) {
        incident = { since: now, reported: undefined, restarted: false, actedAt: undefined };
        incidents.set(finding.member, incident);
        log.warn(
          { component: 'heal', member: finding.member, condition: finding.condition },
          'member needs healing',
        );
      }
      // A caught-up learner is promoted at once; everything else waits `after` (and again after an action).
      const waitFrom = Math.max(incident.since, incident.actedAt ?? 0);
      if (finding.action !== 'promote' && now - waitFrom < policy.after) continue;
      const key = `${finding.action ?? 'none'}:${finding.blocked ? 'blocked' : 'ok'}`;
      if (finding.action === 'restart' && incident.restarted && !finding.blocked) {
        if (incident.reported === 'crash-loop') continue;
        incident.reported = 'crash-loop';
        submit(
          {
            ...finding,
            action: undefined,
            reason: `restarted once and down again: crash-looping, yet its data passes the offline check, so it is not replaced; read its log (\`etcd-steward member list\`, the member's etcd.log)`,
          },
          incident,
          'not acting',
        );
        return;
      }
      const acting = !finding.blocked && finding.action !== undefined && !policy.dryRun;
      // Reports (blocked, not acting, dry run) once per incident; actions again after each `after`.
      if (!acting && incident.reported === key) continue;
      incident.reported = key;
      if (finding.blocked) submit(finding, incident, 'would need quorum');
      else if (!finding.action) submit(finding, incident, 'not acting');
      else if (policy.dryRun) submit(finding, incident, `would ${finding.action}`);
      else {
        submit(finding, incident, 'act');
        incident.actedAt = now;
        if (finding.action === 'restart') incident.restarted = true;
      }
      return; // one job per check: the next check sees the cluster after it
    }
  };

  const loop = (async () => {
    log.info(
      { component: 'heal', dryRun: policy.dryRun, after: `${policy.after / 1000}s` },
      policy.dryRun ? 'self-healing on (dry run: reports only)' : 'self-healing on',
    );
    while (!stop.signal.aborted) {
      try {
        await check();
      } catch (error) {
        if (!stop.signal.aborted)
          log.warn({ component: 'heal', error: describeError(error) }, 'heal check failed');
      }
      try {
        await sleep(interval, undefined, { signal: stop.signal });
      } catch {
        return;
      }
    }
  })();

  return {
    problems: () => {
      const problems: Problem[] = [];
      if (blocked.length > 0)
        problems.push({
          id: 'heal-needs-quorum',
          severity: 'critical',
          message: `healing ${blocked.map((f) => f.member).join(', ')} ${blocked[0]?.blocked ?? 'would need quorum'}`,
        });
      if (lastFailure && Date.now() - lastFailure.at < 3_600_000)
        problems.push({ id: 'heal-failed', severity: 'critical', message: lastFailure.message });
      return problems;
    },
    stop: async () => {
      stop.abort();
      await loop;
    },
  };
}

function registerMetrics(registry: Registry, cluster: string) {
  const actions = new Counter({
    name: 'etcd_steward_heal_actions_total',
    help: 'Self-healing actions by action (replace, restart, promote, none) and result (succeeded, failed, dry-run, would-need-quorum)',
    labelNames: ['cluster', 'action', 'result'],
    registers: [registry],
  });
  actions.inc({ cluster, action: 'replace', result: 'failed' }, 0);
  const needing = new Gauge({
    name: 'etcd_steward_heal_members_needing',
    help: 'Members that need healing now (lost, stopped, cut off, or a learner to promote)',
    labelNames: ['cluster'],
    registers: [registry],
  });
  const blocked = new Gauge({
    name: 'etcd_steward_heal_blocked',
    help: 'Members whose healing would need a quorum that is not there',
    labelNames: ['cluster'],
    registers: [registry],
  });
  needing.set({ cluster }, 0);
  blocked.set({ cluster }, 0);
  return { actions, needing, blocked };
}
