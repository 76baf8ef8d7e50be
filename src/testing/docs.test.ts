// The docs agree with the program: every command of buildProgram() is named in README.md or
// docs/*.md as `etcd-steward <command path>`, and every example command line in their fenced code
// blocks parses (its subcommands exist, its flags belong to the command or an ancestor). The
// checker's own tests show it rejects what is wrong (a made-up flag, subcommand or command).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../cli/program.js';
import {
  brokenLinks,
  checkExample,
  commandPaths,
  extractExamples,
  headingAnchor,
  undocumentedCommands,
} from './docs.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

function docFiles(): { file: string; text: string }[] {
  const docs = readdirSync(path.join(REPO_ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs].map((file) => ({
    file,
    text: readFileSync(path.join(REPO_ROOT, file), 'utf8'),
  }));
}

describe('docs checker', () => {
  const program = buildProgram({ code: 0 });

  it('accepts real commands, global flags anywhere, values, alternatives and placeholders', () => {
    for (const line of [
      'etcd-steward status',
      'etcd-steward -o json status',
      'etcd-steward status -w wide --endpoints 127.0.0.1:2379',
      'etcd-steward backup create [--to URL] [--member M] [--compression gzip|none] [--no-prune]',
      'etcd-steward backup verify <name|latest> --all',
      'etcd-steward apply [-f FILE] [--dry-run=server] [--wait]',
      'etcd-steward restore latest --to-revision R --to-time T',
      'etcd-steward backup verify --drill …',
      'etcd-steward <command path> --help',
      'etcd-steward member remove etcd-1 --help',
      "etcd-steward defrag --rule 'dbQuotaUsage > 0.8' --dry-run",
    ]) {
      assert.deepEqual(checkExample(program, line), [], line);
    }
  });

  it('rejects a made-up flag, a flag of another command and a made-up subcommand', () => {
    assert.deepEqual(checkExample(program, 'etcd-steward backup create --made-up-flag'), [
      "'etcd-steward backup create' has no option --made-up-flag",
    ]);
    assert.deepEqual(checkExample(program, 'etcd-steward status --purge'), [
      "'etcd-steward status' has no option --purge",
    ]);
    assert.deepEqual(checkExample(program, 'etcd-steward backup frobnicate'), [
      "'etcd-steward backup' has no subcommand 'frobnicate'",
    ]);
    assert.deepEqual(checkExample(program, 'etcd-steward frobnicate'), [
      "'etcd-steward' has no subcommand 'frobnicate'",
    ]);
    assert.deepEqual(checkExample(program, 'etcd-steward snapshot inspect -Z latest'), [
      "'etcd-steward snapshot inspect' has no option -Z",
    ]);
  });

  it('finds examples in fenced blocks and code spans, not in plain prose, and cuts them where they end', () => {
    const markdown = [
      'A span: `etcd-steward status --bogus`; plain prose: etcd-steward up --not-an-example.',
      '```sh',
      '$ etcd-steward backup list          # the catalog --not-a-flag',
      'npx etcd-steward down --purge',
      'ETCDCTL_ENDPOINTS=a:2379 etcd-steward status',
      'etcd-steward restore latest --new-cluster x | kubectl apply -f -',
      'etcd-steward restore latest --to-revision R | --to-time T   point in time',
      'etcd-steward render kubernetes \\',
      '  --output-dir manifests && kubectl apply -k manifests',
      "etcd-steward defrag --rule 'a > 1 | b' > out.txt",
      'kubectl get pods',
      '```',
      'etcd-steward status --after-the-fence, and in a table: | `etcd-steward restore latest \\| kubectl apply -f -` |',
      'a span that `etcd-steward member',
      'list -o wide` wraps',
    ].join('\n');
    assert.deepEqual(
      extractExamples('x.md', markdown).map((e) => [e.line, e.text]),
      [
        [1, 'etcd-steward status --bogus'],
        [3, 'etcd-steward backup list'],
        [4, 'etcd-steward down --purge'],
        [5, 'etcd-steward status'],
        [6, 'etcd-steward restore latest --new-cluster x'],
        [7, 'etcd-steward restore latest --to-revision R --to-time T'],
        [8, 'etcd-steward render kubernetes --output-dir manifests'],
        [10, "etcd-steward defrag --rule 'a > 1 | b'"],
        [13, 'etcd-steward restore latest'],
        [14, 'etcd-steward member list -o wide'],
      ],
    );
  });

  it('reports a command that no doc names, and does not take restore-member for restore', () => {
    assert.deepEqual(undocumentedCommands(['restore', 'status'], 'run `etcd-steward restore-member x`'), [
      'restore',
      'status',
    ]);
    assert.deepEqual(undocumentedCommands(['backup create'], 'etcd-steward backup create --to x'), []);
  });

  it("finds links to missing files and missing headings, and follows GitHub's anchors", () => {
    assert.equal(headingAnchor("Coming from GreptimeDB's etcd guide"), 'coming-from-greptimedbs-etcd-guide');
    assert.equal(headingAnchor('`up` and `down` (local runtime)'), 'up-and-down-local-runtime');
    const files = new Map([
      ['README.md', '# Top\n[a](docs/a.md#part) [b](docs/b.md) [c](docs/a.md#nope) [d](https://x.y/z)'],
      [
        'docs/a.md',
        '# A\n## Part\n[up](../README.md#top) [gone](../README.md#gone)\n```\n[in code](nowhere.md)\n```',
      ],
    ]);
    const broken = brokenLinks(
      files,
      (p) => files.has(p),
      () => undefined,
    );
    assert.deepEqual(broken, [
      'README.md: docs/b.md (no docs/b.md)',
      'README.md: docs/a.md#nope (no heading #nope)',
      'docs/a.md: ../README.md#gone (no heading #gone)',
    ]);
  });
});

describe('README.md and docs/*.md', () => {
  const program = buildProgram({ code: 0 });
  const files = docFiles();

  it('name every command and subcommand as `etcd-steward <command path>`', () => {
    const paths = commandPaths(program);
    for (const expected of ['member list', 'version', 'completion', 'backup create', 'import bitnami']) {
      assert.ok(paths.includes(expected), `the program has no '${expected}': commandPaths is wrong`);
    }
    const text = files.map((f) => f.text).join('\n');
    assert.deepEqual(undocumentedCommands(paths, text), []);
  });

  it('have example command lines that parse', () => {
    const examples = files.flatMap((f) => extractExamples(f.file, f.text));
    assert.ok(examples.length > 50, `only ${examples.length} examples found: the extractor is broken`);
    const problems = examples.flatMap((e) =>
      checkExample(program, e.text).map((p) => `${e.file}:${e.line}: ${e.text}\n  ${p}`),
    );
    assert.deepEqual(problems, []);
  });

  it('link only to files and headings that exist', () => {
    const map = new Map(files.map((f) => [f.file, f.text]));
    const inRepo = (p: string) => path.join(REPO_ROOT, p);
    const broken = brokenLinks(
      map,
      (p) => existsSync(inRepo(p)),
      (p) => (existsSync(inRepo(p)) ? readFileSync(inRepo(p), 'utf8') : undefined),
    );
    assert.deepEqual(broken, []);
  });
});
