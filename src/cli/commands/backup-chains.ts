/** `backup list`'s chains: each snapshot with the change log that continues it and the recovery windows. */
import { formatBytes } from '../../config/units.js';
import type { BackupManifest } from '../../engine/backup/manifest.js';
import { describeChains, recoveryWindows, type ChainInfo } from '../../engine/pitr/chains.js';
import { listSegments } from '../../engine/pitr/segment.js';
import type { BackupStorage } from '../../storage/storage.js';
import { renderTable } from '../output.js';

const short = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

/** The chains as JSON fields and, when there is a change log, as a table. */
export async function chainsOf(
  storage: BackupStorage,
  backups: readonly BackupManifest[],
): Promise<{
  json: { chains: ChainInfo[]; recoveryWindows: ChainInfo['window'][]; changelog: object };
  text: string;
}> {
  const segments = await listSegments(storage);
  const chains = describeChains(backups, segments);
  const windows = recoveryWindows(chains);
  const changelog = {
    segments: segments.length,
    storedBytes: segments.reduce((sum, s) => sum + s.storedSize, 0),
    firstRevision: segments[0]?.firstRevision ?? null,
    lastRevision: segments.reduce<number | null>((max, s) => Math.max(max ?? 0, s.lastRevision), null),
  };
  if (segments.length === 0) return { json: { chains, recoveryWindows: windows, changelog }, text: '' };
  const table = renderTable(
    ['CHAIN (SNAPSHOT)', 'REVISION', 'LOG REVISIONS', 'LOG TIME', 'SEGMENTS', 'LOG SIZE'],
    chains.map((c) => [
      c.backup,
      String(c.revision),
      c.log ? `${c.log.fromRevision}..${c.log.toRevision}` : '-',
      c.log ? `${short(c.log.fromTime)} .. ${short(c.log.toTime)}` : '-',
      String(c.log?.segments ?? 0),
      formatBytes(c.log?.storedBytes ?? 0),
    ]),
  );
  const lines = windows.map(
    (w) =>
      `recovery window: revisions ${w.fromRevision}..${w.toRevision}, ${short(w.fromTime)} .. ${short(w.toTime)}`,
  );
  return { json: { chains, recoveryWindows: windows, changelog }, text: [table, ...lines].join('\n') };
}
