/**
 * `etcd-steward member list | add [NAME] | remove NAME|ID | replace NAME`: membership of the
 * spec's local cluster, every change through a learner. Its flags and help are in
 * member.command.ts; the engine (engine/members/) is loaded only when one runs.
 */
import type { MemberList } from '../../engine/members/survey.js';
import type { MembershipOptions, MembershipReport } from '../../engine/members/steps.js';
import type { GlobalOptions } from '../context.js';
import type { Column, OutputFormat } from '../output.js';

export interface ForceOptions extends GlobalOptions {
  readonly force?: boolean;
}

async function localHost(options: GlobalOptions, withBinaries: boolean) {
  const { loadSpec, requireLocal, connectionFor } = await import('../context.js');
  const { LocalClusterRuntime } = await import('../../runtime/local/runtime.js');
  const spec = requireLocal((await loadSpec(options, true))!, 'member');
  const binaries = withBinaries
    ? await (
        await import('../../runtime/etcd-binaries.js')
      ).resolveEtcd(spec.etcd.version, options.etcdBin ?? spec.etcd.bin)
    : undefined;
  const host = new LocalClusterRuntime(spec, binaries).membership();
  return { host, connection: connectionFor(options, spec) };
}

export async function memberListCommand(options: GlobalOptions): Promise<number> {
  const { listMembers } = await import('../../engine/members/survey.js');
  const { printJson } = await import('../output.js');
  const list = await listMembers(await localHost(options, false));
  if (options.output === 'json') printJson(list);
  else process.stdout.write(`${await formatMemberList(list, options.output)}\n`);
  return 0;
}

/** The member list table (compact; every column with -o wide) and a line naming the leader. */
export async function formatMemberList(list: MemberList, format: OutputFormat = 'table'): Promise<string> {
  const { renderColumns } = await import('../output.js');
  type Row = MemberList['members'][number];
  const columns: Column<Row>[] = [
    { head: 'NAME', cell: (m) => m.name || '-' },
    { head: 'ID', cell: (m) => m.id ?? '-', wide: true },
    { head: 'STATUS', cell: (m) => m.status },
    { head: 'PEER ADDRS', cell: (m) => m.peerUrls.join(', '), wide: true },
    { head: 'CLIENT ADDRS', cell: (m) => m.clientUrls.join(', ') || '-' },
    { head: 'LEARNER', cell: (m) => (m.isLearner ? 'yes' : 'no') },
    { head: 'LEADER', cell: (m) => (m.isLeader ? 'yes' : '') },
    { head: 'HEALTH', cell: (m) => (m.healthy ? 'ok' : (m.healthError ?? 'unhealthy')) },
    { head: 'LAG', cell: (m) => (m.lag === undefined ? '-' : String(m.lag)) },
    { head: 'DATA DIR', cell: (m) => m.dataDirState ?? '-' },
  ];
  const leader = list.members.find((m) => m.isLeader);
  const summary = `cluster ${list.clusterId ?? '?'}: ${list.members.filter((m) => m.status !== 'not a member').length} members, ${leader ? `leader ${leader.name || leader.id}` : 'no leader'}`;
  return `${renderColumns(columns, list.members, format)}\n${summary}`;
}

export async function memberChangeCommand(
  options: ForceOptions,
  operation: 'add' | 'remove' | 'replace',
  target: string | undefined,
): Promise<number> {
  const { printJson, progress, renderTable } = await import('../output.js');
  const { host, connection } = await localHost(options, operation !== 'remove');
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted; run the same command again to finish the job'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const base: MembershipOptions = {
    host,
    connection,
    signal: abort.signal,
    onProgress: (message) => progress(options.output, message),
  };
  let report: MembershipReport;
  try {
    if (operation === 'add') {
      report = await (await import('../../engine/members/add.js')).addMember({ ...base, name: target });
    } else if (operation === 'remove') {
      report = await (
        await import('../../engine/members/remove.js')
      ).removeMember({
        ...base,
        target: target as string,
        force: options.force,
      });
    } else {
      report = await (
        await import('../../engine/members/replace.js')
      ).replaceMember({
        ...base,
        name: target as string,
        force: options.force,
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (options.output === 'json') {
    printJson(report);
  } else {
    const rows = report.steps.map((s) => [s.step, s.outcome, `${(s.tookMs / 1000).toFixed(1)} s`, s.detail]);
    process.stdout.write(
      `${renderTable(['STEP', 'OUTCOME', 'TOOK', 'DETAIL'], rows)}\n${report.operation} ${report.member}: done (id ${report.id ?? '-'})\n`,
    );
  }
  return 0;
}
