/**
 * `etcd-steward defrag [--rule EXPR] [--dry-run] [--compact] [--continue-on-error]`: a rolling
 * defrag of the spec's cluster (or --endpoints): pre-flight checks, followers one at a time,
 * leadership moved, leader last. Exit 0 when done (or nothing needed it), 1 when refused or a
 * member failed, 2 for a bad rule.
 */
import { formatBytes } from '../../config/units.js';
import { DEFAULT_DEFRAG_RULE, compileRule } from '../../engine/defrag/rule.js';
import { memberLabel, type PlannedMember } from '../../engine/defrag/plan.js';
import { runDefrag, type DefragReport, type MemberResult } from '../../engine/defrag/defrag.js';
import { clusterTarget, connectionFor, type GlobalOptions } from '../context.js';
import { printJson, progress, renderTable } from '../output.js';

export interface DefragCommandOptions extends GlobalOptions {
  readonly rule?: string;
  readonly dryRun?: boolean;
  readonly compact?: boolean;
  readonly continueOnError?: boolean;
}

export async function defragCommand(options: DefragCommandOptions): Promise<number> {
  const target = await clusterTarget(options);
  const spec = target.spec;
  // A bad rule is refused before anything is contacted. --rule, else the spec's defrag.rule.
  const rule = compileRule(options.rule ?? spec?.defrag?.rule ?? DEFAULT_DEFRAG_RULE);
  // Ctrl-C (or SIGTERM) stops before the next member; a second one ends the process at once.
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    progress(options.output, `${signal}: stopping after the current member (again to quit at once)`);
    controller.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const report = await runDefrag({
    endpoints: target.endpoints,
    connection: connectionFor(options, spec),
    specQuota: spec?.etcd.quotaBackendBytes,
    names: target.names,
    clusterName: spec ? target.name : undefined,
    rule,
    dryRun: options.dryRun === true,
    compact: options.compact ?? spec?.defrag?.compactFirst === true,
    continueOnError: options.continueOnError === true,
    history: {
      // A runtime that keeps records beside its data (local) keeps the history there too.
      localDataDir: target.runtime?.recordsDir,
      clusterName: spec ? target.name : undefined,
    },
    onProgress: (message) => progress(options.output, message),
    signal: controller.signal,
  }).finally(() => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  });
  if (options.output === 'json') printJson(report);
  else process.stdout.write(`${formatReport(report)}\n`);
  if (report.outcome === 'refused') {
    process.stderr.write(
      `error: defrag refused, nothing was changed:\n    ${report.preflight.problems.join('\n    ')}\n`,
    );
    process.stderr.write(
      'hint: fix what is named above (`etcd-steward status` shows every member), then run defrag again\n',
    );
  } else if (report.outcome === 'failed') {
    process.stderr.write(`error: defrag failed: ${report.error ?? 'see the results'}\n`);
    process.stderr.write(
      'hint: check the member with `etcd-steward status` and its log; run defrag again once the cluster is healthy (members already done are skipped by the rule when they no longer need it)\n',
    );
  }
  return report.ok ? 0 : 1;
}

function duration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

const size = (bytes: number | undefined) => (bytes === undefined ? '-' : formatBytes(bytes));

function memberCell(m: { name: string | undefined; endpoint: string }): string {
  return m.name ? `${m.name} (${m.endpoint})` : m.endpoint;
}

/** The dry run's plan: members in order, the rule's values and verdict, what would be reclaimed. */
export function formatPlan(plan: readonly PlannedMember[]): string {
  const head = ['#', 'MEMBER', 'ROLE', 'DB SIZE', 'IN USE', 'FREE', 'QUOTA USE', 'RULE', 'WOULD RECLAIM'];
  const rows = plan.map((p) => [
    String(p.order),
    memberCell(p),
    p.role,
    size(p.dbSize),
    size(p.dbSizeInUse),
    size(p.dbSizeFree),
    `${Math.round(p.dbQuotaUsage * 1000) / 10}% of ${formatBytes(p.dbQuota)}`,
    p.ruleHolds ? 'true: defragment' : 'false: skip',
    p.ruleHolds ? `≈ ${formatBytes(p.wouldReclaim)}` : '-',
  ]);
  return renderTable(head, rows);
}

