/**
 * `restore <backup|latest> --to-revision R | --to-time T`: point-in-time restore from a snapshot
 * and the change log (continuous backup). Prints what `restore` prints, plus the replay.
 */
import type { Spec } from '../../config/spec.js';
import { restorePointInTime, type PointInTimeResult } from '../../engine/pitr/restore.js';
import { keysFor } from '../../engine/backup/spec-keys.js';
import type { PointInTimeTarget } from '../../engine/pitr/plan.js';
import type { RestoreTarget } from '../../engine/restore.js';
import { InputError, StewardError } from '../../errors.js';
import type { EtcdBinaries } from '../../runtime/etcd-binaries.js';
import type { ConnectionOptions } from '../../etcd/member-client.js';
import { printJson, progress, renderTable } from '../output.js';
import { revisionProgress } from '../progress.js';
import { storageFor } from '../context.js';
import type { RestoreOptions } from './restore.js';

/** The point-in-time target from --to-revision / --to-time, or undefined when neither is given. */
export function pointInTimeTarget(options: {
  toRevision?: string | undefined;
  toTime?: string | undefined;
}): PointInTimeTarget | undefined {
  if (options.toRevision !== undefined && options.toTime !== undefined)
    throw new InputError('give --to-revision or --to-time, not both');
  if (options.toRevision !== undefined) {
    const revision = Number(options.toRevision);
    if (!Number.isSafeInteger(revision) || revision < 1)
      throw new InputError(`--to-revision ${options.toRevision}: give a revision number ≥ 1`);
    return { revision };
  }
  if (options.toTime !== undefined) {
    const timeMs = /^\d{13}$/.test(options.toTime) ? Number(options.toTime) : Date.parse(options.toTime);
    if (Number.isNaN(timeMs)) {
      throw new InputError(`--to-time '${options.toTime}' is not a time`, {
        hint: 'write an ISO 8601 time such as 2026-12-04T15:04:05Z (or milliseconds since the epoch)',
      });
    }
    return { timeMs };
  }
  return undefined;
}

export async function pointInTimeCommand(
  reference: string,
  options: RestoreOptions,
  context: {
    spec: Spec;
    target: RestoreTarget;
    pointInTime: PointInTimeTarget;
    binaries: EtcdBinaries;
    connection: ConnectionOptions;
    live: { endpoints: readonly string[]; connection: ConnectionOptions } | undefined;
  },
): Promise<number> {
  const storage = await storageFor(options, context.spec);
  const bar = await revisionProgress(options.output, options.replayThroughEtcd ? 'replay' : 'fold');
  let result: PointInTimeResult;
  try {
    result = await restorePointInTime({
      storage,
      reference,
      target: context.pointInTime,
      spec: context.spec,
      binaries: context.binaries,
      connection: context.connection,
      restoreTarget: context.target,
      live: context.live,
      yes: options.yes === true,
      keys: await keysFor(options, context.spec),
      method: options.replayThroughEtcd === true ? 'replay' : 'fold',
      onProgress: (message) => {
        bar.stop();
        progress(options.output, message);
      },
      onReplay: (p) => bar.update(p.applied, p.total, p.ratePerSecond),
    });
  } finally {
    bar.stop();
  }
  if (options.output === 'json') printJson(result);
  else process.stdout.write(`${formatPointInTime(result)}\n`);
  if (result.match === false) {
    throw new StewardError('the restored cluster does not hold what the replayed snapshot holds', {
      hint: `the restored cluster is left running in ${result.dataDir} for inspection`,
    });
  }
  return 0;
}

function formatPointInTime(result: PointInTimeResult): string {
  const p = result.pointInTime;
  const rows: [string, string][] = [
    ['base', `${p.base.backup} (revision ${p.base.revision}, ${p.base.createdAt})`],
    [
      'target',
      p.requested.revision !== null ? `revision ${p.requested.revision}` : `time ${p.requested.time ?? ''}`,
    ],
    ['restored to', `revision ${p.revision}${p.committedAt ? `, committed about ${p.committedAt}` : ''}`],
    [
      p.method,
      `${p.replay.revisions} revisions, ${p.replay.events} events from ${p.segments} segments in ${(p.replay.durationMs / 1000).toFixed(1)} s (${p.replay.revisionsPerSecond}/s)`,
    ],
    [
      'log check',
      p.verified
        ? `ok: ${p.replayed.keyCount} keys, mod revisions and values as the log records`
        : 'MISMATCH',
    ],
    ['cluster', `${result.name} (${result.target}), data in ${result.dataDir}`],
  ];
  if (p.logEndsBeforeTarget)
    rows.push(['note', 'the change log ends before the requested time: restored to its end']);
  if (result.movedAside) rows.push(['old data', `moved aside to ${result.movedAside}`]);
  if (result.started) {
    rows.push(['endpoints', result.endpoints.join(',')]);
    rows.push([
      'check',
      result.match
        ? `ok: the restored cluster holds the same ${result.restored?.keyCount ?? 0} keys`
        : `MISMATCH: restored ${result.restored?.keyCount ?? 0} keys vs ${result.snapshot.keyCount}`,
    ]);
  }
  return renderTable(['POINT-IN-TIME RESTORE', ''], rows);
}
