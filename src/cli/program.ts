/**
 * The etcd-steward program: the global flags and every command, built without running anything
 * (importing this module has no side effects), so that a test can look at it. Each command's
 * flags, help and action are in its own cli/commands/NAME.command.ts; a command's code (and its
 * dependencies) loads only when its action runs.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { ExitCode } from './action.js';
import { EXAMPLES } from './examples.js';
import { buildUpCommand } from './commands/up.command.js';
import { buildDownCommand } from './commands/down.command.js';
import { buildStatusCommand } from './commands/status.command.js';
import { buildBackupCommand } from './commands/backup.command.js';
import { buildSnapshotCommand } from './commands/snapshot.command.js';
import { buildRestoreCommand } from './commands/restore.command.js';
import { buildRestoreMemberCommand } from './commands/restore-member.command.js';
import { buildMemberInitCommand } from './commands/member-init.command.js';
import { buildDefragCommand } from './commands/defrag.command.js';
import { buildDowngradeCommand, buildUpgradeCommand } from './commands/upgrade.command.js';
import { buildServeCommand } from './commands/serve.command.js';
import { buildRenderCommand } from './commands/render.command.js';
import { buildImportCommand } from './commands/import.command.js';
import { buildAdoptCommand } from './commands/adopt.command.js';
import { buildApplyCommand } from './commands/apply.command.js';
import { buildAuthCommand } from './commands/auth.command.js';
import { buildGreptimedbCommand } from './commands/greptimedb.command.js';
import { buildInstallEtcdCommand } from './commands/install-etcd.command.js';
import { buildMemberCommand } from './commands/member.command.js';
import { buildRecoverCommand } from './commands/recover.command.js';
import { buildCompleteCommand, buildCompletionCommand } from './commands/completion.command.js';
import { buildVersionCommand } from './commands/version.command.js';
import { buildCertsCommand } from './commands/certs.command.js';

const OUTPUT_FORMATS = ['table', 'wide', 'json'];

/** Builds the program; each action stores its exit code in `exit`. */
export function buildProgram(exit: ExitCode): Command {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  const program = new Command('etcd-steward')
    .description('Runs, backs up, restores, watches and defragments etcd clusters.')
    .version(pkg.version, '-v, --version')
    .option('-c, --config <file>', 'cluster spec (default: ./steward.yaml)')
    .addOption(
      new Option('-o, --output <format>', 'output format (wide: every column)')
        .choices(OUTPUT_FORMATS)
        .default('table')
        .env('ETCDCTL_WRITE_OUT'),
    )
    .addOption(
      // etcdctl's name for the same flag; given, it wins over -o.
      new Option('-w, --write-out <format>', 'the same as -o (etcdctl’s name)').choices(OUTPUT_FORMATS),
    )
    .option('--endpoints <list>', 'comma-separated member endpoints (env ETCDCTL_ENDPOINTS)')
    .option('--cacert <file>', 'verify members with this CA bundle (env ETCDCTL_CACERT)')
    .option('--cert <file>', 'client certificate (env ETCDCTL_CERT)')
    .option('--key <file>', 'client key (env ETCDCTL_KEY)')
    .option(
      '--insecure-skip-tls-verify',
      'do not verify member certificates (env ETCDCTL_INSECURE_SKIP_TLS_VERIFY)',
    )
    .option('--user <name[:password]>', 'user for authentication (env ETCDCTL_USER)')
    .option('--password <password>', 'password for --user (env ETCDCTL_PASSWORD; prefer the env)')
    .option('--dial-timeout <duration>', 'time to connect to a member (env ETCDCTL_DIAL_TIMEOUT)', undefined)
    .option('--command-timeout <duration>', 'time for one request (env ETCDCTL_COMMAND_TIMEOUT)', undefined)
    .option('--etcd-bin <file>', 'etcd binary to run (env ETCD_BIN); etcdctl/etcdutl beside it')
    .showSuggestionAfterError(true)
    // Every command's help ends with these, as etcdctl's does.
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });

  program.addCommand(buildUpCommand(exit));
  program.addCommand(buildDownCommand(exit));
  program.addCommand(buildStatusCommand(exit));
  program.addCommand(buildBackupCommand(exit));
  program.addCommand(buildSnapshotCommand(exit));
  program.addCommand(buildRestoreCommand(exit));
  program.addCommand(buildRestoreMemberCommand(exit));
  program.addCommand(buildDefragCommand(exit));
  program.addCommand(buildUpgradeCommand(exit));
  program.addCommand(buildDowngradeCommand(exit));
  program.addCommand(buildMemberCommand(exit));
  program.addCommand(buildRecoverCommand(exit));
  program.addCommand(buildMemberInitCommand(exit));
  program.addCommand(buildServeCommand(exit));
  program.addCommand(buildRenderCommand(exit));
  program.addCommand(buildImportCommand(exit));
  program.addCommand(buildAuthCommand(exit));
  program.addCommand(buildAdoptCommand(exit));
  program.addCommand(buildApplyCommand(exit));
  program.addCommand(buildGreptimedbCommand(exit));
  program.addCommand(buildInstallEtcdCommand(exit));
  program.addCommand(buildCertsCommand(exit));
  program.addCommand(buildVersionCommand(exit, pkg.version));
  program.addCommand(buildCompletionCommand(exit));
  program.addCommand(
    buildCompleteCommand(exit, () => program),
    { hidden: true },
  );
  inheritSettings(program);
  addExamples(program, []);
  return program;
}

/**
 * What `program.command()` would have copied into each subcommand (error handling, output,
 * suggestions, help): commands built on their own and added get it here, at every depth.
 */
function inheritSettings(parent: Command): void {
  for (const command of parent.commands) {
    command.copyInheritedSettings(parent);
    inheritSettings(command);
  }
}

/** Appends each command's examples (examples.ts) to its --help. */
function addExamples(parent: Command, path: readonly string[]): void {
  for (const command of parent.commands) {
    const here = [...path, command.name()];
    const examples = EXAMPLES[here.join(' ')];
    if (examples) command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}\n`);
    addExamples(command, here);
  }
}
