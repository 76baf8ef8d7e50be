import { Command, Option } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `backup` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildBackupCommand(exit: ExitCode): Command {
  const run = runner(exit);
  const backup = new Command('backup')
    .description(
      'snapshots into files/NFS or S3, with a catalog: create, list, verify, prune, delete, import, compact',
    )
    .option(
      '--storage <url>',
      "backup storage: file:///DIR, a path, or s3://BUCKET/PREFIX?endpoint=…&region=… (default: the spec's backup.storage)",
    )
    .option(
      '--identity <file>',
      'age identity (secret key) file for encrypted backups (else $ETCD_STEWARD_AGE_IDENTITY_FILE, the spec)',
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
    .command('reencrypt')
    .description(
      "rewrite backups and change-log segments for backup.encryption's current recipients (after adding or removing a key)",
    )
    .argument('[name]', 'one backup (default with --all: every backup and every change-log segment)')
    .option('--all', 'every backup and every change-log segment')
    .action(function (this: Command, name: string | undefined) {
      return backupAction((m) => m.backupReencryptCommand(name, globals(this)))();
    });
  backup
    .command('keygen')
    .description(
      'create an age identity (secret key) file and print its public key, for backup.encryption.recipients',
    )
    .requiredOption(
      '--out <file>',
      'where to write the secret key (created with mode 0600; never overwritten)',
    )
    .action(function (this: Command) {
      return backupAction((m) => m.backupKeygenCommand(globals(this)))();
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
  backup
    .command('compact')
    .description(
      'fold a chain (a backup + its change log) into a new full backup offline, check it, store it: the log goes on from it',
    )
    .argument('[backup]', "the chain's backup (default: latest, the newest backup)")
    .addOption(new Option('--compression <kind>', 'compress the stored snapshot').choices(['gzip', 'none']))
    .action(function (this: Command, name: string | undefined) {
      return run(async () =>
        (await import('./backup-compact.js')).backupCompactCommand(name, globals(this)),
      )();
    });
  return backup;
}
