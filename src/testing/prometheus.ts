/**
 * A real Prometheus for tests (Debian's `prometheus` package, see scripts/install-prometheus.sh):
 * one instance per test on a free loopback port, with its own config and TSDB in a temp dir,
 * stopped by the test's cleanup. Plus `promtool`.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { freePorts } from '../runtime/local/ports.js';
import { type Cleanup, tempDir } from './harness.js';
import { killAndWait } from './child-process.js';

const exec = promisify(execFile);
const START_TIMEOUT_MS = 60_000;
const INSTALL_HINT = 'run `bash scripts/install-prometheus.sh` (npm test does)';

/** A binary of Debian's prometheus package on PATH, or an error that says how to install it. */
export async function prometheusTool(name: 'prometheus' | 'promtool'): Promise<string> {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    const found = await exec(candidate, ['--version']).then(
      () => true,
      () => false,
    );
    if (found) return candidate;
  }
  throw new Error(`no ${name} on PATH: ${INSTALL_HINT}`);
}

/** Runs promtool with `args` in `cwd`; resolves with its exit code and output (never throws on exit ≠ 0). */
export async function promtool(
  args: readonly string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const binary = await prometheusTool('promtool');
  try {
    const { stdout, stderr } = await exec(binary, [...args], { cwd });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export interface ScrapeJob {
  readonly job: string;
  /** host:port of each target. */
  readonly targets: readonly string[];
}

export interface PrometheusAlert {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly state: 'pending' | 'firing' | 'inactive';
  readonly value: string;
}

export interface QueryResponse {
  readonly status: 'success' | 'error';
  readonly errorType?: string;
  readonly error?: string;
  readonly data?: {
    resultType: string;
    result: unknown;
  };
}

export interface PrometheusTestServer {
  readonly url: string;
  readonly dir: string;
  /** An instant query through /api/v1/query; parse errors come back as status 'error'. */
  query(expr: string): Promise<QueryResponse>;
  /** The active alerts (pending and firing) from /api/v1/alerts. */
  alerts(): Promise<PrometheusAlert[]>;
  /** Metric names with a series of `job` (from /api/v1/label/__name__/values). */
  metricNames(job: string): Promise<string[]>;
  /** Waits until `check` returns a value (polling every 500 ms); `what` names it in the timeout error. */
  waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  /** Waits until every target of every job was scraped successfully at least once. */
  waitForTargetsUp(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts Prometheus scraping `jobs` every `intervalSeconds` (also the rule evaluation interval),
 * with `rules` (a rule file object) loaded, and registers its stop with `cleanup`.
 */
export async function startPrometheus(
  cleanup: Cleanup,
  options: { jobs: readonly ScrapeJob[]; rules?: object; intervalSeconds?: number },
): Promise<PrometheusTestServer> {
  const binary = await prometheusTool('prometheus');
  const dir = await tempDir(cleanup, 'prometheus');
  const interval = `${options.intervalSeconds ?? 1}s`;
  const ruleFiles: string[] = [];
  if (options.rules) {
    await writeFile(path.join(dir, 'rules.yaml'), stringify(options.rules));
    ruleFiles.push(path.join(dir, 'rules.yaml'));
  }
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: ruleFiles,
    scrape_configs: options.jobs.map((job) => ({
      job_name: job.job,
      static_configs: [{ targets: [...job.targets] }],
    })),
  };
  await writeFile(path.join(dir, 'prometheus.yml'), stringify(config));
  const [port] = (await freePorts(1)) as [number];
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    binary,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir },
  );
  let output = '';
  const collect = (d: Buffer) => (output = (output + d.toString()).slice(-8000));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= killAndWait(child));
  cleanup.add(stop);

  const api = async <T>(pathAndQuery: string): Promise<T> => {
    const response = await fetch(`${url}${pathAndQuery}`);
    return (await response.json()) as T;
  };
  const waitFor = async <T>(
    what: string,
    check: () => Promise<T | undefined>,
    timeoutMs = 90_000,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`Prometheus exited (${child.exitCode}):\n${output}`);
      const value = await check().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline)
        throw new Error(`waited ${timeoutMs} ms for ${what}; Prometheus said:\n${output}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const server: PrometheusTestServer = {
    url,
    dir,
    query: (expr) => api<QueryResponse>(`/api/v1/query?query=${encodeURIComponent(expr)}`),
    alerts: async () => (await api<{ data: { alerts: PrometheusAlert[] } }>('/api/v1/alerts')).data.alerts,
    metricNames: async (job) =>
      (
        await api<{ data: string[] }>(
          `/api/v1/label/__name__/values?match[]=${encodeURIComponent(`{job=${JSON.stringify(job)}}`)}`,
        )
      ).data,
    waitFor,
    waitForTargetsUp: async (timeoutMs) => {
      const expected = options.jobs.reduce((n, job) => n + job.targets.length, 0);
      await waitFor(
        `${expected} targets up`,
        async () => {
          const { data } = await api<{ data: { activeTargets: { health: string }[] } }>('/api/v1/targets');
          const up = data.activeTargets.filter((t) => t.health === 'up').length;
          return up === expected ? true : undefined;
        },
        timeoutMs,
      );
    },
    stop,
  };
  try {
    await waitFor(
      'Prometheus to be ready',
      async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined),
      START_TIMEOUT_MS,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return server;
}
