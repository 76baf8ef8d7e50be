/**
 * `etcd-steward serve`: the agent. For now it runs the backup schedule (create, then prune) with
 * structured logs; SIGTERM/SIGINT abort a running backup cleanly (nothing partial is listed) and
 * exit. Its HTTP API, metrics and dashboard come with the agent issue.
 */
import { createBackup } from '../../engine/backup/create.js';
import { pruneBackups } from '../../engine/backup/prune.js';
import { InputError } from '../../errors.js';
import { createLogger } from '../../server/logger.js';
import { Scheduler } from '../../server/scheduler.js';
import { clusterTarget, connectionFor, type GlobalOptions } from '../context.js';
import { storageFor } from './backup.js';

export async function serveCommand(options: GlobalOptions): Promise<number> {
  const target = await clusterTarget(options);
  const spec = target.spec;
  const backup = spec?.backup;
  if (!spec || !backup?.schedule) {
    throw new InputError('the spec has no backup.schedule, so the agent has nothing to run yet', {
      hint: 'add e.g. `backup: { storage: file:///var/backups/etcd, schedule: "*/30 * * * *" }` to the spec',
    });
  }
  const log = createLogger();
  const storage = await storageFor({ ...options }, spec);
  const connection = connectionFor(options, spec);
  const endpoints =
    typeof target.endpoints === 'string' ? target.endpoints.split(',') : [...target.endpoints];
  const scheduler = new Scheduler(log);
  const job = scheduler.add('backup', backup.schedule, async (signal) => {
    const manifest = await createBackup({
      clusterName: target.name,
      endpoints,
      names: target.names,
      connection,
      storage,
      compression: backup.compression,
      member: backup.member,
      specQuota: spec.etcd.quotaBackendBytes,
      signal,
    });
    const pruned = await pruneBackups({ storage, rule: backup.retention, signal });
    return {
      backup: manifest.name,
      revision: manifest.revision,
      keys: manifest.keyCount,
      bytes: manifest.storedSize,
      pruned: pruned.removed,
    };
  });
  log.info(
    {
      cluster: target.name,
      storage: storage.displayUrl,
      schedule: job.schedule,
      nextRunAt: scheduler.stats()[0]?.nextRunAt,
    },
    'agent started',
  );
  await new Promise<void>((resolve) => {
    const stop = (signalName: string) => {
      log.info({ signal: signalName }, 'agent stopping: aborting the running job, if any');
      void scheduler.stop().then(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  log.info({ stats: scheduler.stats() }, 'agent stopped');
  return 0;
}
