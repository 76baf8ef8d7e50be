import { Command, Option } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `backup` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildBackupCommand(exit: ExitCode): Command {
  const run = runner(exit);
  const backup = new Command('backup')
    .description(
      'snapshots into files/NFS or S3, with a catalog: create, list, verify, prune, delete, import',
    )
    .option(
      '--storage <url>',
      "backup storage: file:///DIR, a path, or s3://BUCKET/PREFIX?endpoint=…&region=… (default: the spec's backup.storage)",
    );
  const backupAction = (load: (m: typeof import('./backup.js')) => Promise<number>) =>
    run(async () => load(await import('./backup.js')));
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
  return backup;
}
