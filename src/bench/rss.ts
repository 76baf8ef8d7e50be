/**
 * One child process measured as a whole: wall time and peak resident set size. The peak comes
 * from GNU time (`/usr/bin/time -f %M`, Debian package `time`), which reads the kernel's
 * accounting at exit; without it, /proc/PID/status VmHWM is polled (a lower bound: the last
 * poll before exit). Both tools of a row run the same way, so the wrapper's cost is shared.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { median, seconds } from './measure.js';

const GNU_TIME = '/usr/bin/time';
const MARK = 'STEWARD_BENCH_TIME=';

export interface ProcessRun {
  readonly ms: number;
  /** Peak RSS in bytes; undefined when it could not be read. */
  readonly peakRss: number | undefined;
  /** How the peak was read: exactly at exit, or by polling (a lower bound). */
  readonly rssSource: 'time' | 'poll';
  /** CPU time in user and kernel mode (GNU time only). */
  readonly userMs: number | undefined;
  readonly sysMs: number | undefined;
  readonly stdout: string;
}

let gnuTime: boolean | undefined;

/** Whether GNU time is installed (`apt-get install time`). */
export function hasGnuTime(): boolean {
  if (gnuTime === undefined) {
    try {
      accessSync(GNU_TIME, constants.X_OK);
      gnuTime = true;
    } catch {
      gnuTime = false;
    }
  }
  return gnuTime;
}

/** Runs `command args`, keeps its stdout, and rejects with its stderr's tail when it fails. */
export function runMeasured(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<ProcessRun> {
  const viaTime = hasGnuTime();
  const [file, argv] = viaTime
    ? [GNU_TIME, ['-f', `\n${MARK}%M %U %S`, command, ...args]]
    : [command, [...args]];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-16_000)));
    let polled = 0;
    const poll = viaTime
      ? undefined
      : setInterval(() => {
          void readFile(`/proc/${child.pid}/status`, 'utf8').then(
            (text) => (polled = Math.max(polled, Number(/VmHWM:\s+(\d+)/.exec(text)?.[1] ?? 0))),
            () => undefined,
          );
        }, 20);
    child.once('error', (error) => {
      clearInterval(poll);
      reject(error);
    });
    child.once('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      clearInterval(poll);
      if (code !== 0) {
        reject(new Error(`${command} ${args.join(' ')} exited ${String(code)}: ${stderr.slice(-4000)}`));
        return;
      }
      const figures = new RegExp(`${MARK}(\\d+) ([\\d.]+) ([\\d.]+)`).exec(stderr);
      const kib = viaTime ? Number(figures?.[1] ?? NaN) : polled;
      const cpu = (text: string | undefined) => (text === undefined ? undefined : Number(text) * 1000);
      resolve({
        ms,
        peakRss: Number.isFinite(kib) && kib > 0 ? kib * 1024 : undefined,
        rssSource: viaTime ? 'time' : 'poll',
        userMs: cpu(figures?.[2]),
        sysMs: cpu(figures?.[3]),
        stdout,
      });
    });
  });
}

/** `CPU 9.1 s user + 2.0 s sys` (medians), or '' when the runs carry no CPU times. */
export function cpuSummary(runs: readonly ProcessRun[]): string {
  const user = runs.flatMap((r) => (r.userMs === undefined ? [] : [r.userMs]));
  const sys = runs.flatMap((r) => (r.sysMs === undefined ? [] : [r.sysMs]));
  if (user.length === 0 || sys.length === 0) return '';
  return `CPU ${seconds(median(user))} user + ${seconds(median(sys))} sys`;
}

/** The fastest and slowest wall times: `16.1–20.7 s`. */
export function spread(runs: readonly ProcessRun[]): string {
  const times = runs.map((r) => r.ms);
  return `${(Math.min(...times) / 1000).toFixed(1)}–${seconds(Math.max(...times))}`;
}
