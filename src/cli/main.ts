#!/usr/bin/env node
/**
 * The etcd-steward command line. Parses flags, calls one command, prints, and is the only place
 * that exits: 0 ok, 1 failure, 2 bad usage or input.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { StewardError, describeError } from '../errors.js';
import type { GlobalOptions } from './context.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** Builds the program; each action stores its exit code in `exit`. */
export function buildProgram(exit: { code: number }): Command {
  const program = new Command('etcd-steward')
    .description('Runs, backs up, restores, watches and defragments etcd clusters.')
    .version(pkg.version, '-v, --version')
    .option('-c, --config <file>', 'cluster spec (default: ./steward.yaml)')
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'),
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
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });

  const globals = <T extends GlobalOptions>(command: Command) => command.optsWithGlobals<T>();
  const run = (fn: () => Promise<number>) => async () => {
    exit.code = await fn();
  };

  program
    .command('up')
    .description("start the spec's local cluster and wait until it is healthy (foreground until Ctrl-C)")
    .option('-d, --detach', 'return once healthy and leave the members running')
    .option(
      '--serve',
      'then run the agent (API, metrics, dashboard, schedules) in the same process; Ctrl-C stops both',
    )
    .option(
      '--listen <host:port>',
      "with --serve: where the API listens (default: the spec's monitoring.listen)",
    )
    .action(function (this: Command) {
      return run(async () => (await import('./commands/up.js')).upCommand(globals(this)))();
    });

  program
    .command('down')
    .description("stop the spec's local cluster (SIGTERM, then SIGKILL after 10 s)")
    .option('--purge', "also remove the members' data and logs")
    .action(function (this: Command) {
      return run(async () => (await import('./commands/down.js')).downCommand(globals(this)))();
    });

  program
    .command('status')
    .description(
      'one row per member: etcdctl endpoint status columns + health, fragmentation, quota use, alarms; exit 1 unless all healthy',
    )
    .action(function (this: Command) {
      return run(async () => (await import('./commands/status.js')).statusCommand(globals(this)))();
    });

  const backup = program
    .command('backup')
    .description(
      'snapshots into files/NFS or S3, with a catalog: create, list, verify, prune, delete, import',
    )
    .option(
      '--storage <url>',
      "backup storage: file:///DIR, a path, or s3://BUCKET/PREFIX?endpoint=…&region=… (default: the spec's backup.storage)",
    );
  const backupAction = (load: (m: typeof import('./commands/backup.js')) => Promise<number>) =>
    run(async () => load(await import('./commands/backup.js')));
  backup
    .command('create')
    .description(
      'stream a snapshot from a healthy member (a follower if any) into storage, check it, catalog it, then prune',
    )
    .option('--to <url>', 'storage to write to (overrides --storage and the spec)')
    .option('--member <name|endpoint>', 'snapshot from this member')
    .addOption(new Option('--compression <kind>', 'compress the stored snapshot').choices(['gzip', 'none']))
    .option('--no-prune', 'do not apply the retention rule afterwards')
    .action(function (this: Command) {
      return backupAction((m) => m.backupCreateCommand(globals(this)))();
    });
  backup
    .command('list')
    .description('the catalog: every backup with its manifest (oldest first)')
    .action(function (this: Command) {
      return backupAction((m) => m.backupListCommand(globals(this)))();
    });
  backup
    .command('verify')
    .description(
      're-read stored backups: SHA-256, etcd trailer, bolt pages, revision and key count; exit 1 if any fails',
    )
    .argument('[name]', 'a backup name, or latest')
    .option('--all', 'verify every backup')
    .option(
      '--drill',
      'also restore each into a throwaway single-member cluster, compare, and record the result',
    )
    .action(function (this: Command, name: string | undefined) {
      return backupAction((m) => m.backupVerifyCommand(name, globals(this)))();
    });
  backup
    .command('prune')
    .description('apply the retention rule; the newest verified backup is always kept')
    .option('--dry-run', 'only show what would be removed')
    .option('--keep-last <n>', "keep the newest N (default: the spec's backup.retention.keepLast, else 7)")
    .option('--max-age <duration>', 'remove backups older than this, e.g. 7d')
    .action(function (this: Command) {
      return backupAction((m) => m.backupPruneCommand(globals(this)))();
    });
  backup
    .command('delete')
    .description('remove one backup (manifest first, then the snapshot)')
    .argument('<name>', 'a backup name, or latest')
    .action(function (this: Command, name: string) {
      return backupAction((m) => m.backupDeleteCommand(name, globals(this)))();
    });
  backup
    .command('import')
    .description(
      "check and catalog a snapshot made elsewhere (etcdctl snapshot save, the Bitnami chart's db-… files)",
    )
    .argument('<file>', 'snapshot file')
    .option('--to <url>', 'storage to write to (overrides --storage and the spec)')
    .addOption(new Option('--compression <kind>', 'compress the stored snapshot').choices(['gzip', 'none']))
    .option(
      '--skip-hash-check',
      "accept a snapshot file without etcd's SHA-256 trailer (a member's member/snap/db), as etcdutl's flag does",
    )
    .action(function (this: Command, file: string) {
      return backupAction((m) => m.backupImportCommand(file, globals(this)))();
    });

  const snapshot = program
    .command('snapshot')
    .description('read snapshot files and backups offline (no etcd needed): inspect, diff')
    .option('--storage <url>', "where to look up backup names (default: the spec's backup.storage)");
  const snapshotAction = (load: (m: typeof import('./commands/snapshot.js')) => Promise<number>) =>
    run(async () => load(await import('./commands/snapshot.js')));
  snapshot
    .command('inspect')
    .description(
      'revision, compaction, key count, sizes, members, trailer; with --keys/--values/--prefix the live keys',
    )
    .argument('<snapshot>', 'a snapshot file, a backup name, or latest')
    .option('--prefix <prefix>', 'only keys starting with this')
    .option('--keys', 'list the live keys')
    .option('--values', 'list the live keys with their values')
    .action(function (this: Command, target: string) {
      return snapshotAction((m) => m.snapshotInspectCommand(target, globals(this)))();
    });
  snapshot
    .command('diff')
    .description(
      'keys added, removed and changed from A to B (B: another snapshot, or the live cluster when left out)',
    )
    .argument('<a>', 'a snapshot file, a backup name, or latest')
    .argument('[b]', 'a snapshot file or backup; left out: the live cluster (--endpoints or the spec)')
    .option('--prefix <prefix>', 'only keys starting with this')
    .option('--keys', 'list each added, removed and changed key')
    .action(function (this: Command, a: string, b: string | undefined) {
      return snapshotAction((m) => m.snapshotDiffCommand(a, b, globals(this)))();
    });

  program
    .command('restore')
    .description(
      'verify a backup or snapshot file, build every member from it, start a new cluster, compare it with the snapshot',
    )
    .argument('<snapshot>', 'a backup name, latest, or a snapshot file')
    .option('--storage <url>', "where to look up backup names (default: the spec's backup.storage)")
    .option(
      '--new-cluster <name>',
      'start a new local cluster NAME beside the old one (the default; NAME defaults to SPEC-NAME-restored)',
    )
    .option('--into <dir>', "only build the members' data dirs under DIR (for other runtimes); start nothing")
    .option(
      '--replace',
      "stop the spec's own cluster and restore in its place (its data is moved aside, never deleted)",
    )
    .option('-y, --yes', 'go ahead although the live cluster has newer data than the snapshot')
    .option(
      '--skip-hash-check',
      "accept a snapshot file without etcd's SHA-256 trailer (a member's member/snap/db), as etcdutl's flag does",
    )
    .option(
      '--to-revision <revision>',
      'point in time: the newest backup at or before it (SNAPSHOT: latest, or a backup name) + the change log up to this revision',
    )
    .option(
      '--to-time <time>',
      'point in time: the last revision committed at or before this ISO 8601 time (e.g. 2026-12-04T15:04:05Z)',
    )
    .option(
      '--runtime <kind>',
      'local (default) or kubernetes: print the new cluster’s manifests, whose init containers restore each member',
    )
    .option(
      '--apply',
      'with --runtime kubernetes: apply the manifests (server-side) instead of printing them',
    )
    .option(
      '--greptimedb <cluster>',
      'with --runtime kubernetes: apply, wait until the new cluster is ready, then point this GreptimeDBCluster (NAME[.NAMESPACE]) at it',
    )
    .option(
      '--kubeconfig <file>',
      'with --apply: kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)',
    )
    .option('--context <name>', 'with --apply: kubeconfig context')
    .option('--wait', 'with --apply: wait until the new StatefulSet is ready (implied by --greptimedb)')
    .option('--timeout <duration>', 'for the wait (default 10m)')
    .action(function (this: Command, target: string) {
      return run(async () => (await import('./commands/restore.js')).restoreCommand(target, globals(this)))();
    });

  program
    .command('restore-member')
    .description(
      "(run by the Kubernetes restore init container) fetch and check a backup, build one member's data dir with etcdutl",
    )
    .argument('<backup>', 'a backup name, latest, or a snapshot file')
    .option('--storage <url>', "backup storage (default: the spec's backup.storage)")
    .requiredOption('--name <member>', 'the member name')
    .requiredOption('--data-dir <dir>', 'the data dir to build (left alone when it already holds data)')
    .requiredOption('--initial-cluster <list>', 'NAME=PEER_URL,… of the new cluster')
    .requiredOption('--initial-cluster-token <token>', 'the new cluster token')
    .requiredOption('--initial-advertise-peer-urls <url>', "this member's peer URL")
    .option('--etcdutl <file>', 'the etcdutl binary (default: etcdutl on PATH)')
    .option(
      '--skip-hash-check',
      "accept a snapshot file without etcd's SHA-256 trailer (a member's member/snap/db), as etcdutl's flag does",
    )
    .action(function (this: Command, target: string) {
      return run(async () =>
        (await import('./commands/restore-member.js')).restoreMemberCommand(target, globals(this)),
      )();
    });

  program
    .command('defrag')
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
      return run(async () => (await import('./commands/defrag.js')).defragCommand(globals(this)))();
    });

  program
    .command('serve')
    .description(
      "the agent: status poll, the spec's backup/defrag/drill schedules, HTTP API, /metrics and dashboard; SIGTERM stops it cleanly",
    )
    .option(
      '--listen <host:port>',
      "where the API listens (default: the spec's monitoring.listen, 127.0.0.1:9779)",
    )
    .option('--storage <url>', "backup storage (default: the spec's backup.storage)")
    .action(function (this: Command) {
      return run(async () => (await import('./commands/serve.js')).serveCommand(globals(this)))();
    });

  // `render` is a parent: each target is a subcommand (`render kubernetes` is added beside these).
  const render = program
    .command('render')
    .description('files for other tools on stdout: Prometheus alert rules, a Grafana dashboard, …')
    .option('--output-file <file>', 'write to FILE instead of stdout');
  const renderAction = (load: (m: typeof import('./commands/render.js')) => Promise<number>) =>
    run(async () => load(await import('./commands/render.js')));
  render
    .command('alerts')
    .description(
      "Prometheus alerting rules (YAML; -o json for JSON): etcd's mixin alerts plus the agent's backup/drill/defrag alerts",
    )
    .option('--etcd-job <regex>', "job label of the etcd members' scrape (default: .*etcd.*)")
    .option('--steward-job <regex>', "job label of the agent's scrape (default: .*steward.*)")
    .option(
      '--scrape-interval <duration>',
      "the etcd job's scrape interval; sets the peer-failure window (default: 30s)",
    )
    .option('--for <duration>', "replace every rule's `for:` hold time (e.g. 0s), for tests and demos")
    .action(function (this: Command) {
      return renderAction((m) => m.renderAlertsCommand(globals(this)))();
    });
  render
    .command('grafana')
    .description(
      "a Grafana dashboard (JSON) over etcd's metrics plus a row for the agent's; datasource picked on import",
    )
    .option(
      '--etcd-job <regex>',
      "offer only etcd jobs matching this in the dashboard's job variable (default: .*etcd.*)",
    )
    .option(
      '--steward-job <regex>',
      "offer only agent jobs matching this in the dashboard's agent job variable (default: .*steward.*)",
    )
    .action(function (this: Command) {
      return renderAction((m) => m.renderGrafanaCommand(globals(this)))();
    });

  render
    .command('kubernetes')
    .description(
      'Kubernetes manifests: Services, StatefulSet, PodDisruptionBudget, the agent with RBAC, monitoring (YAML stream)',
    )
    .option('--output-dir <dir>', 'write one file per object and a kustomization.yaml into DIR')
    .action(function (this: Command) {
      return run(async () =>
        (await import('./commands/render-kubernetes.js')).renderKubernetesCommand(globals(this)),
      )();
    });

  const importer = program.command('import').description('a spec from another tool’s configuration');
  importer
    .command('bitnami')
    .description(
      "a runtime: kubernetes spec from the Bitnami etcd chart's values files (merged in Helm's order); unmapped values are warned",
    )
    .argument('[values...]', 'values files, merged in order (later wins)')
    .option(
      '--values <file>',
      'another values file (repeatable, merged after the arguments)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option('--out <file>', 'write the spec to FILE instead of stdout')
    .action(function (this: Command, files: string[]) {
      return run(async () =>
        (await import('./commands/import.js')).importBitnamiCommand(files, globals(this)),
      )();
    });

  program
    .command('apply')
    .description(
      "send the Kubernetes objects (server-side apply, field manager etcd-steward) to the kubeconfig's cluster; --wait until etcd is ready",
    )
    .option(
      '-f, --filename <file>',
      'apply the objects of this manifest stream (- for stdin) instead of those render kubernetes makes of the spec',
    )
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', 'kubeconfig context (default: its current-context)')
    .addOption(
      new Option('--dry-run <mode>', 'let the server validate and admit, store nothing').choices(['server']),
    )
    .option('--wait', 'wait until the StatefulSet is ready and the agent Deployment available')
    .option('--timeout <duration>', 'for --wait (default 10m)')
    .option('--force-conflicts', 'take over fields that another field manager owns')
    .action(function (this: Command) {
      return run(async () => (await import('./commands/apply.js')).applyCommand(globals(this)))();
    });

  program
    .command('greptimedb')
    .description('GreptimeDB on Kubernetes: point its metasrv at another etcd')
    .command('repoint')
    .description(
      "patch the GreptimeDBCluster's etcd endpoints (spec.meta.backendStorage.etcd.endpoints, or the older spec.meta.etcdEndpoints); the operator rolls metasrv",
    )
    .argument('<cluster>', 'NAME or NAME.NAMESPACE of the GreptimeDBCluster')
    .option(
      '--to <endpoints>',
      'the new etcd endpoints, host:port, comma-separated (the global --endpoints works too)',
    )
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', 'kubeconfig context (default: its current-context)')
    .addOption(
      new Option('--dry-run <mode>', 'let the server validate the patch, store nothing').choices(['server']),
    )
    .action(function (this: Command, cluster: string) {
      return run(async () =>
        (await import('./commands/greptimedb.js')).greptimeRepointCommand(cluster, globals(this)),
      )();
    });

  program
    .command('install-etcd')
    .description(
      'install etcd, etcdctl and etcdutl of the given lines (3.5 3.6 3.7; default all) into the cache',
    )
    .argument('[lines...]', 'release lines')
    .action((lines: string[]) =>
      run(async () => (await import('./commands/install-etcd.js')).installEtcdCommand(lines))(),
    );

  return program;
}