function resultCell(r: MemberResult): string {
  if (r.outcome === 'failed') return `failed: ${r.error ?? ''}`;
  if (r.outcome === 'skipped:rule') return 'skipped (rule false)';
  if (r.outcome === 'skipped:stopped') return 'skipped (run stopped)';
  return r.leadershipMovedTo ? 'defragmented (after handing leadership over)' : 'defragmented';
}

/** The results table and what else happened: leadership moves, compaction, alarms, the history file. */
export function formatReport(report: DefragReport): string {
  const lines: string[] = [];
  if (report.dryRun || report.outcome === 'refused') {
    if (report.plan.length > 0) lines.push(formatPlan(report.plan));
  } else {
    const head = ['MEMBER', 'ROLE', 'SIZE BEFORE', 'SIZE AFTER', 'RECLAIMED', 'DURATION', 'RESULT'];
    const rows = report.results.map((r) => [
      memberCell(r),
      r.role,
      size(r.dbSizeBefore),
      size(r.dbSizeAfter),
      r.outcome === 'defragmented' ? size(r.reclaimed) : '-',
      duration(r.durationMs),
      resultCell(r),
    ]);
    lines.push(renderTable(head, rows));
  }
  lines.push(`rule: ${report.rule}`);
  // A NOSPACE alarm is named once: as a warning in a plan, else as disarmed or still active.
  const warnings = report.preflight.warnings.filter((w) => report.dryRun || !w.startsWith('NOSPACE alarm'));
  for (const w of warnings) lines.push(`warning: ${w}`);
  if (report.compaction) {
    const c = report.compaction;
    lines.push(
      c.revision === undefined
        ? `compaction: ${c.note ?? 'requested'}`
        : `compaction: to revision ${c.revision} in ${duration(c.tookMs)}${c.note ? ` (${c.note})` : ''}`,
    );
  }
  const byId = new Map(report.plan.map((p) => [p.id, p]));
  for (const m of report.leadershipMoves) {
    const from = byId.get(m.from.id) ?? m.from;
    const to = byId.get(m.to.id) ?? m.to;
    lines.push(
      `leadership: ${memberLabel(from)} → ${memberLabel(to)} in ${duration(m.tookMs)}, before ${memberLabel(from)}'s defrag`,
    );
  }
  for (const a of report.alarmsDisarmed) lines.push(`alarm disarmed: ${a.alarm} of ${a.member}`);
  if (!report.dryRun)
    for (const a of report.alarmsLeft)
      lines.push(`alarm still active: ${a.alarm} of ${a.member} (${a.reason})`);
  if (report.outcome === 'planned') {
    const todo = report.plan.filter((p) => p.ruleHolds);
    const total = todo.reduce((sum, p) => sum + p.wouldReclaim, 0);
    lines.push(
      `dry run: would defragment ${todo.length} of ${report.plan.length} members and reclaim ≈ ${formatBytes(total)}; nothing was changed`,
    );
  } else if (report.outcome === 'refused') {
    lines.push('refused: nothing was changed (the reasons are on stderr)');
  } else {
    const done = report.results.filter((r) => r.outcome === 'defragmented').length;
    lines.push(
      `${report.outcome === 'done' ? 'done' : 'FAILED'}: defragmented ${done} of ${report.results.length} members, reclaimed ${formatBytes(report.reclaimed)} in ${duration(report.durationMs)}`,
    );
  }
  if (report.historyFile) lines.push(`recorded in ${report.historyFile}`);
  return lines.join('\n');
}
