// Shell completion, version and etcdctl's -w: the candidates come from the real program, and the
// bash script is sourced into a real bash that completes a command line through the real CLI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI, runCli } from '../testing/harness.js';
import { completions } from './completion.js';
import { buildProgram } from './program.js';

const exec = promisify(execFile);

describe('completion', () => {
  const program = buildProgram({ code: 0 });

  it('offers commands, subcommands and the flags of the command typed so far', () => {
    assert.deepEqual(completions(program, ['ba']), ['backup']);
    assert.deepEqual(completions(program, ['backup', '']), [
      'compact',
      'create',
      'delete',
      'import',
      'keygen',
      'list',
      'prune',
      'reencrypt',
      'verify',
    ]);
    assert.ok(completions(program, ['member', 'replace', '--f']).includes('--force'));
    // global flags wherever a flag is typed; hidden commands are never offered
    assert.ok(completions(program, ['status', '--end']).includes('--endpoints'));
    assert.ok(!completions(program, ['']).some((c) => c.startsWith('__')));
    assert.ok(completions(program, ['']).includes('completion'));
  });

  it('the bash script completes a real command line through the CLI', async () => {
    const { stdout: script } = await runCli(['completion', 'bash']);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'steward-completion-'));
    try {
      // `etcd-steward` on PATH is this checkout's CLI
      const bin = path.join(dir, 'etcd-steward');
      await writeFile(bin, `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
      await chmod(bin, 0o755);
      await writeFile(path.join(dir, 'completion.bash'), script);
      const { stdout } = await exec(
        'bash',
        [
          '-c',
          `source ${dir}/completion.bash; COMP_WORDS=(etcd-steward backup ve); COMP_CWORD=2; _etcd_steward; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        { env: { ...process.env, PATH: `${dir}:${process.env['PATH'] ?? ''}` } },
      );
      assert.equal(stdout.trim(), 'verify');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('zsh and fish scripts ask the same hidden command; an unknown shell is refused', async () => {
    for (const shell of ['zsh', 'fish']) {
      const { stdout, code } = await runCli(['completion', shell]);
      assert.equal(code, 0);
      assert.match(stdout, /etcd-steward __complete/);
    }
    const bad = await runCli(['completion', 'tcsh']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Allowed choices are bash, zsh, fish/);
  });
});

describe('version and -w', () => {
  it('version prints ours, Node’s and the installed etcd releases; -w json and ETCDCTL_WRITE_OUT=json as -o json', async () => {
    const text = await runCli(['version']);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /^etcd-steward \d+\.\d+\.\d+\nnode \d+/);
    for (const [args, env] of [
      [['version', '-w', 'json'], {}],
      [['version'], { ETCDCTL_WRITE_OUT: 'json' }],
    ] as const) {
      const result = await runCli([...args], { env });
      assert.equal(result.code, 0, result.stderr);
      const doc = JSON.parse(result.stdout) as { version: string; etcd: string[] };
      assert.match(doc.version, /^\d+\.\d+\.\d+/);
      assert.ok(Array.isArray(doc.etcd));
    }
    const bad = await runCli(['version', '-w', 'yaml']);
    assert.equal(bad.code, 2);
  });
});
