// Runs every compiled test (dist/**/*.test.js) with node's test runner, files in parallel, then
// fails if a test left an etcd process or a temp dir behind. Extra arguments name test files or
// name patterns: `npm test -- dist/engine/up.test.js`.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// This run's temp dirs (see src/testing/harness.ts): runs side by side never touch each other's.
const RUN = randomBytes(4).toString('hex');
const PREFIX = `steward-test-${RUN}-`;
const args = process.argv.slice(2);
const files = args.filter((a) => a.endsWith('.js'));
const rest = args.filter((a) => !a.endsWith('.js'));

function collect(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return collect(full);
    return entry.name.endsWith('.test.js') ? [full] : [];
  });
}

// Slow suites with their own npm script run only when named: the image test builds the container
// image (about 2 min; `npm run test:image`, which .ci/run calls after `npm test`).
const SEPARATE = new Set([path.join('dist', 'runtime', 'kubernetes', 'image.test.js')]);
const targets =
  files.length > 0
    ? files
    : collect('dist')
        .filter((f) => !SEPARATE.has(f))
        .sort();
const concurrency = process.env.STEWARD_TEST_CONCURRENCY ?? '3';
const result = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...rest, ...targets],
  { stdio: 'inherit', env: { ...process.env, STEWARD_TEST_RUN: RUN } },
);

// Leftovers: processes (etcd members, MinIO) whose command line points into this run's temp
// dirs, and the dirs.
const leftovers = [];
for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
  let cmdline;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    continue;
  }
  if (cmdline.includes(path.join(os.tmpdir(), PREFIX))) {
    leftovers.push(`process ${pid} (${path.basename(cmdline.split('\0')[0] ?? '?')})`);
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone
    }
  }
}
for (const entry of readdirSync(os.tmpdir()).filter((e) => e.startsWith(PREFIX))) {
  leftovers.push(`temp dir ${path.join(os.tmpdir(), entry)}`);
  rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true });
}
if (leftovers.length > 0) {
  console.error(`\ntests left things behind (now removed):\n  ${leftovers.join('\n  ')}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
