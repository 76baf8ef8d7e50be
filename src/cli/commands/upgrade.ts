/**
 * `etcd-steward upgrade --to VERSION` and `downgrade --to VERSION`: print every pre-flight check
 * as it passes or fails, then each member as it changes; at the end a table of which member runs
 * what, the cluster version, and — when the run stopped — the reason and the way back.
 * Exit 0 when done (or nothing to do), 1 when refused or stopped, 2 for bad input.
 */
import { parseDuration } from '../../config/units.js';
import { createBackup } from '../../engine/backup/create.js';
import { encryptionFor } from '../../engine/backup/spec-keys.js';
import { runUpgrade, type UpgradeReport } from '../../engine/upgrade/upgrade.js';
import { openRuntime } from '../../runtime/open.js';
import type { KubeTarget } from '../../runtime/kubernetes/kube-client.js';
import { connectionFor, loadSpec, storageFor, type GlobalOptions } from '../context.js';
import { printJson, progress, renderTable } from '../output.js';

export interface UpgradeCommandOptions extends GlobalOptions, KubeTarget {
  readonly to: string;
  readonly storage?: string;
  readonly skipBackupIHaveOne?: boolean;
  readonly skipV2storeCheck?: boolean;
  readonly memberTimeout?: string;
  readonly dryRun?: boolean;
}

/**
 * Fault injection for drills and tests: the process kills itself (SIGKILL) right after the named
 * step (`note`, `member NAME`, `leadership from NAME`, `downgrade enable`), as a crash would.
 */
const CRASH_AFTER = 'ETCD_STEWARD_CRASH_AFTER_STEP';

export async function upgradeCommand(
  options: UpgradeCommandOptions,
  operation: 'upgrade' | 'downgrade',
): Promise<number> {
  const spec = (await loadSpec(options, true))!;
  const connection = connectionFor(options, spec);
  const runtime = await openRuntime(spec, {
    kubernetes: { kubeconfig: options.kubeconfig, context: options.context },
  });
  const crashAfter = process.env[CRASH_AFTER];
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const skipBackup = options.skipBackupIHaveOne === true || options.dryRun === true;
    const storage = skipBackup ? undefined : await storageFor({ storage: options.storage }, spec);
    const report = await runUpgrade({
      runtime,
      connection,
      operation,
      to: options.to,
      bin: options.etcdBin,
      skipV2storeCheck: options.skipV2storeCheck === true,
      memberTimeoutMs: parseDuration(options.memberTimeout ?? '90s'),
      dryRun: options.dryRun === true,
      takeBackup: storage
        ? async () => {
            const members = await runtime.members();
            const manifest = await createBackup({
              clusterName: spec.name,
              endpoints: members.map((m) => m.endpoint),
              connection,
              storage,
              compression: spec.backup?.compression ?? 'gzip',
              encryption: await encryptionFor(spec),
              member: spec.backup?.member,
              specQuota: spec.etcd.quotaBackendBytes,
              signal: controller.signal,
            });
            return `${manifest.name} in ${storage.displayUrl}`;
          }
        : undefined,
      onProgress: (message) => progress(options.output, message),
      afterStep: (step) => {
        if (crashAfter === step) process.kill(process.pid, 'SIGKILL');
      },
      signal: controller.signal,
    });
    if (options.output === 'json') printJson(report);
    else process.stdout.write(`${formatReport(report)}\n`);
    if (report.outcome === 'refused') {
      process.stderr.write(`error: ${operation} refused, nothing was changed: ${report.error ?? ''}\n`);
    } else if (report.outcome === 'failed') {
      process.stderr.write(`error: ${operation} stopped: ${report.error ?? ''}\n`);
      process.stderr.write(
        `hint: the way back: ${report.wayBack ?? '-'}; or fix the cause and rerun the same command to finish\n`,
      );
    }
    return report.outcome === 'done' || report.outcome === 'nothing-to-do' ? 0 : 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await runtime.close();
  }
}

function formatReport(report: UpgradeReport): string {
  const table = renderTable(
    ['MEMBER', 'VERSION', 'HEALTHY', 'LEADER'],
    report.members.map((m) => [m.member, m.version ?? '-', m.healthy ? 'yes' : 'NO', m.leader ? 'yes' : '']),
  );
  const lines = [
    table,
    `cluster version: ${report.clusterVersion ?? '-'}   ${report.operation} ${report.from ?? '?'} → ${report.to}: ${report.outcome}${report.resumed ? ' (resumed)' : ''}`,
  ];
  if (report.backup) lines.push(`backup: ${report.backup}`);
  return lines.join('\n');
}
