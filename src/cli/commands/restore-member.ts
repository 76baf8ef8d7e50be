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
import { localSnapshot } from '../../engine/backup/fetch.js';
import { keysFor } from '../../engine/backup/spec-keys.js';
import { checkSnapshotFile, requireTrailer } from '../../engine/backup/snapshot-facts.js';
import { InputError, StewardError } from '../../errors.js';
import { loadSpec, type GlobalOptions } from '../context.js';
import { storageFor } from '../context.js';

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
  const snapshot = await localSnapshot(reference, () => storageFor(options, spec), {
    keys: await keysFor({}, spec),
  });
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
    process.stderr.write(
      `restored member ${options.name} from ${snapshot.manifest?.name ?? reference} (revision ${facts.revision}) into ${path.resolve(options.dataDir)}\n`,
    );
    return 0;
  } finally {
    await snapshot.dispose();
  }
}
