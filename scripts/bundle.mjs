// Bundles the CLI (dist/cli/main.js, compiled by tsc) and its dependencies into
// dist/bundle/etcd-steward.mjs plus chunks that commands load on demand: a few minified files
// load ~100 ms faster than hundreds of modules, and every command pays that start-up. The files
// sit at the same depth as dist/cli/ so paths relative to a module (../../proto,
// ../../package.json, ../../scripts) stay right.
import { build } from 'esbuild';

import { rm } from 'node:fs/promises';

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
