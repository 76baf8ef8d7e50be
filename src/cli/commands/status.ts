/**
 * `etcd-steward status`: one row per member; exit 0 when every member of the cluster was asked
 * and is healthy, else 1 (a partial view, e.g. one Service endpoint of three members, is exit 1).
 */
import { clusterStatus } from '../../engine/status.js';
import { clusterTarget, connectionFor, type GlobalOptions } from '../context.js';
import { printJson } from '../print-json.js';

/** The status command's own flags. */
export interface StatusFlags extends GlobalOptions {
  /** etcdctl's --cluster: ask every member the member list names, not only the endpoints. */
  readonly cluster?: boolean;
}

/** Runs `status`: prints the table or JSON and returns the exit code (0 only when healthy and complete). */
export async function statusCommand(options: StatusFlags): Promise<number> {
  const { spec, endpoints, names, runtime } = await clusterTarget(options);
  const status = await clusterStatus({
    endpoints,
    discover: options.cluster === true,
    connection: connectionFor(options, spec),
    specQuota: spec?.etcd.quotaBackendBytes,
    names,
  }).finally(() => runtime?.close());
  if (options.output === 'json') printJson(status);
  else {
    // The table code (and cli-table3) loads only for table output: `-o json` is for scripts that run often.
    const { formatStatus } = await import('./status-format.js');
    process.stdout.write(`${formatStatus(status, options.output)}\n`);
  }
  return status.healthy ? 0 : 1;
}
