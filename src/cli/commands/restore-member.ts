/**
 * `etcd-steward restore-member <backup> --name N --data-dir DIR --initial-cluster … --initial-cluster-token T
 *  --initial-advertise-peer-urls URL`: what the restore init container of a Kubernetes restore runs
 * for its own member — fetch the backup from the spec's storage (SHA-256 checked against its
 * manifest), check the snapshot (trailer, bolt pages), and build the member's data dir with
 * `etcdutl snapshot restore`. A data dir that already exists is left alone (the pod restarted after
 * its restore), and a half-built one never takes its place (built beside it, then renamed).
 */
import { execFile } from 'node:child_process';
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { findBackup, readCatalog } from '../../engine/backup/catalog.js';
import { fetchBackup, localSnapshot, type LocalSnapshot } from '../../engine/backup/fetch.js';
import { keysFor } from '../../engine/backup/spec-keys.js';
import type { DecryptionKeys } from '../../engine/backup/encryption.js';
import { checkSnapshotFile, requireTrailer } from '../../engine/backup/snapshot-facts.js';
import { InputError, StewardError } from '../../errors.js';
import type { BackupStorage } from '../../storage/storage.js';
import { loadSpec, storageFor, type GlobalOptions } from '../context.js';

const exec = promisify(execFile);

export interface RestoreMemberOptions extends GlobalOptions {
  readonly storage?: string;
  readonly name: string;
  readonly dataDir: string;
  readonly initialCluster: string;
  readonly initialClusterToken: string;
  readonly initialAdvertisePeerUrls: string;
  readonly etcdutl?: string;
  /** Accept a snapshot file without etcd's SHA-256 trailer. */
  readonly skipHashCheck?: boolean;
}

export async function restoreMemberCommand(
  reference: string,
  options: RestoreMemberOptions,
): Promise<number> {
  const existing = await readdir(options.dataDir).catch(() => []);
  if (existing.length > 0) {
    process.stderr.write(
      `${options.dataDir} already holds data: member ${options.name} was restored before; nothing to do\n`,
    );
    return 0;
  }
  const spec = await loadSpec(options, false);
  const restored = await buildMemberFromBackup(reference, options, () => storageFor(options, spec), {
    keys: await keysFor({}, spec),
  });
  process.stderr.write(`${restored.line}\n`);
  return 0;
}

/** What `buildMemberFromBackup` restored. */
export interface BuiltMember {
  readonly backup: string;
  readonly sha256: string | undefined;
  readonly revision: number | undefined;
  readonly line: string;
}

/**
 * Fetches `reference` (a backup name or a file), checks it — against `options.pinnedSha256` too
 * when given: the catalog's SHA-256 of the stored object must be the pinned one, and the bytes
 * fetched are checked against it — and builds the member's data dir beside it, then renames it in.
 */
export async function buildMemberFromBackup(
  reference: string,
  options: RestoreMemberOptions & { readonly pinnedSha256?: string },
  storage: () => Promise<BackupStorage>,
  fetchOptions: { readonly keys?: DecryptionKeys | undefined } = {},
): Promise<BuiltMember> {
  const snapshot =
    options.pinnedSha256 === undefined
      ? await localSnapshot(reference, storage, fetchOptions)
      : await pinnedSnapshot(reference, options.pinnedSha256, storage, fetchOptions);
  try {
    const facts = await checkSnapshotFile(snapshot.file);
    if (facts.problems.length > 0) {
      throw new StewardError(`refusing to restore ${reference}: ${facts.problems.join('; ')}`, {
        hint: 'pick another backup (`etcd-steward backup list`) and render the restore again',
      });
    }
    // A cataloged backup without a trailer was accepted at import with --skip-hash-check.
    requireTrailer(
      reference,
      facts,
      options.skipHashCheck === true || snapshot.manifest?.etcdSha256 === null,
    );
    const building = `${options.dataDir}.restoring`;
    await rm(building, { recursive: true, force: true });
    const etcdutl = options.etcdutl ?? 'etcdutl';
    const args = [
      'snapshot',
      'restore',
      snapshot.file,
      `--name=${options.name}`,
      `--data-dir=${building}`,
      `--initial-cluster=${options.initialCluster}`,
      `--initial-cluster-token=${options.initialClusterToken}`,
      `--initial-advertise-peer-urls=${options.initialAdvertisePeerUrls}`,
      ...(facts.trailer === 'absent' ? ['--skip-hash-check'] : []),
    ];
    try {
      await exec(etcdutl, args, { maxBuffer: 16 << 20 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new InputError(`cannot run ${etcdutl}: no such file`, { hint: 'pass --etcdutl PATH' });
      }
      const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
      throw new StewardError(
        `etcdutl snapshot restore failed for member ${options.name}: ${stderr.split('\n').slice(-3).join(' / ')}`,
        {
          cause: error,
        },
      );
    }
    await rename(building, options.dataDir);
    return {
      backup: snapshot.manifest?.name ?? reference,
      sha256: snapshot.manifest?.sha256,
      revision: facts.revision,
      line: `restored member ${options.name} from ${snapshot.manifest?.name ?? reference} (revision ${facts.revision}) into ${path.resolve(options.dataDir)}`,
    };
  } finally {
    await snapshot.dispose();
  }
}

/**
 * The pinned backup as a local file: the catalog's entry of that exact name must carry the pinned
 * SHA-256 (of the stored object), and the fetch checks the bytes against it. `latest` is refused:
 * a pin names one backup.
 */
async function pinnedSnapshot(
  name: string,
  sha256: string,
  storage: () => Promise<BackupStorage>,
  fetchOptions: { readonly keys?: DecryptionKeys | undefined },
): Promise<LocalSnapshot> {
  if (name === 'latest')
    throw new InputError('a pinned restore names one backup, not latest', {
      hint: 'render the restore again: it resolves latest to a name and its SHA-256',
    });
  const store = await storage();
  const manifest = findBackup(await readCatalog(store), name);
  if (manifest.sha256.toLowerCase() !== sha256.toLowerCase()) {
    throw new StewardError(
      `refusing to restore ${name}: its SHA-256 is ${manifest.sha256}, and the restore was pinned to ${sha256}`,
      {
        hint: 'the backup in the storage is not the one the cluster was rendered with; render the restore again from a backup you choose (`etcd-steward backup list`)',
      },
    );
  }
  const file = await fetchBackup(store, manifest, fetchOptions);
  return { file, manifest, dispose: () => rm(file, { force: true }) };
}
