/**
 * `etcd-steward backup create|list|verify|prune|delete|import`: snapshots into the spec's storage
 * (or --storage/--to URL), with a catalog of manifests.
 */
import v8 from 'node:v8';
import { formatBytes, parseDuration } from '../../config/units.js';
import type { Spec } from '../../config/spec.js';
import { findBackup, readCatalog } from '../../engine/backup/catalog.js';
import { createBackup, type BackupProgress } from '../../engine/backup/create.js';
import { importBackup } from '../../engine/backup/import.js';
import type { BackupManifest } from '../../engine/backup/manifest.js';
import { deleteBackup, pruneBackups } from '../../engine/backup/prune.js';
import type { RetentionRule } from '../../engine/backup/retention.js';
import { verifyBackup } from '../../engine/backup/verify.js';
import { InputError } from '../../errors.js';
import { resolveEtcd } from '../../runtime/etcd-binaries.js';
import type { DrillResult } from '../../engine/backup/drill.js';
import { clusterTarget, connectionFor, loadSpec, storageFor, type GlobalOptions } from '../context.js';
import {
  printJson,
  progress,
  renderColumns,
  renderTable,
  type Column,
  type OutputFormat,
} from '../output.js';
import { byteProgress } from '../progress.js';
import { encryptionFor, keysFor } from '../../engine/backup/spec-keys.js';

// A snapshot streams through as ~32 KiB buffers whose memory lives outside V8's heap; with V8's
// default 16 MiB young generation they pile up between minor GCs. A 1 MiB young generation freed
// them sooner: peak RSS of a 256 MiB create 124-129 → 88 MiB, no slower (measured, docs/benchmarks.md).
v8.setFlagsFromString('--max-semi-space-size=1');

export interface BackupOptions extends GlobalOptions {
  readonly storage?: string;
  readonly to?: string;
  readonly member?: string;
  readonly compression?: 'gzip' | 'none';
  /** import: accept a snapshot file without etcd's SHA-256 trailer. */
  readonly skipHashCheck?: boolean;
  readonly prune?: boolean;
  readonly dryRun?: boolean;
  readonly all?: boolean;
  readonly keepLast?: string;
  readonly maxAge?: string;
  readonly drill?: boolean;
  /** An age identity file for encrypted backups. */
  readonly identity?: string;
  /** keygen: the identity file to create. */
  readonly out?: string;
}

function retentionRule(options: BackupOptions, spec: Spec | undefined): RetentionRule {
  const keepLast = options.keepLast === undefined ? undefined : Number(options.keepLast);
  if (keepLast !== undefined && (!Number.isInteger(keepLast) || keepLast < 1)) {
    throw new InputError(`--keep-last ${options.keepLast}: give a whole number ≥ 1`);
  }
  let maxAgeMs: number | undefined;
  if (options.maxAge !== undefined) {
    try {
      maxAgeMs = parseDuration(options.maxAge);
    } catch (error) {
      throw new InputError(`--max-age: ${(error as Error).message}`);
    }
  }
  if (keepLast !== undefined || maxAgeMs !== undefined) return { keepLast, maxAgeMs };
  const rule = spec?.backup?.retention;
  return { keepLast: rule?.keepLast ?? 7, maxAgeMs: rule?.maxAgeMs };
}

function onSignalAbort(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const abort = () => controller.abort(new InputError('interrupted'));
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
    },
  };
}

export async function backupCreateCommand(options: BackupOptions): Promise<number> {
  const target = await clusterTarget(options);
  const spec = target.spec;
  const storage = await storageFor(options, spec);
  const bar = await byteProgress(options.output, 'snapshot');
  const { signal, dispose } = onSignalAbort();
  try {
    const manifest = await createBackup({
      clusterName: target.name,
      endpoints: typeof target.endpoints === 'string' ? target.endpoints.split(',') : target.endpoints,
      names: target.names,
      connection: connectionFor(options, spec),
      storage,
      compression: options.compression ?? spec?.backup?.compression ?? 'gzip',
      encryption: await encryptionFor(spec),
      member: options.member ?? spec?.backup?.member,
      specQuota: spec?.etcd.quotaBackendBytes,
      signal,
      onProgress: (p: BackupProgress) => {
        if (p.phase === 'snapshot') bar.update(p.bytes, p.total);
        if (p.phase === 'check') {
          bar.stop();
          progress(options.output, `checking the snapshot (${formatBytes(p.bytes)})`);
        }
      },
    });
    bar.stop();
    const pruned =
      options.prune === false
        ? undefined
        : await pruneBackups({ storage, rule: retentionRule(options, spec), signal });
    if (options.output === 'json') {
      printJson({ storage: storage.displayUrl, backup: manifest, pruned: pruned?.removed ?? [] });
    } else {
      process.stdout.write(`${backupTable([manifest], options.output)}\n`);
      progress(options.output, `stored in ${storage.displayUrl}`);
      if (pruned?.removed.length) progress(options.output, `pruned: ${pruned.removed.join(', ')}`);
    }
    return 0;
  } finally {
    bar.stop();
    dispose();
  }
}

