// Bundles the CLI (dist/cli/main.js, compiled by tsc) and its dependencies into
// dist/bundle/etcd-steward.mjs plus chunks that commands load on demand: a few minified files
// load ~100 ms faster than hundreds of modules, and every command pays that start-up. The files
// sit at the same depth as dist/cli/ so paths relative to a module (../../proto,
// ../../package.json, ../../scripts) stay right.
import { build } from 'esbuild';

import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, rm } from 'node:fs/promises';
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
