#!/usr/bin/env node
// The etcd-steward command: turns on Node's on-disk compile cache where Node has one (22.1+),
// then runs the bundled CLI (dist/bundle/, built by `npm run build`).
import module from 'node:module';

module.enableCompileCache?.();
await import('../dist/bundle/etcd-steward.mjs');
