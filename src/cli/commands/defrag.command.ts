import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `defrag` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildDefragCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return new Command('defrag')
    .description(
      'rule-based rolling defrag: healthy cluster first, followers one at a time, leadership moved, leader last',
    )
    .option(
      '--rule <expr>',
      "which members to defrag (default: the spec's defrag.rule, else dbQuotaUsage > 0.8 || dbSizeFree > 200MiB)",
    )
    .option(
      '--dry-run',
      'print the plan (members in order, rule values, what would be reclaimed); change nothing',
    )
    .option(
      '--compact',
      "compact to the current revision first (physical); default: the spec's defrag.compactFirst",
    )
    .option('--continue-on-error', 'go on with the next member when one fails')
    .action(function (this: Command) {
      return run(async () => (await import('./defrag.js')).defragCommand(globals(this)))();
    });
}
