/**
 * `etcd-steward backup compact [BACKUP]`: folds a chain (a backup + its change log) into a new
 * full backup offline, checks it, and stores it; the log goes on from it (a new chain).
 */
import { compactChain, type CompactResult } from '../../engine/backup/compact.js';
import { encryptionFor, keysFor } from '../../engine/backup/spec-keys.js';
import { formatBytes } from '../../config/units.js';
import { loadSpec, storageFor } from '../context.js';
import { printJson, progress, renderTable } from '../output.js';
import { revisionProgress } from '../progress.js';
import type { BackupOptions } from './backup.js';

export async function backupCompactCommand(
  reference: string | undefined,
  options: BackupOptions,
): Promise<number> {
  const spec = await loadSpec(options, false);
  const storage = await storageFor(options, spec);
  const bar = await revisionProgress(options.output, 'fold');
  let result: CompactResult;
  try {
    result = await compactChain({
      storage,
      clusterName: spec?.name ?? 'etcd',
      reference: reference ?? 'latest',
      compression: options.compression ?? spec?.backup?.compression ?? 'gzip',
      encryption: await encryptionFor(spec),
      keys: await keysFor(options, spec),
      onProgress: (message) => {
        bar.stop();
        progress(options.output, message);
      },
      onFold: (p) => bar.update(p.applied, p.total, p.ratePerSecond),
    });
  } finally {
    bar.stop();
  }
  if (options.output === 'json') printJson({ storage: storage.displayUrl, ...result });
  else process.stdout.write(`${formatCompact(result)}\n`);
  return 0;
}

function formatCompact(r: CompactResult): string {
  const rows: [string, string][] = [['chain', `${r.from.backup} (revision ${r.from.revision})`]];
  if (!r.log || !r.backup || !r.fold) {
    rows.push(['result', 'no change log after it yet: nothing to compact']);
    return renderTable(['BACKUP COMPACT', ''], rows);
  }
  rows.push(
    [
      'log',
      `revisions ${r.log.fromRevision}..${r.log.toRevision} in ${r.log.segments} segments (${formatBytes(r.log.storedBytes)} stored)`,
    ],
    [
      'fold',
      `${r.fold.revisions} revisions, ${r.fold.events} events in ${(r.fold.durationMs / 1000).toFixed(1)} s (${r.fold.revisionsPerSecond}/s)`,
    ],
    [
      'check',
      `ok: ${r.folded?.keyCount ?? 0} keys with mod revisions and values as the log records; trailer ok`,
    ],
    [
      'new backup',
      `${r.backup.name} at revision ${r.backup.revision}, ${formatBytes(r.backup.size)} (${formatBytes(r.backup.storedSize)} stored)`,
    ],
    ['took', `${(r.durationMs / 1000).toFixed(1)} s`],
  );
  return renderTable(['BACKUP COMPACT', ''], rows);
}
