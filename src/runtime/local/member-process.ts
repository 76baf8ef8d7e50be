/**
 * One local member as an OS process: its etcd flags, spawning it with its log file, telling
 * whether a recorded pid is still that member, stopping it, and reading its last log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { clientTlsFlags, etcdSettingsFlags, peerTlsFlags } from '../../config/etcd-flags.js';
import { SUPPORTED_LINES, type EtcdLine } from '../../config/etcd-lines.js';
import type { Spec } from '../../config/spec.js';
import type { LocalClusterState, LocalMemberState } from './state.js';

/** Where a member keeps its data and log, under the spec's dataDir. */
export function memberPaths(
  dataDir: string,
  memberName: string,
): { dir: string; dataDir: string; logFile: string } {
  const dir = path.join(dataDir, memberName);
  return { dir, dataDir: path.join(dir, 'data'), logFile: path.join(dir, 'etcd.log') };
}

export function clientUrl(state: LocalClusterState, member: LocalMemberState): string {
  return `${state.clientScheme}://127.0.0.1:${member.clientPort}`;
}

export function peerUrl(state: LocalClusterState, member: LocalMemberState): string {
  return `${state.peerScheme}://127.0.0.1:${member.peerPort}`;
}

/** The etcd command line for one member of the spec's cluster. */
export function memberArgs(spec: Spec, state: LocalClusterState, member: LocalMemberState): string[] {
  const e = spec.etcd;
  const paths = memberPaths(spec.dataDir, member.name);
  const initialCluster = state.members.map((m) => `${m.name}=${peerUrl(state, m)}`).join(',');
  const args = [
    `--name=${member.name}`,
    `--data-dir=${paths.dataDir}`,
    `--listen-client-urls=${clientUrl(state, member)}`,
    `--advertise-client-urls=${clientUrl(state, member)}`,
    `--listen-peer-urls=${peerUrl(state, member)}`,
    `--initial-advertise-peer-urls=${peerUrl(state, member)}`,
    `--initial-cluster=${initialCluster}`,
    `--initial-cluster-state=new`,
    `--initial-cluster-token=${state.token}`,
    // A member on another line than the spec's (mid-upgrade) gets the flags of its own line.
    ...etcdSettingsFlags(
      member.etcd ? { ...spec, etcd: { ...e, version: memberLine(member.etcd.version, e.version) } } : spec,
    ),
  ];
  const server = spec.tls?.server;
  if (server) args.push(...clientTlsFlags({ ...server, caFile: spec.tls?.caFile }));
  const peer = spec.tls?.peer;
  if (peer) args.push(...peerTlsFlags(peer));
  return [...args, ...e.extraArgs];
}

/** The release line of `version` (`3.6.16` → `3.6`) when supported, else `fallback`. */
function memberLine(version: string, fallback: EtcdLine): EtcdLine {
  const line = version.split('.').slice(0, 2).join('.');
  return (SUPPORTED_LINES as readonly string[]).includes(line) ? (line as EtcdLine) : fallback;
}

/**
 * Starts a member in its own process group (so a terminal's Ctrl-C reaches only us, and we stop
 * members in order), with stdout and stderr appended to its log file.
 */
export function spawnMember(etcdBinary: string, args: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(etcdBinary, args, { detached: true, stdio: ['ignore', fd, fd], env: memberEnv() });
  } finally {
    closeSync(fd);
  }
}

/** The environment for etcd: ours minus ETCD_* variables, which etcd would read as flags. */
function memberEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('ETCD_')));
}

/** True when `pid` is alive and is the etcd serving `memberDataDir` (not a recycled pid). */
export async function isMemberProcess(pid: number | null, memberDataDir: string): Promise<boolean> {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const status = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(status)) return false; // a zombie still has a pid but no member
    return cmdline.split('\0').includes(`--data-dir=${memberDataDir}`);
  } catch {
    return process.platform !== 'linux'; // no /proc: trust the signal check
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopProcess(
  pid: number,
  memberDataDir: string,
  graceMs = 10_000,
): Promise<'stopped' | 'killed'> {
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await isMemberProcess(pid, memberDataDir))) return 'stopped';
    await sleep(50);
  }
  signal(pid, 'SIGKILL');
  while (await isMemberProcess(pid, memberDataDir)) await sleep(20);
  return 'killed';
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/**
 * The last `count` lines of a member's log, zap's JSON lines shortened to `level msg key=value`.
 * When an error line comes before them (etcd prints a bad flag, then pages of usage), it leads.
 */
export async function tailLog(logFile: string, count = 12): Promise<string[]> {
  let text: string;
  try {
    const handle = await open(logFile, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 64 * 1024);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      text = buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return [];
  }
  const lines = text.split('\n').filter((line) => line.trim().length > 0);
  const tail = lines.slice(-count);
  const firstError = lines
    .slice(0, -count)
    .find((line) => /"level":"(fatal|panic|error)"|^(error|panic|flag provided)/i.test(line));
  return [...(firstError ? [firstError, '…'] : []), ...tail].map(shortenLogLine);
}

function shortenLogLine(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    const { level, msg, ts: _ts, caller: _caller, stacktrace: _stack, ...rest } = entry;
    const extras = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    return `${String(level)} ${String(msg)}${extras ? ` ${extras}` : ''}`;
  } catch {
    return line;
  }
}
