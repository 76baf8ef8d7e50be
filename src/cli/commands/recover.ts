/**
 * `etcd-steward recover [--source NAME|backup] [--yes]`: a cluster that lost its quorum, read
 * offline and rebuilt through the engine (engine/members/recover.ts). Prints the plan, then each
 * step as it happens (stderr), then a step table — or one JSON document with -o json.
 */
import type { RecoverReport } from '../../engine/members/recover.js';
import type { RecoverOption, RecoverPlan } from '../../engine/members/recover-plan.js';
import type { GlobalOptions } from '../context.js';

export interface RecoverCommandOptions extends GlobalOptions {
  readonly yes?: boolean;
  readonly source?: string;
  readonly storage?: string;
}

function sourceLabel(option: RecoverOption): string {
  const s = option.source;
  return s.kind === 'member'
    ? `member ${s.name}`
    : `backup ${s.backup} (revision ${s.backupRevision}) + ${s.segments} log segments`;
}

/** The plan for people: the sources side by side, what each choice loses, the steps. */
export async function formatPlan(plan: RecoverPlan): Promise<string> {
  const { renderTable } = await import('../output.js');
  const rows = plan.options.map((o) => {
    const s = o.source;
    const loses = o.losses.filter((l) => l.revisions > 0);
    return [
      `${o === plan.chosen ? '* ' : '  '}${s.name}`,
      sourceLabel(o),
      String(s.revision),
      s.kind === 'member' ? String(s.consistentIndex ?? '-') : '-',
      s.kind === 'member' ? String(s.term ?? '-') : '-',
      String(s.keyCount),
      loses.length === 0
        ? 'nothing'
        : loses
            .map(
              (l) =>
                `${l.revisions} revisions, ${l.keys} keys vs ${l.against} (${l.missing} missing, ${l.older} older, ${l.resurrected} deleted there)`,
            )
            .join('; '),
    ];
  });
  const lines = [
    renderTable(['SOURCE', 'WHAT', 'REVISION', 'RAFT INDEX', 'TERM', 'KEYS', 'CHOOSING IT LOSES'], rows),
  ];
  for (const l of plan.lost)
    lines.push(`lost: ${l.name} (${l.problem}${l.running ? ', its process runs' : ''})`);
  if (plan.backupProblem) lines.push(`no backup source: ${plan.backupProblem}`);
  lines.push(`chosen: ${plan.chosen.source.name} — ${plan.reason}`, 'steps:');
  plan.steps.forEach((step, i) => lines.push(`  ${i + 1}. ${step}`));
  return lines.join('\n');
}

export async function recoverCommand(options: RecoverCommandOptions): Promise<number> {
  const { loadSpec, connectionFor } = await import('../context.js');
  const { printJson, progress, renderTable } = await import('../output.js');
  const { openRuntime } = await import('../../runtime/open.js');
  const { RuntimeUnsupportedError } = await import('../../runtime/runtime.js');
  const spec = (await loadSpec(options, true))!;
  if (spec.runtime !== 'local') {
    throw new RuntimeUnsupportedError(
      spec.runtime,
      'recover from quorum loss itself (it reads and restarts members on this machine)',
      spec.runtime === 'kubernetes'
        ? 'restore the newest backup into a new cluster (`etcd-steward restore latest --runtime kubernetes --apply`, with --to-revision for the change log) and re-point the clients; or by hand: scale the StatefulSet to 0, copy each surviving volume\'s member/snap/db out, compare them with `etcd-steward snapshot inspect`, start the furthest one once with --force-new-cluster, then add the others back as learners (docs/members.md, "When quorum is lost")'
        : 'the cluster runs elsewhere: recover it where it runs, or restore a backup into a new local cluster (`etcd-steward restore latest --new-cluster NAME`)',
    );
  }
  const { resolveEtcd } = await import('../../runtime/etcd-binaries.js');
  const binaries = await resolveEtcd(spec.etcd.version, options.etcdBin ?? spec.etcd.bin);
  const runtime = await openRuntime(spec, { binaries });
  const host = runtime.membership();
  const storageUrl = options.storage ?? spec.backup?.storage;
  const storage = storageUrl
    ? await (await import('../context.js')).storageFor({ storage: storageUrl }, spec)
    : undefined;
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted; run the same command again to finish the job'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let report: RecoverReport;
  try {
    const { recoverCluster } = await import('../../engine/members/recover.js');
    report = await recoverCluster({
      host,
      connection: connectionFor(options, spec),
      spec,
      binaries,
      storage,
      source: options.source,
      yes: options.yes,
      signal: abort.signal,
      onProgress: (message) => progress(options.output, message),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await runtime.close();
  }
  if (options.output === 'json') {
    printJson(report);
    return 0;
  }
  const out: string[] = [];
  if (report.plan && !report.executed) out.push(await formatPlan(report.plan));
  if (!report.executed) {
    out.push(
      report.continued
        ? `a recover from ${report.continued.source} ${report.continued.from} began at ${report.continued.begunAt} and has not finished: run \`etcd-steward recover --yes\` to finish it`
        : 'nothing was changed; run again with --yes to carry the plan out',
    );
  } else {
    const rows = report.steps.map((s) => [s.step, s.outcome, `${(s.tookMs / 1000).toFixed(1)} s`, s.detail]);
    out.push(
      renderTable(['STEP', 'OUTCOME', 'TOOK', 'DETAIL'], rows),
      `recovered: ${report.members.map((m) => `${m.name} (${m.id})`).join(', ')}`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
