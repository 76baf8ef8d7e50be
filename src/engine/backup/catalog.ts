/**
 * Reading the catalog: every `*.json` manifest in the storage, never guesses from file names.
 * A manifest that does not parse is reported, not silently skipped.
 */
import { text } from 'node:stream/consumers';
import { Readable } from 'node:stream';
import { InputError } from '../../errors.js';
import type { BackupStorage, CallOptions } from '../../storage/storage.js';
import { manifestSchema, objectKeys, type BackupManifest } from './manifest.js';

export interface Catalog {
  /** Oldest first. */
  readonly backups: readonly BackupManifest[];
  /** Manifests that could not be read, with the reason. */
  readonly unreadable: readonly { key: string; reason: string }[];
}

/** All backups in `storage`, oldest first. */
export async function readCatalog(storage: BackupStorage, options: CallOptions = {}): Promise<Catalog> {
  const objects = await storage.list('', options);
  const names = new Set(objects.map((o) => o.key));
  const backups: BackupManifest[] = [];
  const unreadable: { key: string; reason: string }[] = [];
  for (const object of objects.filter((o) => o.key.endsWith('.json') && !o.key.includes('/'))) {
    try {
      const parsed = manifestSchema.safeParse(
        JSON.parse(await text(await storage.read(object.key, options))),
      );
      if (!parsed.success) {
        unreadable.push({ key: object.key, reason: parsed.error.issues[0]?.message ?? 'not a manifest' });
        continue;
      }
      if (!names.has(parsed.data.object)) {
        unreadable.push({ key: object.key, reason: `its snapshot object ${parsed.data.object} is missing` });
        continue;
      }
      backups.push(parsed.data);
    } catch (error) {
      unreadable.push({ key: object.key, reason: (error as Error).message });
    }
  }
  backups.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
  return { backups, unreadable };
}

/**
 * Names already taken in `storage`: every `NAME.json` key, readable or not, from one listing
 * (no manifest is read), so a new backup never overwrites even a damaged manifest.
 */
export async function takenNames(storage: BackupStorage, options: CallOptions = {}): Promise<Set<string>> {
  const objects = await storage.list('', options);
  return new Set(
    objects
      .filter((o) => o.key.endsWith('.json') && !o.key.includes('/'))
      .map((o) => o.key.slice(0, -'.json'.length)),
  );
}

/** The backup called `name`, or the newest for `latest`; an InputError listing what exists otherwise. */
export function findBackup(catalog: Catalog, name: string): BackupManifest {
  const found = name === 'latest' ? catalog.backups.at(-1) : catalog.backups.find((b) => b.name === name);
  if (!found) {
    const known = catalog.backups.map((b) => b.name);
    throw new InputError(
      catalog.backups.length === 0 ? 'there are no backups in this storage yet' : `no backup named '${name}'`,
      {
        hint: known.length
          ? `known backups: ${known.slice(-5).join(', ')}${known.length > 5 ? ', …' : ''} (or: latest)`
          : 'create one with `etcd-steward backup create`',
      },
    );
  }
  return found;
}

/** Writes (or rewrites) a backup's manifest. */
export async function writeManifest(
  storage: BackupStorage,
  manifest: BackupManifest,
  options: CallOptions = {},
): Promise<void> {
  const key = objectKeys(manifest.name, manifest.compression).manifest;
  await storage.write(key, Readable.from([Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)]), options);
}
