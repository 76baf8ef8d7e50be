/**
 * `etcd-steward serve`: the agent. For now it runs the backup schedule (create, then prune) and
 * the restore-drill schedule (the newest backup into a throwaway cluster), with structured logs;
 * SIGTERM/SIGINT abort a running job cleanly (nothing partial is listed) and exit. Its HTTP API,
 * metrics and dashboard come with the agent issue.
 */
import { createBackup } from '../../engine/backup/create.js';
import { pruneBackups } from '../../engine/backup/prune.js';
import { InputError, StewardError } from '../../errors.js';
import { readCatalog } from '../../engine/backup/catalog.js';
import { drillBackup } from '../../engine/backup/drill.js';
import { resolveEtcd } from '../../runtime/etcd-binaries.js';
import { createLogger, type Logger } from '../../server/logger.js';
import { Scheduler } from '../../server/scheduler.js';
import { clusterTarget, connectionFor, type GlobalOptions } from '../context.js';
import { storageFor } from './backup.js';

export async function serveCommand(options: GlobalOptions): Promise<number> {
  const target = await clusterTarget(options);
  const spec = target.spec;
  const backup = spec?.backup;
  if (!spec || !(backup?.schedule || backup?.drillSchedule || backup?.continuous)) {
    throw new InputError(
      'the spec has no backup.schedule (nor backup.drillSchedule), so the agent has nothing to run yet',
      {
        hint: 'add e.g. `backup: { storage: file:///var/backups/etcd, schedule: "*/30 * * * *" }` to the spec',
      },
    );
  }
  const log = createLogger();
  const storage = await storageFor({ ...options }, spec);
  const connection = connectionFor(options, spec);
  const endpoints =
    typeof target.endpoints === 'string' ? target.endpoints.split(',') : [...target.endpoints];
  const scheduler = new Scheduler(log);
  const { startChangeLogService } = await import('../../server/changelog-service.js');
  const changeLog = await startChangeLogService({
    spec,
    clusterName: target.name,
    endpoints,
    names: target.names,
    connection,
    storage,
    log,
  });
  scheduler.onStop(() => changeLog?.stop());
  if (backup.drillSchedule) {
    const binaries = await resolveEtcd(spec.etcd.version, options.etcdBin ?? spec.etcd.bin);
    scheduler.add('drill', backup.drillSchedule, async (signal) => {
      const latest = (await readCatalog(storage, { signal })).backups.at(-1);
      if (!latest) return { skipped: 'no backup yet' };
      const result = await drillBackup({ storage, manifest: latest, binaries, signal });
      if (!result.ok) throw new StewardError(`restore drill of ${latest.name} failed: ${result.detail}`);
      return { backup: latest.name, detail: result.detail };
    });
  }
  if (!backup.schedule) {
    log.info({ cluster: target.name, storage: storage.displayUrl, jobs: scheduler.stats() }, 'agent started');
    return waitForStop(scheduler, log);
  }
  scheduler.add('backup', backup.schedule, async (signal) => {
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
  log.info({ cluster: target.name, storage: storage.displayUrl, jobs: scheduler.stats() }, 'agent started');
  return waitForStop(scheduler, log);
}

/** Runs until SIGTERM/SIGINT, then stops the jobs (aborting a running one) and returns 0. */
async function waitForStop(scheduler: Scheduler, log: Logger): Promise<number> {
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
