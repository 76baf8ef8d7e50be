// Bundles the CLI (dist/cli/main.js, compiled by tsc) and its dependencies into
// dist/bundle/etcd-steward.mjs plus chunks that commands load on demand: a few minified files
// load ~100 ms faster than hundreds of modules, and every command pays that start-up. The files
// sit at the same depth as dist/cli/ so paths relative to a module (../../proto,
// ../../package.json, ../../scripts) stay right.
import { build } from 'esbuild';

import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';

await rm('dist/bundle', { recursive: true, force: true });
await build({
  entryPoints: { 'etcd-steward': 'dist/cli/main.js' },
  outdir: 'dist/bundle',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  minify: true,
  keepNames: true, // error class names stay readable
  logLevel: 'warning',
  // Some dependencies are CommonJS and call require(): give the ESM bundle one.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
});

await requireBuiltins('dist/bundle');

/**
 * Node's built-in modules through `require`, not `import`: an ESM import of a built-in builds an
 * ES module facade that reads every export, running lazy getters on the way (`fs.ReadStream`
 * loads the fs streams), about 10 ms of every command's start-up (CPU profile of `status`). Each
 * chunk's `import … from "node:x"` statements become blanks of the same length (so the source map
 * of that line stays right) and `const … = require("node:x")` declarations join the banner line,
 * which comes before all code and has no mappings. Built-ins have no dependencies on the bundle,
 * so evaluating them first changes nothing; a form this does not know fails the build.
 */
async function requireBuiltins(dir) {
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  const statement = /import\s*([^;"']*?)\s*from\s*"([^"]+)";?/g;
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.mjs'))) {
    const path = `${dir}/${file}`;
    const text = await readFile(path, 'utf8');
    const banner = text.indexOf('const require = __createRequire(import.meta.url);');
    if (banner < 0) throw new Error(`${file}: no banner line`);
    const cut = text.indexOf('\n', banner) + 1; // after the banner line (a shebang may come first)
    const declarations = [];
    const body = text.slice(cut).replace(statement, (whole, clause, from) => {
      if (!builtins.has(from)) return whole;
      declarations.push(...bindings(clause, from, file));
      return ' '.repeat(whole.length);
    });
    if (declarations.length === 0) continue;
    const left = body
      .match(/(?:^|[;}])\s*import[^;"']*from\s*"(?:node:)?[a-z_/0-9]+"/g)
      ?.filter((m) => builtins.has(m.match(/"([^"]+)"/)[1]));
    if (left?.length) throw new Error(`${file}: built-in imports left after rewriting: ${left.join(' | ')}`);
    await writeFile(path, `${text.slice(0, cut - 1)} ${declarations.join('')}\n${body}`);
  }
}

/** `const` declarations for one import clause: `X`, `* as X`, `{a as b, c}`, or a default and one of those. */
function bindings(clause, from, file) {
  const source = `require(${JSON.stringify(from)})`;
  const out = [];
  let rest = clause.trim();
  const named = rest.match(/\{([^}]*)\}$/);
  if (named) {
    const parts = named[1]
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    const props = parts.map((p) => {
      const m = p.match(/^([A-Za-z_$][\w$]*)(?:\s+as\s+([A-Za-z_$][\w$]*))?$/);
      if (!m) throw new Error(`${file}: unknown import binding ${p} from ${from}`);
      return m[2] ? `${m[1]}:${m[2]}` : m[1];
    });
    out.push(`const{${props.join(',')}}=${source};`);
    rest = rest.slice(0, named.index).replace(/,\s*$/, '').trim();
  }
  const namespace = rest.match(/^(?:([A-Za-z_$][\w$]*)\s*,\s*)?\*\s*as\s+([A-Za-z_$][\w$]*)$/);
  if (namespace) {
    if (namespace[1]) out.push(`const ${namespace[1]}=${source};`);
    out.push(`const ${namespace[2]}=${source};`);
  } else if (/^[A-Za-z_$][\w$]*$/.test(rest)) out.push(`const ${rest}=${source};`);
  else if (rest !== '') throw new Error(`${file}: unknown import clause ${clause} from ${from}`);
  return out;
}

// The web dashboard (src/web/): the browser script, type-checked against the DOM by its own
// tsconfig (the main one has no DOM and leaves src/web/client out), bundled into one file beside
// the page and its style sheet: dist/web/{index.html,app.js,style.css}, served by the agent.
const tsc = fileURLToPath(import.meta.resolve('typescript/bin/tsc'));
const checked = spawnSync(process.execPath, [tsc, '-p', 'src/web/client/tsconfig.json'], {
  stdio: 'inherit',
});
if (checked.status !== 0) process.exit(checked.status ?? 1);
await mkdir('dist/web', { recursive: true });
await build({
  entryPoints: { app: 'src/web/client/main.ts' },
  outdir: 'dist/web',
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  sourcemap: 'linked',
  legalComments: 'none',
  minify: true,
  logLevel: 'warning',
});
for (const file of ['index.html', 'style.css']) await copyFile(`src/web/${file}`, `dist/web/${file}`);