export async function backupListCommand(options: BackupOptions): Promise<number> {
  const spec = await loadSpec(options, false);
  const storage = await storageFor(options, spec);
  const catalog = await readCatalog(storage);
  const { chainsOf } = await import('./backup-chains.js');
  const chains = await chainsOf(storage, catalog.backups);
  if (options.output === 'json') {
    printJson({
      storage: storage.displayUrl,
      backups: catalog.backups,
      unreadable: catalog.unreadable,
      ...chains.json,
    });
    return 0;
  }
  if (catalog.backups.length === 0) progress(options.output, `no backups in ${storage.displayUrl}`);
  else process.stdout.write(`${backupTable(catalog.backups, options.output)}\n`);
  if (chains.text) process.stdout.write(`${chains.text}\n`);
  for (const u of catalog.unreadable)
    progress(options.output, `warning: ${u.key} is not a readable manifest: ${u.reason}`);
  return 0;
}

export async function backupVerifyCommand(name: string | undefined, options: BackupOptions): Promise<number> {
  const spec = await loadSpec(options, false);
  const storage = await storageFor(options, spec);
  const catalog = await readCatalog(storage);
  if (!options.all && name === undefined)
    throw new InputError('name a backup to verify (or latest), or pass --all');
  const chosen = options.all ? catalog.backups : [findBackup(catalog, name as string)];
  const keys = await keysFor(options, spec);
  const results = [];
  const { signal, dispose } = onSignalAbort();
  try {
    for (const manifest of chosen) {
      const bar = await byteProgress(options.output, `verify ${manifest.name}`);
      try {
        results.push(
          await verifyBackup({
            storage,
            manifest,
            keys,
            signal,
            onBytes: (bytes, total) => bar.update(bytes, total),
          }),
        );
      } finally {
        bar.stop();
      }
    }
  } finally {
    dispose();
  }
  // A drill restores each backup that verified into a throwaway cluster and records the result.
  const drills: DrillResult[] = [];
  if (options.drill) {
    const { drillBackup } = await import('../../engine/backup/drill.js');
    const binaries = await resolveEtcd(spec?.etcd.version ?? '3.6', options.etcdBin ?? spec?.etcd.bin);
    for (const result of results.filter((r) => r.ok)) {
      progress(options.output, `drill: restoring ${result.name} into a throwaway cluster`);
      drills.push(await drillBackup({ storage, manifest: result.manifest, binaries, keys }));
    }
  }
  if (options.output === 'json') printJson({ storage: storage.displayUrl, results, drills });
  else {
    process.stdout.write(
      `${renderTable(
        ['NAME', 'RESULT', 'PROBLEMS', ...(options.drill ? ['DRILL'] : [])],
        results.map((r) => {
          const drill = drills.find((d) => d.name === r.name);
          return [
            r.name,
            r.ok ? 'ok' : 'FAILED',
            r.problems.join('; ') ||
              (r.manifest.lastVerification.scope === 'stored'
                ? 'encrypted: stored bytes checked; give --identity to check the contents'
                : '-'),
            ...(options.drill
              ? [drill ? `${drill.ok ? 'ok' : 'FAILED'}: ${drill.detail}` : 'not run (verify failed)']
              : []),
          ];
        }),
      )}\n`,
    );
  }
  return results.every((r) => r.ok) && drills.every((d) => d.ok) ? 0 : 1;
}

export async function backupPruneCommand(options: BackupOptions): Promise<number> {
  const spec = await loadSpec(options, false);
  const storage = await storageFor(options, spec);
  const result = await pruneBackups({
    storage,
    rule: retentionRule(options, spec),
    dryRun: options.dryRun === true,
  });
  if (options.output === 'json') {
    printJson({
      storage: storage.displayUrl,
      dryRun: options.dryRun === true,
      keep: result.keep,
      remove: result.remove,
      removed: result.removed,
    });
    return 0;
  }
  const rows = [
    ...result.remove.map((r) => [r.name, options.dryRun ? 'would remove' : 'removed', r.reason]),
    ...result.keep.map((r) => [r.name, 'keep', r.reason]),
  ];
  if (rows.length === 0) progress(options.output, `no backups in ${storage.displayUrl}`);
  else process.stdout.write(`${renderTable(['NAME', 'ACTION', 'WHY'], rows)}\n`);
  return 0;
}

export async function backupDeleteCommand(name: string, options: BackupOptions): Promise<number> {
  const spec = await loadSpec(options, false);
  const storage = await storageFor(options, spec);
  const manifest = findBackup(await readCatalog(storage), name);
  await deleteBackup(storage, manifest);
  if (options.output === 'json') printJson({ storage: storage.displayUrl, deleted: manifest.name });
  else progress(options.output, `deleted ${manifest.name} from ${storage.displayUrl}`);
  return 0;
}

