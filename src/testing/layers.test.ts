// The import direction of the whole tree (rules in layers.ts): every import of every src/**/*.ts
// file, read from the sources. And the checker itself on synthetic imports, so that a tree-wide
// pass means the rules were applied, not that the checker sees nothing.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PEERS, TIERS, checkImport, importsOf, type LayerFinding } from './layers.js';

/** The repository's src/ (this file runs as dist/testing/layers.test.js). */
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** What every relative import of the file at `relative` (to src/) breaks. */
function findings(relative: string, text: string): LayerFinding[] {
  return importsOf(relative, text).flatMap((ref) => {
    if (!ref.specifier.startsWith('.')) return [];
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(relative), ref.specifier));
    const rule = checkImport(relative, target, ref.typeOnly);
    return rule === undefined ? [] : [{ file: relative, line: ref.line, specifier: ref.specifier, rule }];
  });
}

describe('layers', () => {
  it('no file of src/ imports against the direction of the layers', () => {
    const files = sourceFiles(SRC);
    assert.ok(files.length > 100, `only ${files.length} files under ${SRC}`);
    const broken = files.flatMap((file) =>
      findings(path.relative(SRC, file).split(path.sep).join('/'), readFileSync(file, 'utf8')),
    );
    assert.deepEqual(
      broken.map((f) => `src/${f.file}:${f.line} imports '${f.specifier}': ${f.rule}`),
      [],
      'imports against the layers (fix the import, or add the rule with its reason to src/testing/layers.ts)',
    );
  });

  it('the checker: what each kind of import statement is, and which rule a bad one breaks', () => {
    const text = [
      "import { a } from '../cli/context.js';",
      "import type { B } from '../server/agent.js';",
      "import { type C, type D } from '../etcd/member-client.js';",
      "import { type E, f } from '../storage/storage.js';",
      "export { g } from '../engine/status.js';",
      "export type { H } from '../runtime/local/state.js';",
      "const m = await import('../greptime/repoint.js');",
      "type M = typeof import('../snapshot/index.js');",
      "import fs from 'node:fs';",
    ].join('\n');
    assert.deepEqual(
      importsOf('engine/x.ts', text).map((r) => [r.specifier, r.typeOnly, r.line]),
      [
        ['../cli/context.js', false, 1],
        ['../server/agent.js', true, 2],
        ['../etcd/member-client.js', true, 3],
        ['../storage/storage.js', false, 4],
        ['../engine/status.js', false, 5],
        ['../runtime/local/state.js', true, 6],
        ['../greptime/repoint.js', false, 7],
        ['../snapshot/index.js', true, 8],
        ['node:fs', false, 9],
      ],
    );
    // Upward imports fail, with the file, the line, the import and the rule named; a type-only
    // import is still an arrow pointing up.
    const up = findings('engine/x.ts', text);
    assert.deepEqual(
      up.map((f) => [f.line, f.specifier]),
      [
        [1, '../cli/context.js'],
        [2, '../server/agent.js'],
      ],
    );
    assert.match(
      up[0]?.rule ?? '',
      /engine\/ \(tier 2\) must not import cli\/ \(tier 4\): the arrows only point down/,
    );

    // Down is fine; peers only as PEERS lists them, type-only where it says so.
    assert.equal(checkImport('cli/commands/up.ts', 'engine/up.ts', false), undefined);
    assert.equal(checkImport('engine/up.ts', 'errors.ts', false), undefined);
    assert.equal(checkImport('config/connection.ts', 'etcd/member-client.ts', true), undefined);
    assert.match(
      checkImport('config/connection.ts', 'etcd/member-client.ts', false) ?? '',
      /config\/ may import only types of etcd\//,
    );
    assert.match(checkImport('etcd/x.ts', 'storage/file.ts', true) ?? '', /peers .* needs an entry in PEERS/);
    assert.match(checkImport('etcd/x.ts', 'engine/status.ts', false) ?? '', /must not import engine\//);
    assert.match(
      checkImport('errors.ts', 'config/spec.ts', false) ?? '',
      /errors\/ \(tier 0\) must not import/,
    );

    // testing/, bench/, tests and the browser script.
    assert.match(
      checkImport('engine/up.ts', 'testing/harness.ts', false) ?? '',
      /only tests, testing\/ and bench\//,
    );
    assert.equal(checkImport('engine/up.test.ts', 'testing/harness.ts', false), undefined);
    assert.equal(checkImport('storage/s.test.ts', 'cli/main.ts', false), undefined);
    assert.equal(checkImport('bench/main.ts', 'cli/context.ts', false), undefined);
    assert.match(checkImport('testing/harness.ts', 'bench/load.ts', false) ?? '', /nothing imports bench\//);
    assert.equal(checkImport('web/client/api.ts', 'server/http.ts', true), undefined);
    assert.match(checkImport('web/client/api.ts', 'server/http.ts', false) ?? '', /but types of server\//);
    assert.match(checkImport('web/client/api.ts', 'config/spec.ts', true) ?? '', /config\/ is not that/);
    assert.match(checkImport('server/http.ts', 'web/client/api.ts', true) ?? '', /never imported/);
    assert.match(checkImport('newthing/x.ts', 'errors.ts', false) ?? '', /newthing\/ is in no tier/);
  });

  it('every peer import has a reason and joins two folders of one tier', () => {
    for (const peer of PEERS) {
      assert.ok(peer.reason.length > 20, `${peer.from} → ${peer.to}: give a reason`);
      assert.equal(TIERS[peer.from], TIERS[peer.to], `${peer.from} → ${peer.to}: not peers`);
    }
  });
});
