// The install scripts' version checks (scripts/lib/version.sh) against a program that writes
// many lines fast after its version, the way `etcd --version` did when `| head -1 | grep -q`
// under pipefail failed on a fresh machine. The stand-in is a tiny shell script on purpose: what
// is under test is how the check reads the pipe, not what etcd prints.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Cleanup, tempDir } from '../testing/harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LIB = path.join(ROOT, 'scripts', 'lib', 'version.sh');
const RUNS = 20;

const cleanup = new Cleanup();
after(() => cleanup.run());

/**
 * A program whose `--version` prints `first` and then ~100 KB more, beyond a pipe's buffer. Like
 * etcd (a Go program), it dies of SIGPIPE when the reader goes away: `seq` is its last command.
 */
async function standIn(first: string, exitCode?: number): Promise<string> {
  const dir = await tempDir(cleanup, 'version-standin');
  const file = path.join(dir, 'prog');
  await writeFile(
    file,
    `#!/bin/sh\necho '${first}'\nseq 1 20000\n${exitCode === undefined ? '' : `exit ${exitCode}\n`}`,
  );
  await chmod(file, 0o755);
  return file;
}

/** Runs `body` `runs` times in bash with pipefail and the library sourced; returns how many failed. */
function failuresOf(body: string, program: string, runs = RUNS): number {
  const script = `set -uo pipefail; source "$1"; fails=0
for _ in $(seq ${runs}); do ( ${body} ) || fails=$((fails + 1)); done; echo "$fails"`;
  const result = spawnSync('bash', ['-c', script, 'check', LIB, program], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'], // a socket as stdin makes bash read ~/.bashrc
  });
  assert.equal(result.status, 0, result.stderr);
  return Number(result.stdout.trim());
}

describe('install scripts: version checks', () => {
  it('the stand-in does break the old pipeline (so the test below can fail)', async () => {
    const program = await standIn('etcd Version: 3.6.16');
    const failures = failuresOf(`"$2" --version | head -1 | grep -q 3.6.16`, program);
    assert.ok(failures > 0, `head -1 | grep -q under pipefail never failed in ${RUNS} runs`);
  });

  it('reports_version passes every time against a program that keeps writing', async () => {
    const program = await standIn('etcd Version: 3.6.16');
    assert.equal(failuresOf(`reports_version "$2" "etcd Version: 3.6.16"`, program), 0);
  });

  it('reports_version fails on another version and on a program that fails', async () => {
    const other = await standIn('etcd Version: 3.6.15');
    assert.equal(failuresOf(`reports_version "$2" "etcd Version: 3.6.16"`, other, 3), 3);
    const broken = await standIn('etcd Version: 3.6.16', 3);
    assert.equal(failuresOf(`reports_version "$2" "etcd Version: 3.6.16"`, broken, 3), 3);
  });

  it('version_line gives the first line, also when the program fails', async () => {
    const program = await standIn('Kubernetes v1.36.3');
    const line = spawnSync('bash', ['-c', 'source "$1"; version_line "$2"', 'x', LIB, program], {
      encoding: 'utf8',
    });
    assert.equal(line.stdout, 'Kubernetes v1.36.3\n');
    const missing = spawnSync('bash', ['-c', 'source "$1"; version_line /nonexistent/prog', 'x', LIB], {
      encoding: 'utf8',
    });
    assert.equal(missing.stdout, 'unknown version\n');
  });

  it('no script pipes a program into head or grep -q/-m (they close the pipe early)', async () => {
    const files = [
      ...(await readdir(path.join(ROOT, 'scripts')))
        .filter((f) => f.endsWith('.sh'))
        .map((f) => `scripts/${f}`),
      ...(await readdir(path.join(ROOT, 'scripts', 'lib'))).map((f) => `scripts/lib/${f}`),
      '.ci/run',
      'Dockerfile',
    ];
    const offenders: string[] = [];
    for (const file of files) {
      const lines = (await readFile(path.join(ROOT, file), 'utf8')).split('\n');
      lines.forEach((line, i) => {
        if (line.trimStart().startsWith('#')) return;
        if (/\|\s*(head\b|grep\s+-\w*[qm])/.test(line)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(offenders, []);
  });
});
