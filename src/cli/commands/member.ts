/**
 * `etcd-steward member list | add [NAME] | remove NAME|ID | replace NAME`: membership of the
 * spec's local cluster, every change through a learner. Builds its own commander command; the
 * engine (engine/members/) is loaded only when one runs.
 */
import { Command } from 'commander';
import type { MemberList } from '../../engine/members/survey.js';
import type { MembershipOptions, MembershipReport } from '../../engine/members/steps.js';
import type { GlobalOptions } from '../context.js';

interface ForceOptions extends GlobalOptions {
  readonly force?: boolean;
}

/** The `member` command with its subcommands; each action stores its exit code in `exit.code`. */
export function memberCommand(exit: { code: number }): Command {
  const member = new Command('member').description(
    "the local cluster's members: list, add, remove, replace (every new member joins as a learner and is promoted once caught up)",
  );
  const run = <A extends unknown[]>(fn: (options: ForceOptions, ...args: A) => Promise<number>) =>
    async function (this: Command, ...args: A) {
      exit.code = await fn(this.optsWithGlobals<ForceOptions>(), ...args);
    };
  member
    .command('list')
    .description(
      "etcdctl's member list columns + leader, health, raft lag behind the leader, the member's data dir",
    )
    .action(run(memberListCommand));
  member
    .command('add')
    .description(
      'add a member: recorded with its own ports, added as a learner, started, promoted when caught up',
    )
    .argument('[name]', 'its name (default: the next free CLUSTER-N)')
    .action(run((options, name: string | undefined) => memberChangeCommand(options, 'add', name)));
  member
    .command('remove')
    .description('remove a member: refuses to lose quorum, hands leadership away first, stops its process')
    .argument('<member>', 'a member name or id (hex)')
    .option('--force', 'remove it even if the cluster loses quorum (the refusal says what would happen)')
    .action(run((options, target: string) => memberChangeCommand(options, 'remove', target)));
  member
    .command('replace')
    .description(
      'bring back a member whose data is lost or damaged: remove its old id, move its data aside, add it again as a learner under the same name and ports, promote',
    )
    .argument('<name>', 'the member name')
    .option('--force', 'replace it even though it is healthy')
    .action(run((options, name: string) => memberChangeCommand(options, 'replace', name)));
  return member;
}

async function localHost(options: GlobalOptions, withBinaries: boolean) {
  const { loadSpec, requireLocal, connectionFor } = await import('../context.js');
  const { LocalMembershipHost } = await import('../../runtime/local/membership.js');
  const spec = requireLocal((await loadSpec(options, true))!, 'member');
  const binaries = withBinaries
    ? await (
        await import('../../runtime/etcd-binaries.js')
      ).resolveEtcd(spec.etcd.version, options.etcdBin ?? spec.etcd.bin)
    : undefined;
  return { host: new LocalMembershipHost(spec, binaries), connection: connectionFor(options, spec) };
}

async function memberListCommand(options: GlobalOptions): Promise<number> {
  const { listMembers } = await import('../../engine/members/survey.js');
  const { printJson } = await import('../output.js');
  const list = await listMembers(await localHost(options, false));
  if (options.output === 'json') printJson(list);
  else process.stdout.write(`${await formatMemberList(list)}\n`);
  return 0;
}

/** The member list table and a line naming the leader. */
export async function formatMemberList(list: MemberList): Promise<string> {
  const { renderTable } = await import('../output.js');
  const head = [
    'ID',
    'STATUS',
    'NAME',
    'PEER ADDRS',
    'CLIENT ADDRS',
    'IS LEARNER',
    'LEADER',
    'HEALTH',
    'LAG',
    'DATA DIR',
  ];
  const rows = list.members.map((m) => [
    m.id ?? '-',
    m.status,
    m.name || '-',
    m.peerUrls.join(', '),
    m.clientUrls.join(', ') || '-',
    String(m.isLearner),
    m.isLeader ? 'yes' : '',
    m.healthy ? 'ok' : (m.healthError ?? 'unhealthy'),
    m.lag === undefined ? '-' : String(m.lag),
    m.dataDirState ?? '-',
  ]);
  const leader = list.members.find((m) => m.isLeader);
  const summary = `cluster ${list.clusterId ?? '?'}: ${list.members.filter((m) => m.status !== 'not a member').length} members, ${leader ? `leader ${leader.name || leader.id}` : 'no leader'}`;
  return `${renderTable(head, rows)}\n${summary}`;
}

async function memberChangeCommand(
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
