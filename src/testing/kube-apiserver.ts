/**
 * A real Kubernetes API server for tests (what controller-runtime's envtest does): kube-apiserver
 * (built by scripts/install-kube-apiserver.sh, never shipped) on 127.0.0.1 against its own
 * single-member etcd, a self-signed serving certificate (--cert-dir), a service-account key pair,
 * a static token, AlwaysAllow authorization, and the CRDs of ../shared/fixtures/crds/ installed.
 * No controller manager, scheduler or kubelet runs: objects are stored, validated and admitted
 * exactly as on a cluster, but no pod ever starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, readdir, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { cacheDir, resolveEtcd } from '../runtime/etcd-binaries.js';
import { freePorts } from '../runtime/local/ports.js';
import { tempDir, type Cleanup } from './harness.js';
import { killAndWait, once } from './child-process.js';

const exec = promisify(execFile);
const START_TIMEOUT_MS = 120_000;

/** The repository's root (dist/testing → ../..), and the shared fixtures beside the clone. */
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SHARED_FIXTURES =
  process.env['STEWARD_SHARED_FIXTURES'] ?? path.resolve(REPO_ROOT, '..', 'shared', 'fixtures');

export interface KubeApiServer {
  /** `https://127.0.0.1:PORT` */
  readonly url: string;
  /** A kubeconfig file (context `steward-test`, bearer token, the server's CA). */
  readonly kubeconfig: string;
  /** The bearer token of the kubeconfig's user (a member of system:masters). */
  readonly token: string;
  /** The serving certificate bundle, to verify the server. */
  readonly ca: string;
  /** Stops the server and its etcd; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * The kube-apiserver binary: $KUBE_APISERVER_BIN, else the newest one
 * scripts/install-kube-apiserver.sh put in the cache; undefined when there is none.
 */
export async function kubeApiServerBinary(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env['KUBE_APISERVER_BIN']) return env['KUBE_APISERVER_BIN'];
  const root = path.join(cacheDir(env), 'kube-apiserver');
  const versions = (await readdir(root).catch(() => []))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .reverse();
  for (const version of versions) {
    const dir = path.join(root, version);
    if (await exists(path.join(dir, '.complete'))) return path.join(dir, 'kube-apiserver');
  }
  return undefined;
}

/** The skip reason for tests when the binary is missing (printed loudly), else false. */
export async function kubeApiServerSkip(): Promise<string | false> {
  if (await kubeApiServerBinary()) return false;
  const reason =
    'SKIPPED: no kube-apiserver binary — build it with `bash scripts/install-kube-apiserver.sh` (npm test does) or set KUBE_APISERVER_BIN';
  console.error(`\n*** ${reason} ***\n`);
  return reason;
}

