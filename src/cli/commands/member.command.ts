import { Command } from 'commander';
import { globals, type ExitCode } from '../action.js';
import type { ForceOptions } from './member.js';

/** The `member` command with its subcommands; each action stores its exit code in `exit.code`. */
export function buildMemberCommand(exit: ExitCode): Command {
  const member = new Command('member').description(
    "the local cluster's members: list, add, remove, replace (every new member joins as a learner and is promoted once caught up)",
  );
  const run = <A extends unknown[]>(fn: (options: ForceOptions, ...args: A) => Promise<number>) =>
    async function (this: Command, ...args: A) {
      exit.code = await fn(globals<ForceOptions>(this), ...args);
    };
  member
    .command('list')
    .description(
      "etcdctl's member list columns + leader, health, raft lag behind the leader, the member's data dir",
    )
    .action(run(async (options) => (await import('./member.js')).memberListCommand(options)));
  member
    .command('add')
    .description(
      'add a member: recorded with its own ports, added as a learner, started, promoted when caught up',
    )
    .argument('[name]', 'its name (default: the next free CLUSTER-N)')
    .action(
      run(async (options, name: string | undefined) =>
        (await import('./member.js')).memberChangeCommand(options, 'add', name),
      ),
    );
  member
    .command('remove')
    .description('remove a member: refuses to lose quorum, hands leadership away first, stops its process')
    .argument('<member>', 'a member name or id (hex)')
    .option('--force', 'remove it even if the cluster loses quorum (the refusal says what would happen)')
    .action(
      run(async (options, target: string) =>
        (await import('./member.js')).memberChangeCommand(options, 'remove', target),
      ),
    );
  member
    .command('replace')
    .description(
      'bring back a member whose data is lost or damaged: remove its old id, move its data aside, add it again as a learner under the same name and ports, promote',
    )
    .argument('<name>', 'the member name')
    .option('--force', 'replace it even though it is healthy')
    .action(
      run(async (options, name: string) =>
        (await import('./member.js')).memberChangeCommand(options, 'replace', name),
      ),
    );
  return member;
}
