/**
 * One backup at a time per cluster: a key under `__etcd_steward/lock/` created only if absent
 * and attached to a lease kept alive while the backup runs. If the process dies the lease
 * expires and the lock goes with it; if the lease is lost mid-run the backup is aborted.
 */
import os from 'node:os';
import type { MemberClient } from '../../etcd/member-client.js';
import { StewardError } from '../../errors.js';

const TTL_SECONDS = 30;

/** A run that overlaps with one already going on. */
export class LockHeldError extends StewardError {}

/** Runs `work` holding the cluster's lock `name`; `work` gets a signal that aborts if the lock is lost. */
export async function withClusterLock<T>(
  client: MemberClient,
  name: string,
  work: (signal: AbortSignal) => Promise<T>,
  outer?: AbortSignal,
): Promise<T> {
  const key = `__etcd_steward/lock/${name}`;
  const holder = JSON.stringify({ host: os.hostname(), pid: process.pid, since: new Date().toISOString() });
  const lease = await client.createWithLease(key, holder, TTL_SECONDS);
  if (lease === undefined) {
    const [current] = await client.get(key);
    const who = current ? current.value.toString() : 'unknown';
    throw new LockHeldError(
      `another ${name.split('/')[0] ?? 'run'} of this cluster is running (lock ${key}: ${who})`,
      {
        hint: `wait for it to finish; a crashed run's lock expires within ${TTL_SECONDS} s`,
      },
    );
  }
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  const keeper = client.keepAlive(lease, (TTL_SECONDS * 1000) / 3, (reason) =>
    controller.abort(
      new StewardError(
        `lost contact with member ${client.endpoint.display}, which holds this run's lock ${key} (${reason}); the run was stopped`,
        {
          hint: 'check the member with `etcd-steward status`; nothing was cataloged, and the next run cleans up',
        },
      ),
    ),
  );
  try {
    return await work(controller.signal);
  } finally {
    keeper.stop();
    outer?.removeEventListener('abort', onOuterAbort);
    await client.revokeLease(lease).catch(() => undefined);
  }
}