/** Starts etcd and kube-apiserver, installs the fixture CRDs, and registers the stop with `cleanup`. */
export async function startKubeApiServer(
  cleanup: Cleanup,
  options: { crds?: boolean } = {},
): Promise<KubeApiServer> {
  const binary = await kubeApiServerBinary();
  if (!binary) throw new Error('no kube-apiserver binary: run `bash scripts/install-kube-apiserver.sh`');
  const etcdBinaries = await resolveEtcd('3.6');
  const dir = await tempDir(cleanup, 'kube');
  const [etcdClient, etcdPeer, securePort] = (await freePorts(3)) as [number, number, number];
  const children: ChildProcess[] = [];
  const stop = once(async () => {
    for (const child of children.reverse()) await killAndWait(child);
  });
  cleanup.add(stop);

  const etcdOutput = collector();
  const etcd = spawn(
    etcdBinaries.etcd,
    [
      '--name=kube-etcd',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=kube-etcd=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(etcd);
  etcdOutput.attach(etcd);

  const token = randomBytes(24).toString('hex');
  await writeFile(path.join(dir, 'tokens.csv'), `${token},steward-test,steward-test-uid,"system:masters"\n`, {
    mode: 0o600,
  });
  await exec('openssl', [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-out',
    path.join(dir, 'sa.key'),
  ]);
  await exec('openssl', [
    'pkey',
    '-in',
    path.join(dir, 'sa.key'),
    '-pubout',
    '-out',
    path.join(dir, 'sa.pub'),
  ]);

  const certDir = path.join(dir, 'certs');
  const output = collector();
  const server = spawn(
    binary,
    [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${securePort}`,
      `--cert-dir=${certDir}`,
      `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
      '--authorization-mode=AlwaysAllow',
      `--service-account-key-file=${path.join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(dir, 'sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      '--v=0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(server);
  output.attach(server);

  const url = `https://127.0.0.1:${securePort}`;
  const ca = path.join(certDir, 'apiserver.crt');
  try {
    await waitReady(url, token, ca, server, () => `${output.text()}\n--- etcd:\n${etcdOutput.text()}`);
  } catch (error) {
    await stop();
    throw error;
  }
  const kubeconfig = path.join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'steward-test', cluster: { server: url, 'certificate-authority': ca } }],
      users: [{ name: 'steward-test', user: { token } }],
      contexts: [{ name: 'steward-test', context: { cluster: 'steward-test', user: 'steward-test' } }],
      'current-context': 'steward-test',
    }),
    { mode: 0o600 },
  );
  const api: KubeApiServer = { url, kubeconfig, token, ca, stop };
  if (options.crds !== false) await installCrds(api, path.join(SHARED_FIXTURES, 'crds'));
  return api;
}

/** Creates every CustomResourceDefinition in `dir` and waits until each is Established. */
export async function installCrds(api: KubeApiServer, dir: string): Promise<void> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(path.join(dir, file), 'utf8'))) {
      const crd = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
      if (crd?.kind !== 'CustomResourceDefinition' || !crd.metadata?.name) continue;
      const base = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
      await request(api, 'POST', base, crd);
      const deadline = Date.now() + 60_000;
      for (;;) {
        const live = (await request(api, 'GET', `${base}/${crd.metadata.name}`)) as {
          status?: { conditions?: { type: string; status: string }[] };
        };
        if (live.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
        if (Date.now() > deadline)
          throw new Error(`CRD ${crd.metadata.name} (${file}) did not become Established`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}

/** One JSON request to the test server (for set-up and for writing status subresources). */
export function request(
  api: Pick<KubeApiServer, 'url' | 'token' | 'ca'>,
  method: string,
  urlPath: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<unknown> {
  return rawRequest(api.url, api.token, api.ca, method, urlPath, body, contentType).then(
    ({ status, text }) => {
      if (status < 200 || status > 299)
        throw new Error(`${method} ${urlPath}: HTTP ${status}: ${text.slice(0, 800)}`);
      return text ? (JSON.parse(text) as unknown) : undefined;
    },
  );
}

async function rawRequest(
  url: string,
  token: string,
  caFile: string,
  method: string,
  urlPath: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; text: string }> {
  const ca = await readFile(caFile);
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(urlPath, url),
      {
        method,
        ca,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: 'application/json',
          ...(body === undefined ? {} : { 'Content-Type': contentType }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${urlPath}: no answer in 30 s`)));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function waitReady(
  url: string,
  token: string,
  ca: string,
  child: ChildProcess,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`kube-apiserver exited while starting (${child.exitCode}):\n${output()}`);
    if (await exists(ca)) {
      const answer = await rawRequest(url, token, ca, 'GET', '/readyz').catch((e: Error) => ({
        status: 0,
        text: e.message,
      }));
      if (answer.status === 200) return;
      last = `${answer.status}: ${answer.text.slice(0, 300)}`;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `kube-apiserver was not ready within ${START_TIMEOUT_MS} ms (last /readyz: ${last}):\n${output()}`,
  );
}

function collector() {
  let text = '';
  return {
    attach(child: ChildProcess) {
      const add = (d: Buffer) => (text = (text + d.toString()).slice(-6000));
      child.stdout?.on('data', add);
      child.stderr?.on('data', add);
    },
    text: () => text,
  };
}

function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
