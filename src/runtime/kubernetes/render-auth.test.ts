/**
 * The auth bootstrap Job, run as its pod would run it: its rendered arguments and environment
 * (the Secret's password in the variable the Job names), the agent ConfigMap's spec as the
 * config file, against real local etcd members — twice (the second run finds auth on and only
 * proves the password) — after which the cluster refuses unauthenticated requests. The first
 * run finds root already there (an earlier run stopped half-way) and gives it the Secret's password. The only
 * change: the ConfigMap's endpoints are the members' DNS names in a cluster, so the test points
 * them at the local members.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { parseSpec } from '../../config/load.js';
import {
  binariesFor,
  Cleanup,
  etcdctl,
  runCli,
  tempDir,
  testLines,
  upDetached,
  writeSpec,
} from '../../testing/harness.js';
import { AGENT_PATHS } from './render-images.js';
import type { KubeObject } from './render-types.js';
import { renderKubernetes } from './render.js';

const PASSWORD = 'job-secret-pw';

interface Container {
  args: string[];
  env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
}

/** The Job's container and the agent ConfigMap's spec, from a rendered spec with auth. */
function renderedJob(members: number): { job: KubeObject; container: Container; config: string } {
  const objects = renderKubernetes(
    parseSpec(
      `runtime: kubernetes\nmembers: ${members}\nauth: { user: root, passwordEnv: ETCD_ROOT_PASSWORD }\nkubernetes: { authSecret: etcd-auth }\n`,
      undefined,
    ),
  );
  const job = objects.find((o) => o.kind === 'Job');
  assert.ok(job, 'a Job is rendered for a spec with auth');
  const template = (job['spec'] as { template: { spec: { containers: Container[] } } }).template;
  const container = template.spec.containers[0];
  assert.ok(container);
  const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-config'));
  const config = (configMap?.['data'] as Record<string, string>)['steward.yaml'];
  assert.ok(config);
  return { job, container, config };
}

/** Runs the Job's container as the kubelet would: its args, its env with the Secret filled in. */
async function runJob(
  container: Container,
  configFile: string,
  workDir: string,
  password: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const e of container.env) {
    if (e.value !== undefined) env[e.name] = e.value;
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) {
      assert.deepEqual(ref, { name: 'etcd-auth', key: 'password' }, `${e.name} comes from the auth Secret`);
      env[e.name] = password;
    }
  }
  env['ETCD_STEWARD_CACHE'] = workDir;
  const args = container.args.map((a) => (a === AGENT_PATHS.configFile ? configFile : a));
  assert.notDeepEqual(args, container.args, 'the Job reads the mounted config file');
  return runCli(args, { env, timeoutMs: 120_000 });
}

describe('auth bootstrap Job against real etcd members', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  for (const line of testLines()) {
    // The main line with three members; the others with one, to keep the test quick.
    const members = line === '3.6' ? 3 : 1;
    it(`etcd ${line} (${members} member${members > 1 ? 's' : ''}): enables auth, is idempotent, then unauthenticated writes are refused`, async () => {
      const dir = await tempDir(cleanup, `auth-job-${line}`);
      const up = await upDetached(cleanup, await writeSpec(dir, { members, etcd: { version: line } }));
      const binaries = await binariesFor(line);
      const { container, config } = renderedJob(members);
      assert.deepEqual(container.args.slice(0, 2), ['auth', 'enable']);

      const agentSpec = parse(config) as Record<string, unknown>;
      assert.equal((agentSpec['endpoints'] as string[]).length, members);
      const configFile = path.join(dir, 'steward.yaml.in-pod');
      await writeFile(configFile, stringify({ ...agentSpec, endpoints: up.endpoints }));

      // Before: anyone may write. A run that stopped half-way left root with another password.
      await etcdctl(binaries, up.endpoints, ['put', '/open', 'yes']);
      await etcdctl(binaries, up.endpoints, ['user', 'add', 'root:left-by-an-earlier-run']);

      const first = await runJob(container, configFile, dir, PASSWORD);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /^authentication enabled \(user root, via .+\) at \d{4}-/);

      const second = await runJob(container, configFile, dir, PASSWORD);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /^authentication was already enabled \(user root/);

      // After: without credentials etcd refuses; with the Secret's password it accepts.
      await assert.rejects(
        etcdctl(binaries, up.endpoints, ['put', '/open', 'again']),
        /user name is empty|permission denied|authentication/i,
      );
      await etcdctl(binaries, up.endpoints, ['--user', `root:${PASSWORD}`, 'put', '/closed', 'yes']);
      const read = await etcdctl(binaries, up.endpoints, [
        '--user',
        `root:${PASSWORD}`,
        'get',
        '/closed',
        '--print-value-only',
      ]);
      assert.equal(read.trim(), 'yes');

      // A Secret with another password: the Job fails and says so (and never prints a password).
      const wrong = await runJob(container, configFile, dir, 'not-the-password');
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /root's password is not the one given/);
      assert.doesNotMatch(wrong.stderr + wrong.stdout, /not-the-password|job-secret-pw/);
    });
  }
});
