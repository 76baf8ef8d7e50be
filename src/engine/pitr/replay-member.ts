/**
 * The fallback of a point-in-time restore: the base restored into a throwaway single member
 * (`--unsafe-no-fsync`), the log replayed into it one Txn per original revision (replay.ts), and
 * that member's snapshot taken. Used with `restore --replay-through-etcd`; the default is the
 * offline fold (fold-file.ts), which needs no etcd and runs far faster.
 */
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseSpec } from '../../config/load.js';
import { parseEndpoint } from '../../etcd/endpoint.js';
import { MemberClient, type ConnectionOptions } from '../../etcd/member-client.js';
import { StewardError } from '../../errors.js';
// Not openRuntime: the replay runs in a throwaway local member on this machine, whatever
// runtime the cluster being restored has.
import { LocalRuntime } from '../../runtime/local/cluster.js';
import { restoreSnapshot } from '../restore.js';
import { DEFAULT_LEASE_TTL_SECONDS } from './fold.js';
import { logRevisions } from './log-source.js';
import type { PointInTimePlan } from './plan.js';
import { replayRevisions, type ReplayResult } from './replay.js';
import type { LoggedRevision } from './segment.js';
import type { PointInTimeOptions } from './restore.js';

/** Replays `plan` into a throwaway member under `work` and writes its snapshot to `out`. */
export async function replayToSnapshotFile(
  options: PointInTimeOptions,
  plan: PointInTimePlan,
  baseFile: string,
  work: string,
  out: string,
  onRevision: (revision: LoggedRevision) => void,
): Promise<ReplayResult> {
  const say = options.onProgress ?? (() => undefined);
  const target = options.target;
  const replaySpec = parseSpec(
    [
      'name: pitr',
      'members: 1',
      `dataDir: ${JSON.stringify(path.join(work, 'cluster'))}`,
      'etcd:',
      `  version: "${options.binaries.line}"`,
      '  unsafeNoFsync: true',
      `  quotaBackendBytes: ${Math.max(options.spec.etcd.quotaBackendBytes, 8 * 2 ** 30)}`,
      '  maxRequestBytes: 64MiB',
      '  snapshotCount: 100000',
      '  extraArgs: ["--max-txn-ops=1000000"]',
      '',
    ].join('\n'),
    path.join(work, 'steward.yaml'),
  );
  const replaySide = { ...replaySpec, name: 'replay', dataDir: `${replaySpec.dataDir}-replay` };
  const connection: ConnectionOptions = {
    dialTimeoutMs: options.connection.dialTimeoutMs,
    commandTimeoutMs: Math.max(options.connection.commandTimeoutMs, 30_000),
    user: options.connection.user,
    password: options.connection.password,
  };
  {
    say(`starting a throwaway member from ${plan.base.name} to replay into`);
    const member = await restoreSnapshot({
      file: baseFile,
      spec: replaySpec,
      binaries: options.binaries,
      connection,
      target: { kind: 'new-cluster', name: 'replay' },
      skipHashCheck: plan.base.etcdSha256 === null, // accepted at import with --skip-hash-check
      signal: options.signal,
    });
    const client = new MemberClient(parseEndpoint(member.endpoints[0] as string), connection);
    const keepAlives: { stop: () => void }[] = [];
    let replay: ReplayResult;
    const leases = new Map<string, number>();
    try {
      // Leases of the snapshot are kept alive while replaying, so none expires and deletes keys
      // (which would add revisions the log does not have).
      const keep = (id: string) => keepAlives.push(client.keepAlive(id, 1000, () => undefined));
      for (const id of await client.leaseIds()) keep(id);
      const total = plan.upToRevision - plan.base.revision;
      const timeMs = 'timeMs' in target ? target.timeMs : undefined;
      const upTo = 'revision' in target ? target.revision : undefined;
      replay = await replayRevisions({
        client,
        baseRevision: plan.base.revision,
        source: (async function* () {
          for await (const r of logRevisions(
            options.storage,
            plan.segments,
            leases,
            options.signal,
            options.keys,
          )) {
            if (upTo !== undefined && r.r > upTo) return;
            if (timeMs !== undefined && r.t > timeMs) return;
            onRevision(r);
            yield r;
          }
        })(),
        ensureLease: async (id) => {
          const ttl = leases.get(id) || DEFAULT_LEASE_TTL_SECONDS;
          try {
            await client.grantLease(ttl, id);
          } catch (error) {
            if (!/lease already exists/i.test((error as Error).message)) throw error;
          }
          keep(id);
        },
        onProgress: (p) => options.onReplay?.({ ...p, total }),
        signal: options.signal,
      });
      if (upTo !== undefined && replay.lastRevision !== upTo) {
        throw new StewardError(
          `the replay reached revision ${replay.lastRevision}, not ${upTo}: the change log ends early`,
          { hint: 'pick a revision inside the recovery window (`etcd-steward backup list`)' },
        );
      }
      say(
        `replayed ${replay.revisions} revisions (${replay.events} events) in ${(replay.durationMs / 1000).toFixed(1)} s; taking its snapshot`,
      );
      const snap = await client.snapshot();
      await pipeline(snap.bytes, createWriteStream(out));
    } finally {
      for (const k of keepAlives) k.stop();
      client.close();
      await new LocalRuntime(replaySide).stop(2_000).catch(() => undefined);
    }
    return replay;
  }
}
