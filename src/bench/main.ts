/**
 * `npm run bench`: starts a local 3-member cluster of the main etcd line (3.6) in a temp dir,
 * measures each row side by side with etcd's own tools in one run, prints a table of ratios and
 * writes bench-results/latest.json. Never part of `npm test`: figures, not assertions.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseSpec } from '../config/load.js';
import type { EtcdLine } from '../config/etcd-lines.js';
import { upCluster } from '../engine/up.js';
import { renderTable } from '../cli/output.js';
import { resolveEtcd } from '../runtime/etcd-binaries.js';
import type { BenchRow } from './measure.js';
import { benchStatus } from './status.js';

const line = (process.env['BENCH_ETCD_LINE'] ?? '3.6') as EtcdLine;
const runs = Number(process.env['BENCH_RUNS'] ?? 21);

async function main(): Promise<void> {
  const binaries = await resolveEtcd(line);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'steward-bench-'));
  const spec = parseSpec(
    `name: bench\nmembers: 3\ndataDir: ${dir}/data\netcd: { version: "${line}" }\n`,
    path.join(dir, 'steward.yaml'),
  );
  process.stderr.write(
    `bench: etcd ${binaries.version}, 3 members in ${dir}, ${runs} runs per figure, ${os.cpus().length} cores\n`,
  );
  const connection = { dialTimeoutMs: 2000, commandTimeoutMs: 5000 };
  const { runtime } = await upCluster({ spec, binaries, connection });
  const rows: BenchRow[] = [];
  try {
    const endpoints = await runtime.endpoints();
    rows.push(await benchStatus(binaries, endpoints, runs, dir));
  } finally {
    await runtime.stop();
    await rm(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    `${renderTable(
      ['BENCHMARK', 'ETCD-STEWARD', 'ETCD TOOLS', 'RATIO', 'GOAL', 'MET', 'NOTE'],
      rows.map((r) => [
        r.name,
        r.ours,
        r.theirs,
        r.ratio === undefined ? '-' : r.ratio.toFixed(2),
        r.goal,
        r.met === undefined ? '-' : r.met ? 'yes' : 'NO',
        r.note,
      ]),
    )}\n`,
  );
  await mkdir('bench-results', { recursive: true });
  const report = {
    date: new Date().toISOString(),
    etcd: binaries.version,
    node: process.version,
    cores: os.cpus().length,
    runs,
    rows,
  };
  await writeFile(path.join('bench-results', 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
}

await main();