export async function backupReencryptCommand(
  name: string | undefined,
  options: BackupOptions,
): Promise<number> {
  const spec = await loadSpec(options, false);
  if (!options.all && name === undefined)
    throw new InputError('name a backup to re-encrypt (or latest), or pass --all');
  const settings = await encryptionFor(spec);
  if (!settings) {
    throw new InputError('the spec has no backup.encryption: there is nothing to re-encrypt to', {
      hint: 'add backup.encryption.recipients (age1… public keys) to the spec (docs/backups.md, "Keys and rotation")',
    });
  }
  const storage = await storageFor(options, spec);
  const names = options.all ? undefined : [findBackup(await readCatalog(storage), name as string).name];
  const { reencryptBackups } = await import('../../engine/backup/reencrypt.js');
  const { signal, dispose } = onSignalAbort();
  try {
    const result = await reencryptBackups({
      storage,
      clusterName: spec?.name ?? 'etcd',
      settings,
      keys: await keysFor(options, spec),
      names,
      signal,
      onProgress: (message) => progress(options.output, message),
    });
    if (options.output === 'json') printJson({ storage: storage.displayUrl, ...result });
    else {
      process.stdout.write(
        `${renderTable(
          ['NAME', 'RESULT', 'DETAIL'],
          result.backups.map((b) => [b.name, b.outcome, b.detail]),
        )}
`,
      );
      if (options.all) {
        const s = result.segments;
        progress(
          options.output,
          `change-log segments: ${s.reencrypted} re-encrypted, ${s.current} already current, ${s.failed} failed${s.firstProblem ? ` (${s.firstProblem})` : ''}`,
        );
      }
    }
    return result.backups.some((b) => b.outcome === 'failed') || result.segments.failed > 0 ? 1 : 0;
  } finally {
    dispose();
  }
}

export async function backupKeygenCommand(options: BackupOptions): Promise<number> {
  const { generateIdentityFile } = await import('../../engine/backup/encryption.js');
  const recipient = await generateIdentityFile(options.out as string);
  if (options.output === 'json') printJson({ identityFile: options.out, recipient });
  else {
    process.stdout.write(`${recipient}\n`);
    progress(
      options.output,
      `secret key written to ${options.out as string} (mode 0600): keep it away from the backups; put the public key above into backup.encryption.recipients`,
    );
  }
  return 0;
}

export async function backupImportCommand(file: string, options: BackupOptions): Promise<number> {
  const spec = await loadSpec(options, false);
  const storage = await storageFor(options, spec);
  const bar = await byteProgress(options.output, 'import');
  try {
    const manifest = await importBackup({
      file,
      storage,
      clusterName: spec?.name ?? 'etcd',
      compression: options.compression ?? spec?.backup?.compression ?? 'gzip',
      encryption: await encryptionFor(spec),
      onBytes: (bytes) => bar.update(bytes),
      skipHashCheck: options.skipHashCheck,
    });
    bar.stop();
    if (options.output === 'json') printJson({ storage: storage.displayUrl, backup: manifest });
    else process.stdout.write(`${backupTable([manifest], options.output)}\n`);
    return 0;
  } finally {
    bar.stop();
  }
}

/** The backup table: one row per backup, oldest first. */
export function backupTable(backups: readonly BackupManifest[], format: OutputFormat = 'table'): string {
  const verifiedAt = (b: BackupManifest) => b.lastVerification.at.slice(0, 16).replace('T', ' ');
  const columns: Column<BackupManifest>[] = [
    { head: 'NAME', cell: (b) => b.name },
    { head: 'CREATED', cell: (b) => b.createdAt.slice(0, 16).replace('T', ' ') },
    { head: 'REVISION', cell: (b) => String(b.revision) },
    { head: 'KEYS', cell: (b) => String(b.keyCount) },
    { head: 'SIZE', cell: (b) => formatBytes(b.size) },
    {
      head: 'STORED',
      cell: (b) =>
        `${formatBytes(b.storedSize)}${b.compression === 'gzip' ? ' gz' : ''}${b.encryption ? ' age' : ''}`,
      wide: true,
    },
    {
      head: 'FROM',
      cell: (b) => (b.source === 'import' ? 'import' : (b.member.name ?? b.member.endpoint ?? '-')),
      wide: true,
    },
    { head: 'VERIFIED', cell: (b) => (b.lastVerification.ok ? 'ok' : 'FAILED') },
    {
      head: 'VERIFIED BY',
      cell: (b) => `${b.lastVerification.by}, ${verifiedAt(b)}`,
      wide: true,
    },
  ];
  return renderColumns(columns, backups, format);
}