/**
 * grpc-js names the server by IP in TLS (for certificates with IP SANs, which etcd clusters use),
 * and Node warns about that on every connection; the warning tells a user nothing they can act on.
 */
function silenceIpServernameWarning(): void {
  const listeners = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error & { code?: string }) => {
    if (warning.code === 'DEP0123') return;
    for (const listener of listeners) listener(warning);
  });
}

async function main(argv: readonly string[]): Promise<number> {
  const exit = { code: 0 };
  const program = buildProgram(exit);
  try {
    if (argv.length <= 2) {
      program.outputHelp();
      return 2;
    }
    await program.parseAsync([...argv]);
    return exit.code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return 0;
      process.stderr.write("run 'etcd-steward --help' for the commands and flags\n");
      return 2;
    }
    if (error instanceof StewardError) {
      process.stderr.write(`error: ${error.message}\n`);
      if (error.hint) process.stderr.write(`hint: ${error.hint}\n`);
      return error.exitCode;
    }
    process.stderr.write(`error: ${describeError(error)}\n`);
    if (process.env['ETCD_STEWARD_DEBUG']) console.error(error);
    return 1;
  }
}

silenceIpServernameWarning();
process.exitCode = await main(process.argv);
// Members started in the foreground are stopped by then; detached ones are unref'd. Leave no handle open.
process.exit();
