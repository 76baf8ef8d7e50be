/**
 * `etcd-steward serve`: the agent. Polls every member's status, runs the spec's backup (+ prune),
 * defrag and drill schedules one job at a time, and serves the HTTP API, /metrics and the
 * dashboard on monitoring.listen. Logs are JSON lines when stdout is not a terminal. SIGTERM,
 * SIGINT or SIGHUP abort the running job cleanly (nothing partial is listed) and exit 0.
 */
import path from 'node:path';
import v8 from 'node:v8';
import type { Spec } from '../../config/spec.js';
import { startAgent, type Agent } from '../../server/agent.js';
import { readToken } from '../../server/auth.js';
import { createLogger, type Logger } from '../../server/logger.js';
import { clusterTarget, connectionFor, type ClusterTarget, type GlobalOptions } from '../context.js';
import { storageFor } from '../context.js';
import { watchShutdown } from '../shutdown.js';

// A long-running process that makes small short-lived garbage (one status poll after another):
// a 1 MiB young generation (V8's default grows to 16 MiB) keeps its RSS ~15 MiB lower for a few
// more minor GCs (measured with the agent bench).
v8.setFlagsFromString('--max-semi-space-size=1');

export interface ServeOptions extends GlobalOptions {
  readonly listen?: string;
  readonly storage?: string;
}

export async function serveCommand(options: ServeOptions): Promise<number> {
  const shutdown = watchShutdown();
  try {
    const target = await clusterTarget(options);
    const log = createLogger();
    const agent = await startAgentFor(options, target, log);
    const reason = await shutdown.requested;
    log.info({ reason }, 'stopping (again to quit at once)');
    shutdown.onRepeat(() => {
      log.warn('second signal: quitting now');
      process.exit(1);
    });
    await agent.close();
    if (reason === 'crash') throw shutdown.error;
    return 0;
  } finally {
    shutdown.dispose();
  }
}

/** Starts the agent for `target` (the spec's cluster or --endpoints) with the spec's settings. */
export async function startAgentFor(
  options: ServeOptions,
  target: ClusterTarget,
  log: Logger,
): Promise<Agent> {
  const spec = target.spec ?? (await defaultSpec());
  const monitoring = spec.monitoring;
  const tokenFile =
    monitoring.tokenFile === undefined
      ? undefined
      : path.resolve(
          spec.source ? path.dirname(path.resolve(spec.source)) : process.cwd(),
          monitoring.tokenFile,
        );
  const token = await readToken({ tokenEnv: monitoring.tokenEnv, tokenFile });
  const storage = spec.backup || options.storage ? await storageFor({ ...options }, spec) : undefined;
  const endpoints =
    typeof target.endpoints === 'string' ? target.endpoints.split(',') : [...target.endpoints];
  return startAgent({
    spec,
    clusterName: target.name,
    endpoints,
    names: target.names,
    connection: connectionFor(options, target.spec),
    storage,
    token,
    listen: options.listen,
    // The runtime keeps records beside its data (local: the data dir); --endpoints has none.
    defragHistory: { localDataDir: target.runtime?.recordsDir, clusterName: target.name },
    log,
    membership: target.runtime ? () => membershipHost(options, spec, target) : undefined,
  });
}

/** The runtime's members for self-healing; the local runtime gets the etcd binaries to start them. */
async function membershipHost(options: ServeOptions, spec: Spec, target: ClusterTarget) {
  if (target.runtime?.kind !== 'local') return target.runtime!.membership();
  const { resolveEtcd } = await import('../../runtime/etcd-binaries.js');
  const { LocalClusterRuntime } = await import('../../runtime/local/runtime.js');
  const binaries = await resolveEtcd(spec.etcd.version, options.etcdBin ?? spec.etcd.bin);
  return new LocalClusterRuntime(spec, binaries).membership();
}

/** The built-in defaults, for `serve --endpoints …` without a spec. */
async function defaultSpec(): Promise<Spec> {
  const { parseSpec } = await import('../../config/load.js');
  return parseSpec('runtime: external\nendpoints: [http://127.0.0.1:2379]\n', undefined);
}
