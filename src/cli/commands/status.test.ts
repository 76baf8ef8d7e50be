// `status` with a `runtime: kubernetes` spec goes through the Kubernetes runtime (it once fell
// into the local runtime and told the user to run `up`).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePorts } from '../../runtime/local/ports.js';
import { Cleanup, runCli, tempDir, writeSpec } from '../../testing/harness.js';

describe('status with a kubernetes spec', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  async function kubernetesSpec(): Promise<string> {
    const dir = await tempDir(cleanup, 'status-k8s');
    return writeSpec(dir, { name: 'meta', runtime: 'kubernetes', kubernetes: { namespace: 'db' } });
  }

  it('from a laptop, asks the API server, and says clearly when it cannot be reached', async () => {
    const spec = await kubernetesSpec();
    const [port] = (await freePorts(1)) as [number];
    const kubeconfig = path.join(path.dirname(spec), 'kubeconfig');
    await writeFile(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`,
    );
    const result = await runCli(['--config', spec, 'status'], {
      env: { KUBECONFIG: kubeconfig, KUBERNETES_SERVICE_HOST: '' },
    });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`cannot reach the API server https://127\\.0\\.0\\.1:${port}`));
    assert.match(result.stderr, /hint: check the kubeconfig context/);
    assert.doesNotMatch(result.stderr, /etcd-steward up|no local cluster/);
  });

  it('inside the cluster, reaches the members by their headless Service DNS names', async () => {
    const spec = await kubernetesSpec();
    const result = await runCli(['--config', spec, 'status', '-o', 'json', '--dial-timeout', '1s'], {
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' },
    });
    assert.equal(result.code, 1, result.stderr); // nothing answers at those names here
    const status = result.json<{ members: { endpoint: string; name?: string; health: { ok: boolean } }[] }>();
    assert.deepEqual(
      status.members.map((m) => [m.name, m.endpoint, m.health.ok]),
      [0, 1, 2].map((i) => [`meta-${i}`, `http://meta-${i}.meta-headless.db.svc.cluster.local:2379`, false]),
    );
  });
});
