import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** Flags shared by `upgrade` and `downgrade`. */
function withVersionFlags(command: Command): Command {
  return command
    .requiredOption(
      '--to <version>',
      'the etcd version: a line (3.6: its newest installed patch) or a release (3.6.16)',
    )
    .option('--storage <url>', "where the backup taken first goes (default: the spec's backup.storage)")
    .option(
      '--skip-backup-i-have-one',
      'skip the verified backup taken before the first member changes (you keep your own)',
    )
    .option(
      '--skip-v2store-check',
      "skip `etcdutl check v2store` on a copy of a member's 3.5 data (3.5 → 3.6 only)",
    )
    .option('--member-timeout <duration>', 'how long one member may take to come back healthy', '90s')
    .option('--dry-run', 'run the pre-flight checks and print the order; change nothing');
}

/** The `upgrade` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildUpgradeCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return withVersionFlags(
    new Command('upgrade').description(
      'rolling etcd upgrade (or back to the old version while the cluster version has not moved): pre-flight checks, a verified backup, followers first, the leader last',
    ),
  ).action(function (this: Command) {
    return run(async () => (await import('./upgrade.js')).upgradeCommand(globals(this), 'upgrade'))();
  });
}

/** The `downgrade` command: etcd's downgrade API (3.6+), then binaries one by one. */
export function buildDowngradeCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return withVersionFlags(
    new Command('downgrade').description(
      "one minor line down through etcd's downgrade API (validate, enable), then binaries one by one, the leader last",
    ),
  ).action(function (this: Command) {
    return run(async () => (await import('./upgrade.js')).upgradeCommand(globals(this), 'downgrade'))();
  });
}
