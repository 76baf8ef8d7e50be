/** `backup prune` and `backup delete`: remove backups, manifest first so none is half-listed. */
import type { BackupStorage } from '../../storage/storage.js';
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
}): Promise<PrunePlan & { removed: readonly string[] }> {
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
  return { ...plan, removed };
}
