import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';
import type { StatusFlags } from './status.js';

/** The `status` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildStatusCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return new Command('status')
    .description(
      'one row per member: etcdctl endpoint status columns + health, fragmentation, quota use, alarms; exit 1 unless every member was asked and is healthy',
    )
    .option(
      '--cluster',
      "ask every member the member list names (at its client URL), not only the given endpoints (as etcdctl's --cluster)",
    )
    .action(function (this: Command) {
      return run(async () => (await import('./status.js')).statusCommand(globals<StatusFlags>(this)))();
    });
}
