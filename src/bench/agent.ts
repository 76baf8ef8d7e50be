/**
 * Bench row: the agent's overhead (`serve`) on the bench's 3-member cluster. Goal: < 1% of one
 * core at a 10 s status poll, < 100 MiB steady RSS while scraped.
 *
 * Time runs 10× fast: the status poll every 1 s (instead of 10 s) and a /metrics scrape every
 * 1.5 s (instead of Prometheus' 15 s), for BENCH_AGENT_SECONDS (default 60 s = 10 minutes of
 * real operation, 60 polls). The agent does nothing between polls and scrapes, so its CPU scales
 * with their rate: the figure at the real rates is the measured one ÷ 10. CPU comes from
 * utime + stime in /proc/PID/stat over the measured span (after a 5 s warm-up); RSS from
 * /proc/PID/status each second (steady: the median of the second half; peak: VmHWM).
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EtcdBinaries } from '../runtime/etcd-binaries.js';
import { median, type BenchRow } from './measure.js';

const SPEEDUP = 10;

export interface AgentBenchContext {
  readonly cli: string;
  readonly binaries: EtcdBinaries;
  /** The bench's temp dir; its cluster's data dir is `dir/data`. */
  readonly dir: string;
  readonly quota: number;
  readonly env: NodeJS.ProcessEnv;
  readonly log: (message: string) => void;
}

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
}

async function memory(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

export async function benchAgent(ctx: AgentBenchContext): Promise<BenchRow> {
  const seconds = Number(ctx.env['BENCH_AGENT_SECONDS'] ?? process.env['BENCH_AGENT_SECONDS'] ?? 60);
  const spec = path.join(ctx.dir, 'agent-steward.yaml');
  await writeFile(
    spec,
    `name: bench\nmembers: 3\ndataDir: ${JSON.stringify(path.join(ctx.dir, 'data'))}\n` +
      `etcd: { version: "${ctx.binaries.line}", unsafeNoFsync: true, quotaBackendBytes: ${ctx.quota} }\n` +
      `monitoring: { listen: "127.0.0.1:0", statusInterval: 1s, historyWindow: 6h }\n`,
  );
  const child = spawn(process.execPath, [ctx.cli, '--config', spec, 'serve'], {
    cwd: ctx.dir,
    env: ctx.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    const pid = child.pid as number;
    const deadline = Date.now() + 60_000;
    let url: string | undefined;
    while (!url) {
      url = /"url":"(http:[^"]+)"/.exec(out)?.[1];
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`the agent did not start:\n${out}`);
      await sleep(100);
    }
    const scrape = async () => {
      const response = await fetch(`${url}/metrics`);
      await response.text();
    };
    ctx.log(`agent ${url} (pid ${pid}): 5 s warm-up, then ${seconds} s at 1 s polls and 1.5 s scrapes`);
    for (let i = 0; i < 3; i += 1) {
      await scrape();
      await sleep(1500);
    }
    const ticksPerSecond = 100; // USER_HZ on Linux
    const startTicks = await cpuTicks(pid);
    const started = performance.now();
    const rss: number[] = [];
    let nextScrape = started;
    while (performance.now() - started < seconds * 1000) {
      if (performance.now() >= nextScrape) {
        await scrape();
        nextScrape += 1500;
      }
      rss.push((await memory(pid)).rss);
      await sleep(500);
    }
    const cpuSeconds = ((await cpuTicks(pid)) - startTicks) / ticksPerSecond;
    const wall = (performance.now() - started) / 1000;
    const { hwm } = await memory(pid);
    const measured = (cpuSeconds / wall) * 100;
    const scaled = measured / SPEEDUP;
    const steady = median(rss.slice(Math.floor(rss.length / 2)));
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
    const polls = (out.match(/status poll failed/g) ?? []).length;
    return {
      name: 'agent overhead (`serve`), 3 members, 10 s poll',
      ours: `${scaled.toFixed(2)}% of a core; RSS ${mib(steady)} steady, ${mib(hwm)} peak`,
      theirs: '-',
      ratio: undefined,
      goal: '< 1% of a core, < 100 MiB steady',
      met: scaled < 1 && steady < 100 * 2 ** 20,
      note:
        `measured ${measured.toFixed(2)}% of a core over ${wall.toFixed(0)} s at 10× speed (poll 1 s, ` +
        `/metrics scrape 1.5 s; ${cpuSeconds.toFixed(2)} s CPU) = ${((wall * SPEEDUP) / 60).toFixed(0)} min ` +
        `of real operation; ÷ 10 for the real rates${polls ? `; ${polls} polls failed` : ''}`,
    };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}
