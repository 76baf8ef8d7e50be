/**
 * The etcd-steward image, built here with scripts/build-image.sh (buildah), running what the
 * rendered manifests ask of it: the CLI, `status` against a real cluster on loopback, the restore
 * init container's `restore-member` (its arguments, user, environment and mounts taken from the
 * rendered StatefulSet) building a data dir that etcd serves, and the agent started from the
 * rendered ConfigMap's spec answering /metrics. Slow (an image build): `npm run test:image`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { freePorts } from '../local/ports.js';
import { buildah, buildahSkip, buildImage, runIn, startIn, workingContainer } from '../../testing/buildah.js';
import { killAndWait } from '../../testing/child-process.js';
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
import { AGENT_ENTRYPOINT, AGENT_PATHS, ETCD_PATHS } from './render-images.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args: string[];
  env?: EnvVar[];
  volumeMounts?: { name: string; mountPath: string }[];
  securityContext?: { runAsUser?: number; runAsGroup?: number; readOnlyRootFilesystem?: boolean };
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: { runAsUser?: number; runAsGroup?: number };
  volumes?: { name: string; configMap?: { name: string }; persistentVolumeClaim?: { claimName: string } }[];
}
interface KubeDoc {
  kind: string;
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
  spec?: { template?: { spec: PodSpec } };
}

const skip = await buildahSkip();
/** One image for the main line (the build is what makes this test slow). */
const line = testLines().includes('3.6') ? '3.6' : (testLines()[0] ?? '3.6');

/** The objects of a YAML stream the CLI printed. */
function documents(text: string): KubeDoc[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeDoc | null)
    .filter((d): d is KubeDoc => d !== null);
}

function podSpec(objects: readonly KubeDoc[], kind: string): PodSpec {
  const object = objects.find((o) => o.kind === kind);
  assert.ok(object?.spec?.template, `no ${kind} rendered`);
  return object.spec.template.spec;
}

/** `$(NAME)` in a container's arguments, as the kubelet expands it from the container's env. */
function expand(arg: string, env: Readonly<Record<string, string>>): string {
  return arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name: string) => env[name] ?? all);
}

/**
 * How the kubelet would start `container` of `pod`, here: the command line (entrypoint + args),
 * the user, the environment (fieldRef metadata.name → `podName`, Secrets → `secrets`) and one
 * host dir per volume mount (ConfigMaps written from the rendered objects, `hostDirs` by mount path).
 */
async function asRun(
  cleanup: Cleanup,
  objects: readonly KubeDoc[],
  pod: PodSpec,
  container: Container,
  options: { podName: string; hostDirs: ReadonlyMap<string, string>; secrets?: Record<string, string> },
) {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = options.podName;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace')
      env[e.name] = objects.find((o) => o.kind === 'StatefulSet')?.metadata.namespace ?? 'default';
    else if (e.valueFrom?.secretKeyRef) {
      const secret = options.secrets?.[`${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`];
      assert.ok(secret !== undefined, `no test value for secret ${e.valueFrom.secretKeyRef.name}`);
      env[e.name] = secret;
    }
  }
  const mounts = new Map<string, string>();
  for (const m of container.volumeMounts ?? []) {
    const volume = pod.volumes?.find((v) => v.name === m.name);
    let host = options.hostDirs.get(m.mountPath);
    if (host === undefined && volume?.configMap) {
      const configMap = objects.find(
        (o) => o.kind === 'ConfigMap' && o.metadata.name === volume.configMap?.name,
      );
      assert.ok(configMap?.data, `ConfigMap ${volume.configMap.name} is not rendered`);
      host = await tempDir(cleanup, `cm-${m.name}`);
      for (const [file, content] of Object.entries(configMap.data))
        await writeFile(path.join(host, file), content);
    }
    if (host === undefined) host = await tempDir(cleanup, `vol-${m.name}`); // emptyDir and the like
    await chmod(host, 0o777);
    mounts.set(host, m.mountPath);
  }
  const security = { ...pod.securityContext, ...container.securityContext };
  if (container.securityContext?.readOnlyRootFilesystem) {
    // A read-only root for a non-root user: the only places it could write outside its volumes
    // are the world-writable temp dirs, so those become read-only empty dirs.
    assert.ok(security.runAsUser, `${container.name} runs as a non-root user`);
    const readOnly = await tempDir(cleanup, 'ro');
    for (const dir of ['/tmp', '/var/tmp'])
      if (![...mounts.values()].includes(dir)) mounts.set(`${readOnly}#${dir}`, dir);
  }
  const user =
    security.runAsUser === undefined
      ? undefined
      : `${security.runAsUser}:${security.runAsGroup ?? security.runAsUser}`;
  const command = [
    ...(container.command ?? [AGENT_ENTRYPOINT]),
    ...container.args.map((a) => expand(a, env)),
  ];
  return { command, options: { user, env, mounts } };
}

