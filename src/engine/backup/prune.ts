/** `backup prune` and `backup delete`: remove backups, manifest first so none is half-listed. */
import type { BackupStorage } from '../../storage/storage.js';
import { pruneChangeLog } from '../pitr/retention.js';
import { readCatalog } from './catalog.js';
import { objectKeys, type BackupManifest } from './manifest.js';
import { planPrune, type PrunePlan, type RetentionRule } from './retention.js';

/** Removes one backup: its manifest (so it leaves the catalog at once), then its snapshot. */
export async function deleteBackup(
  storage: BackupStorage,
  manifest: BackupManifest,
  signal?: AbortSignal,
): Promise<void> {
  await storage.delete(objectKeys(manifest.name, manifest.compression).manifest, { signal });
  await storage.delete(manifest.object, { signal });
}

/** Applies the retention rule (or only plans it with `dryRun`). */
export async function pruneBackups(options: {
  storage: BackupStorage;
  rule: RetentionRule;
  dryRun?: boolean;
  now?: Date;
  signal?: AbortSignal;
}): Promise<PrunePlan & { removed: readonly string[]; removedSegments: number }> {
  const catalog = await readCatalog(options.storage, { signal: options.signal });
  const plan = planPrune(catalog.backups, options.rule, options.now ?? new Date());
  const removed: string[] = [];
  if (!options.dryRun) {
    for (const { name } of plan.remove) {
      const manifest = catalog.backups.find((b) => b.name === name);
      if (!manifest) continue;
      await deleteBackup(options.storage, manifest, options.signal);
      removed.push(name);
    }
  }
  // The change log goes with its chains: segments no kept backup needs (point-in-time restore).
  const kept = catalog.backups.filter((b) => plan.keep.some((k) => k.name === b.name));
  const removedSegments = options.dryRun ? 0 : await pruneChangeLog(options.storage, kept, options.signal);
  return { ...plan, removed, removedSegments };
}
