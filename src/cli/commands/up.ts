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
import { formatStatus } from './status.js';
import type { Agent } from '../../server/agent.js';

export interface UpOptions extends GlobalOptions {
  readonly detach?: boolean;
  readonly timeout?: number;
  readonly serve?: boolean;
  readonly listen?: string;
}

export async function upCommand(options: UpOptions): Promise<number> {
  const spec = requireLocal((await loadSpec(options, true))!, 'up');
  const binaries = await resolveEtcd(spec.etcd.version, options.etcdBin ?? spec.etcd.bin);
  const connection = connectionFor(options, spec);
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let result;
  try {
    result = await upCluster({
      spec,
      binaries,
      connection,
      signal: abort.signal,
      onProgress: (message) => progress(options.output, message),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const { runtime, start, status } = result;
  const endpoints = await runtime.endpoints();
  if (options.output === 'json') {
    printJson({
      mode: start.mode,
      name: spec.name,
      dataDir: spec.dataDir,
      detached: Boolean(options.detach),
      endpoints,
      status,
    });
  } else {
    process.stdout.write(`${formatStatus(status)}\n`);
  }
  if (options.detach && options.serve) {
    progress(options.output, '--serve runs the agent in the foreground; --detach is ignored for the members');
  }
  let agent: Agent | undefined;
  if (options.serve) {
    const { startAgentFor, untilSignal } = await import('./serve.js');
    const { createLogger } = await import('../../server/logger.js');
    const names = new Map(start.state.members.map((m, i) => [endpoints[i] as string, m.name]));
    const log = createLogger();
    try {
      const target = { spec, name: spec.name, endpoints, names, runtime: new LocalClusterRuntime(spec) };
      agent = await startAgentFor(options, target, log);
    } catch (error) {
      if (start.mode !== 'running') await runtime.stop();
      throw error;
    }
    progress(
      options.output,
      `dashboard: ${agent.url}/  (API ${agent.url}/api/status, metrics ${agent.url}/metrics)`,
    );
    if (start.mode === 'running') {
      progress(options.output, 'the members were already running and keep running after the agent stops');
      await untilSignal(log);
      await agent.close();
      runtime.detach();
      return 0;
    }
  }
  if (!options.serve && (options.detach || start.mode === 'running')) {
    runtime.detach();
    progress(
      options.output,
      `members keep running; stop them with: etcd-steward down${options.config ? ` --config ${options.config}` : ''}`,
    );
    progress(options.output, `endpoints: ${endpoints.join(',')}`);
    return 0;
  }
  progress(options.output, `cluster '${spec.name}' is up: endpoints ${endpoints.join(',')}`);
  progress(
    options.output,
    `data in ${spec.dataDir}; press Ctrl-C to stop ${options.serve ? 'the agent and the members' : 'the members'}`,
  );
  let stopping = false;
  void start.firstExit.then(async (exit) => {
    if (stopping) return;
    const lines = await runtime.lastLogLines(exit.name, 6);
    progress(
      options.output,
      `member ${exit.name} exited (${exit.signal ?? `code ${exit.code ?? '?'}`}); last log lines:\n    ${lines.join('\n    ')}`,
    );
  });
  await new Promise<void>((resolve) => {
    const stop = () => {
      if (stopping) {
        progress(options.output, 'second interrupt: killing the members');
        void runtime.stop(0).then(() => resolve());
        return;
      }
      stopping = true;
      if (agent) progress(options.output, 'stopping the agent (aborting a running job), then the members');
      else progress(options.output, 'stopping the members (Ctrl-C again to kill them)');
      void (agent?.close() ?? Promise.resolve()).then(() => runtime.stop().then(() => resolve()));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  progress(
    options.output,
    'stopped; `npm start` or `etcd-steward up` starts the same cluster with its data again',
  );
  return 0;
}