describe(`the etcd-steward image (etcd ${line}), built with buildah`, { skip, timeout: 30 * 60_000 }, () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  it('runs the CLI, status, the restore init container and the agent as rendered', async () => {
    const started = Date.now();
    const image = await buildImage(line);
    const buildSeconds = Math.round((Date.now() - started) / 1000);
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    assert.equal(image.name, `localhost/etcd-steward:${pkg.version}-etcd${line}`);

    // The image's labels and tools: the etcd line of the spec, our version.
    const { OCIv1: oci } = JSON.parse(await buildah(['inspect', '--type', 'image', image.name])) as {
      OCIv1: { config: { User: string; Entrypoint: string[]; Labels: Record<string, string> } };
    };
    const { Labels: labels, ...config } = oci.config;
    assert.equal(labels['org.opencontainers.image.version'], pkg.version);
    assert.match(labels['org.opencontainers.image.revision'] ?? '', /^[0-9a-f]{40}$|^unknown$/);
    assert.ok(labels['org.opencontainers.image.source']);
    assert.ok(labels['io.etcd-steward.etcd-version']?.startsWith(`${line}.`), JSON.stringify(labels));
    assert.deepEqual(config.Entrypoint, [AGENT_ENTRYPOINT]);
    assert.equal(config.User, '10001:10001');

    // As the user pushes it to their registry (here: only a second name in the local store).
    const repository = 'registry.image-test.internal/etcd-steward';
    const pushed = `${repository}:${pkg.version}-etcd${line}`;
    await buildah(['tag', image.name, pushed]);
    cleanup.add(() => buildah(['rmi', pushed]));
    const ctr = await workingContainer(cleanup, pushed);
    const version = await runIn(ctr, [AGENT_ENTRYPOINT, '--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), pkg.version);
    const etcdVersion = await runIn(ctr, [AGENT_PATHS.etcd, '--version']);
    assert.match(etcdVersion.stdout, new RegExp(`etcd Version: ${line.replace('.', '\\.')}\\.\\d+`));
    const whoami = await runIn(ctr, ['id', '-u']);
    assert.equal(whoami.stdout.trim(), '10001', 'the image runs as its non-root user');

    // A real cluster on loopback with a few keys and a file backup.
    const dir = await tempDir(cleanup, 'image');
    const backups = path.join(dir, 'backups');
    await mkdir(backups);
    await chmod(backups, 0o777);
    const localSpec = await writeSpec(dir, {
      members: 1,
      etcd: { version: line },
      backup: { storage: `file://${backups}` },
    });
    const up = await upDetached(cleanup, localSpec);
    const binaries = await binariesFor(line);
    for (let i = 0; i < 5; i += 1) await etcdctl(binaries, up.endpoints, ['put', `/image/k${i}`, `v${i}`]);
    const backup = await runCli(['--config', localSpec, 'backup', 'create', '-o', 'json']);
    assert.equal(backup.code, 0, backup.stderr);

    // status from inside the image (buildah's chroot shares the host's network).
    const status = await runIn(ctr, [
      AGENT_ENTRYPOINT,
      'status',
      '--endpoints',
      up.endpoints.join(','),
      '-o',
      'json',
    ]);
    assert.equal(status.code, 0, status.stderr);
    const statusJson = JSON.parse(status.stdout) as { healthy: boolean; members: { version: string }[] };
    assert.equal(statusJson.healthy, true, status.stdout);
    assert.equal(statusJson.members.length, 1);
    assert.ok(statusJson.members[0]?.version.startsWith(`${line}.`));

    // The spec a Kubernetes user would write, pointing at this image; what `render` and `restore` print.
    const kubeSpec = path.join(dir, 'kube.yaml');
    await writeFile(
      kubeSpec,
      stringify({
        name: 'etcd',
        runtime: 'kubernetes',
        members: 1,
        etcd: { version: line },
        backup: { storage: `file://${backups}`, schedule: '0 * * * *' },
        kubernetes: { agentImage: repository, backup: { pvc: { size: '1GiB' } } },
      }),
    );
    const rendered = await runCli(['--config', kubeSpec, 'render', 'kubernetes']);
    assert.equal(rendered.code, 0, rendered.stderr);
    assert.doesNotMatch(
      rendered.stderr,
      /warning: kubernetes\.agentImage/,
      'no image warning once kubernetes.agentImage is set',
    );
    const objects = documents(rendered.stdout);
    const restore = await runCli([
      '--config',
      kubeSpec,
      'restore',
      'latest',
      '--runtime',
      'kubernetes',
      '--new-cluster',
      'etcd-new',
    ]);
    assert.equal(restore.code, 0, restore.stderr);
    const restoreObjects = documents(restore.stdout);

    // The restore init container, exactly as rendered, builds member etcd-new-0's data dir …
    const statefulSet = podSpec(restoreObjects, 'StatefulSet');
    const init = statefulSet.initContainers?.find((c) => c.image === pushed);
    assert.ok(init, 'the restore StatefulSet has an init container of the image');
    const memberVolume = path.join(dir, 'member');
    await mkdir(memberVolume);
    const initRun = await asRun(cleanup, objects, statefulSet, init, {
      podName: 'etcd-new-0',
      hostDirs: new Map([
        [ETCD_PATHS.volume, memberVolume],
        [AGENT_PATHS.backupDir, backups],
      ]),
    });
    const restored = await runIn(ctr, initRun.command, initRun.options, 300_000);
    assert.equal(restored.code, 0, `${initRun.command.join(' ')}\n${restored.stderr}\n${restored.stdout}`);
    const dataDir = path.join(memberVolume, path.relative(ETCD_PATHS.volume, ETCD_PATHS.dataDir));

    // … which etcd serves: the keys are there.
    const [client, peer] = (await freePorts(2)) as [number, number];
    const served = spawn(
      binaries.etcd,
      [
        '--name=etcd-new-0',
        `--data-dir=${dataDir}`,
        `--listen-client-urls=http://127.0.0.1:${client}`,
        `--advertise-client-urls=http://127.0.0.1:${client}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        '--unsafe-no-fsync',
        '--log-level=error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let servedLog = '';
    served.stderr.on('data', (d: Buffer) => (servedLog = (servedLog + d.toString()).slice(-4000)));
    cleanup.add(() => killAndWait(served, 2000));
    let keys = '';
    for (let i = 0; i < 120 && served.exitCode === null; i += 1) {
      keys = await etcdctl(
        binaries,
        [`http://127.0.0.1:${client}`],
        ['get', '--prefix', '/image/', '--keys-only'],
      ).catch(() => '');
      if (keys.trim()) break;
      await sleep(500);
    }
    assert.equal(
      keys.trim().split(/\n+/).length,
      5,
      `restored member serves the keys; etcd said:\n${servedLog}`,
    );
    await killAndWait(served, 2000);

    // The agent from the rendered Deployment and ConfigMap, pointed at the local cluster.
    const deployment = podSpec(objects, 'Deployment');
    const agent = deployment.containers.find((c) => c.image === pushed);
    assert.ok(agent, 'the agent Deployment runs the image');
    const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.data?.['steward.yaml']);
    assert.ok(configMap?.data);
    const [metricsPort] = (await freePorts(1)) as [number];
    const inCluster = parseYaml(configMap.data['steward.yaml'] ?? '') as Record<string, unknown>;
    assert.equal(
      (inCluster['etcd'] as { version: string }).version,
      line,
      "the ConfigMap's spec has the image's etcd line",
    );
    const configDir = await tempDir(cleanup, 'agent-config');
    await writeFile(
      path.join(configDir, 'steward.yaml'),
      stringify({
        ...inCluster,
        endpoints: up.endpoints, // the Services' DNS names do not resolve here
        monitoring: { ...(inCluster['monitoring'] as object), listen: `127.0.0.1:${metricsPort}` },
      }),
    );
    const agentRun = await asRun(cleanup, objects, deployment, agent, {
      podName: 'etcd-steward-0',
      hostDirs: new Map([
        [AGENT_PATHS.configDir, configDir],
        [AGENT_PATHS.backupDir, backups],
      ]),
      secrets: { 'etcd-steward-token/token': 'image-test-token' },
    });
    const server = startIn(ctr, agentRun.command, agentRun.options);
    let agentLog = '';
    server.stdout?.on('data', (d: Buffer) => (agentLog = (agentLog + d.toString()).slice(-4000)));
    server.stderr?.on('data', (d: Buffer) => (agentLog = (agentLog + d.toString()).slice(-4000)));
    cleanup.add(() => killAndWait(server, 5000));
    let metrics = '';
    for (let i = 0; i < 120 && server.exitCode === null; i += 1) {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined);
      if (response?.ok) {
        metrics = await response.text();
        if (/^etcd_steward_member_up\{[^}]*\} 1$/m.test(metrics)) break;
      }
      await sleep(500);
    }
    assert.match(
      metrics,
      /^etcd_steward_member_up\{[^}]*\} 1$/m,
      `the agent's /metrics; it said:\n${agentLog}`,
    );
    await killAndWait(server, 5000);
    console.error(
      `image test: ${image.name} built in ${buildSeconds}s; ${image.log.trim().split('\n').pop() ?? ''}`,
    );
  });
});
