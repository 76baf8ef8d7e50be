// `up --serve` (what `npm start` runs) asked to stop at each phase of its start-up — members
// starting, the status table just printed (before the agent runs), the agent serving — by
// Ctrl-C, SIGTERM, SIGHUP (a closed terminal) and a closed stdout pipe: no etcd process may
// outlive the command.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import {
  CLI,
  Cleanup,
  killRecordedMembers,
  scrubbedEnv,
  tempDir,
  testLines,
  writeSpec,
} from '../../testing/harness.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

/** Where the command is when the request lands, recognised by what it has printed. */
const PHASES = {
  starting: /started etcd-0/, // members spawned, not yet healthy
  healthy: /healthy, 1 members, leader/, // the status table is out, the agent not yet started
  serving: /press Ctrl-C to stop the agent and the members/,
} as const;
type Phase = keyof typeof PHASES;
type Request = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'closed stdout';

const CASES: [Phase, Request][] = [
  ...(['starting', 'healthy', 'serving'] as const).flatMap((phase) =>
    (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal): [Phase, Request] => [phase, signal]),
  ),
  // The status table is the first write to stdout: a reader gone before it (`npm start | head -0`).
  ['starting', 'closed stdout'],
];

/** Processes whose command line points into `dir` (the members of the cluster under test). */
function processesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(dir) && Number(pid) !== process.pid)
        found.push(`${pid}: ${cmdline.split('\0')[0]}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const line = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');

describe('up --serve stops its members on every stop request at every phase', { concurrency: true }, () => {
  for (const [phase, request] of CASES) {
    it(`${request} while ${phase}`, async () => {
      const dir = await tempDir(cleanup, `sig-${phase}-${request.replace(' ', '-')}`);
      const spec = await writeSpec(dir, {
        members: 1,
        etcd: { version: line },
        monitoring: { listen: '127.0.0.1:0' },
      });
      cleanup.add(() => killRecordedMembers(dir));
      const child = spawn(process.execPath, [CLI, '--config', spec, 'up', '--serve'], {
        env: scrubbedEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => {
        output += d.toString();
        stderr += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      await waitUntil(
        () => PHASES[phase].test(output),
        90_000,
        () => `${PHASES[phase]} in:\n${output}`,
      );
      if (request === 'closed stdout') child.stdout.destroy();
      else child.kill(request);
      const code = await exited;
      // Stopped before it was up: an error saying so; stopped later: a clean exit.
      if (phase === 'serving' || phase === 'healthy') assert.equal(code, 0, output);
      else assert.notEqual(code, null, `exited by itself, not killed by the signal:\n${output}`);
      assert.deepEqual(processesUnder(dir), [], `no etcd process outlives the command:\n${output}`);
      if (code !== 0) assert.match(stderr, /error: .*(interrupted|output was closed)/);
    });
  }
});
