/**
 * `etcd-steward up [--detach] [--serve]`: start the spec's local cluster and wait until it is
 * healthy. In the foreground it stays until Ctrl-C (then stops the members); with --detach it
 * returns and the members keep running until `etcd-steward down`. With --serve (`npm start`) the
 * agent runs in the same process and its dashboard URL is printed; Ctrl-C stops the agent, then
 * the members.
 */
import { upCluster } from '../../engine/up.js';
import { resolveEtcd } from '../../runtime/etcd-binaries.js';
import { LocalClusterRuntime } from '../../runtime/local/runtime.js';
import { connectionFor, loadSpec, requireLocal, type GlobalOptions } from '../context.js';
import { printJson, progress } from '../output.js';
import { formatStatus } from './status-format.js';
import type { Agent } from '../../server/agent.js';
import { watchShutdown, type Shutdown } from '../shutdown.js';

export interface UpOptions extends GlobalOptions {
  readonly detach?: boolean;
  readonly timeout?: number;
  readonly serve?: boolean;
  readonly listen?: string;
}

export async function upCommand(options: UpOptions): Promise<number> {
  // Stop requests are watched before the first member starts: Ctrl-C, SIGTERM, SIGHUP (a closed
  // terminal), a closed stdout or an uncaught error at any moment stop what this call started.
  const shutdown = watchShutdown();
  try {
    return await upUntilStopped(options, shutdown);
  } finally {
    shutdown.dispose();
  }
}

async function upUntilStopped(options: UpOptions, shutdown: Shutdown): Promise<number> {
  const spec = requireLocal((await loadSpec(options, true))!, 'up');
  const binaries = await resolveEtcd(spec.etcd.version, options.etcdBin ?? spec.etcd.bin);
  const connection = connectionFor(options, spec);
  // upCluster stops the members it started when the signal aborts its wait.
  const { runtime, start, status, scale, warnings } = await upCluster({
    spec,
    binaries,
    connection,
    signal: shutdown.signal,
    onProgress: (message) => progress(options.output, message),
  });
  const startedHere = start.mode !== 'running';
  // From here on every way out goes through `finish`: it stops what this call started.
  let agent: Agent | undefined;
  let stopping: Promise<void> | undefined;
  const finish = (): Promise<void> =>
    (stopping ??= (async () => {
      if (agent) progress(options.output, 'stopping the agent (aborting a running job)');
      await agent?.close().catch(() => undefined);
      if (startedHere && !keepMembers) {
        progress(options.output, 'stopping the members (Ctrl-C again to kill them)');
        await runtime.stop();
      } else runtime.detach();
    })());
  let keepMembers = false;
  shutdown.onRepeat(() => {
    progress(options.output, 'second interrupt: killing the members');
    void runtime.stop(0);
  });
  try {
    const endpoints = await runtime.endpoints();
    if (options.output === 'json') {
      printJson({
        mode: start.mode,
        name: spec.name,
        dataDir: spec.dataDir,
        detached: Boolean(options.detach),
        endpoints,
        status,
        warnings,
        scaled: scale ? { from: scale.from, to: scale.to, changes: scale.changes } : null,
      });
    } else {
      process.stdout.write(`${formatStatus(status, options.output)}\n`);
    }
    if (options.detach && options.serve) {
      progress(
        options.output,
        '--serve runs the agent in the foreground; --detach is ignored for the members',
      );
    }
    if (options.serve && !shutdown.signal.aborted) {
      const { startAgentFor } = await import('./serve.js');
      const { createLogger } = await import('../../server/logger.js');
      const recorded = (await runtime.requireState()).members; // after a scale, not start.state
      const names = new Map(recorded.map((m, i) => [endpoints[i] as string, m.name]));
      const target = { spec, name: spec.name, endpoints, names, runtime: new LocalClusterRuntime(spec) };
      agent = await startAgentFor(options, target, createLogger());
      progress(
        options.output,
        `dashboard: ${agent.url}/  (API ${agent.url}/api/status, metrics ${agent.url}/metrics)`,
      );
      if (!startedHere) {
        progress(options.output, 'the members were already running and keep running after the agent stops');
      }
    }
    if (!options.serve && (options.detach || !startedHere) && !shutdown.signal.aborted) {
      keepMembers = true;
      runtime.detach();
      progress(
        options.output,
        `members keep running; stop them with: etcd-steward down${options.config ? ` --config ${options.config}` : ''}`,
      );
      progress(options.output, `endpoints: ${endpoints.join(',')}`);
      return 0;
    }
    if (startedHere) {
      progress(options.output, `cluster '${spec.name}' is up: endpoints ${endpoints.join(',')}`);
      progress(
        options.output,
        `data in ${spec.dataDir}; press Ctrl-C to stop ${options.serve ? 'the agent and the members' : 'the members'}`,
      );
      void start.firstExit.then(async (exit) => {
        if (stopping) return;
        const lines = await runtime.lastLogLines(exit.name, 6);
        progress(
          options.output,
          `member ${exit.name} exited (${exit.signal ?? `code ${exit.code ?? '?'}`}); last log lines:\n    ${lines.join('\n    ')}`,
        );
      });
    } else {
      progress(options.output, 'press Ctrl-C to stop the agent');
    }
    await shutdown.requested;
  } finally {
    await finish();
  }
  if (shutdown.reason === 'crash') throw shutdown.error;
  progress(
    options.output,
    startedHere
      ? 'stopped; `npm start` or `etcd-steward up` starts the same cluster with its data again'
      : 'agent stopped; the members keep running',
  );
  return 0;
}
