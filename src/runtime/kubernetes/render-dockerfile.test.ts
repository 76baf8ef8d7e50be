import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parseSpec } from '../../config/load.js';
import {
  AGENT_ENTRYPOINT,
  AGENT_IMAGE_REPOSITORY,
  AGENT_PATHS,
  AGENT_UID,
  agentImageTag,
  agentImageWarnings,
  DEFAULT_ETCD_VERSIONS,
  resolveAgentImage,
} from './render-images.js';
import { renderRestore } from './render-restore.js';
import { renderKubernetes } from './render.js';

const DOCKERFILE = new URL('../../../Dockerfile', import.meta.url);

interface Container {
  image: string;
  command?: string[];
  args: string[];
  env?: { name: string; value?: string }[];
  volumeMounts?: { mountPath: string }[];
}

describe('the Dockerfile and the manifests agree', () => {
  it('image, entrypoint, user, mounted paths and etcdutl', async () => {
    const dockerfile = await readFile(DOCKERFILE, 'utf8');
    const spec = parseSpec(
      'runtime: kubernetes\nbackup: { storage: /b, schedule: "0 * * * *" }\nkubernetes: { schedules: cronjobs, backup: { pvc: { size: 10GiB } } }\n',
      undefined,
    );
    const objects = [
      ...renderKubernetes(spec),
      ...renderRestore(spec, {
        backup: 'etcd-20261204T120000Z',
        sha256: 'a'.repeat(64),
        newClusterName: 'etcd-new',
      }),
    ];
    const containers: Container[] = [];
    for (const o of objects) {
      const s = o['spec'] as Record<string, unknown> | undefined;
      const template = (s?.['template'] ??
        (s?.['jobTemplate'] as { spec?: { template?: unknown } } | undefined)?.spec?.template) as
        { spec: { containers: Container[]; initContainers?: Container[] } } | undefined;
      if (template) containers.push(...template.spec.containers, ...(template.spec.initContainers ?? []));
    }
    const ours = containers.filter((c) => c.image.startsWith(`${AGENT_IMAGE_REPOSITORY}:`));
    assert.ok(ours.length >= 3, 'agent, CronJob and restore init container use our image');

    assert.match(dockerfile, new RegExp(`^ENTRYPOINT \\["${AGENT_ENTRYPOINT}"\\]$`, 'm'));
    assert.match(
      dockerfile,
      /ln -s \/opt\/etcd-steward\/bin\/etcd-steward\.mjs \/usr\/local\/bin\/etcd-steward/,
    );
    assert.match(dockerfile, new RegExp(`^USER ${AGENT_UID}:${AGENT_UID}$`, 'm'));
    assert.match(
      dockerfile,
      new RegExp(`^ARG ETCD_VERSION=${DEFAULT_ETCD_VERSIONS['3.6'].replace(/\./g, '\\.')}$`, 'm'),
    );
    assert.match(
      dockerfile,
      /COPY --from=etcd \/out\/etcd \/out\/etcdctl \/out\/etcdutl \/usr\/local\/bin\//,
    );
    assert.match(dockerfile, new RegExp(`ETCD_STEWARD_CACHE=${AGENT_PATHS.workDir}`));
    // The image is the last stage: FROM ${BASE_IMAGE}, Debian slim (or the debootstrap base).
    const final = dockerfile.split(/^FROM \$\{BASE_IMAGE\}$/m);
    assert.equal(final.length, 2, 'one final stage FROM ${BASE_IMAGE}');
    const image = final[1] ?? '';
    assert.doesNotMatch(image, /^FROM /m, 'the final stage is the last one');
    const made = /mkdir -p ([^&\n]+)/.exec(image)?.[1]?.trim().split(/\s+/) ?? [];
    for (const dir of [AGENT_PATHS.configDir, AGENT_PATHS.workDir, AGENT_PATHS.backupDir]) {
      assert.ok(made.includes(dir), `the Dockerfile does not create ${dir}`);
    }
    assert.doesNotMatch(
      image,
      /gcc|build-essential|make |apt-get install|npm /,
      'no compilers nor npm in the image',
    );
    for (const label of ['source', 'version', 'revision'])
      assert.match(image, new RegExp(`org\\.opencontainers\\.image\\.${label}="\\$\\{[A-Z]+\\}"`));
    // Each part comes from a stage a build argument picks; every value has its stage.
    for (const [arg, values] of [
      ['APP_FROM', ['source', 'context']],
      ['ETCD_FROM', ['release', 'proxy', 'context']],
      ['NODE_FROM', ['image', 'context']],
    ] as const) {
      const part = arg.split('_')[0]?.toLowerCase() ?? '';
      assert.match(dockerfile, new RegExp(`^FROM ${part}-\\$\\{${arg}\\} AS ${part}$`, 'm'));
      for (const value of values) assert.match(dockerfile, new RegExp(` AS ${part}-${value}$`, 'm'));
    }

    for (const c of ours) {
      // Arguments only: the image's ENTRYPOINT runs etcd-steward.
      assert.equal(c.command, undefined);
      for (const m of c.volumeMounts ?? []) {
        // The member volume and the emptyDir for etcd's config file: the member-init step only.
        if (m.mountPath === '/var/lib/etcd' || m.mountPath === '/run/etcd-steward') continue;
        assert.ok(
          [AGENT_PATHS.configDir, AGENT_PATHS.tlsDir, AGENT_PATHS.workDir, AGENT_PATHS.backupDir].includes(
            m.mountPath as never,
          ),
          `unexpected mount ${m.mountPath}`,
        );
      }
      const cache = c.env?.find((e) => e.name === 'ETCD_STEWARD_CACHE');
      assert.equal(cache?.value, AGENT_PATHS.workDir);
      const configIndex = c.args.indexOf('--config');
      if (configIndex >= 0) assert.equal(c.args[configIndex + 1], AGENT_PATHS.configFile);
      const etcdutl = c.args.indexOf('--etcdutl');
      if (etcdutl >= 0) assert.equal(c.args[etcdutl + 1], AGENT_PATHS.etcdutl);
    }
    assert.equal(AGENT_PATHS.etcdutl, '/usr/local/bin/etcdutl');
  });
});

describe('the etcd-steward image the manifests name', () => {
  const pkgVersion = async () =>
    (
      JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as {
        version: string;
      }
    ).version;

  it('is set once as a repository; the tag follows the package version and etcd line, as build-image.sh tags', async () => {
    const version = await pkgVersion();
    assert.equal(agentImageTag('3.5'), `${version}-etcd3.5`);
    assert.equal(
      resolveAgentImage('registry.example.com/team/etcd-steward', '3.7'),
      `registry.example.com/team/etcd-steward:${version}-etcd3.7`,
    );
    assert.equal(
      resolveAgentImage('registry.local:5000/etcd-steward', '3.6'),
      `registry.local:5000/etcd-steward:${version}-etcd3.6`,
    );
    assert.equal(resolveAgentImage('reg.io/steward:pinned', '3.6'), 'reg.io/steward:pinned');
    assert.equal(resolveAgentImage('reg.io/steward@sha256:abc', '3.6'), 'reg.io/steward@sha256:abc');
    assert.equal(resolveAgentImage(undefined, '3.6'), `${AGENT_IMAGE_REPOSITORY}:${version}-etcd3.6`);
    const script = await readFile(
      fileURLToPath(new URL('../../../scripts/build-image.sh', import.meta.url)),
      'utf8',
    );
    assert.match(script, /^name=localhost\/etcd-steward:\$pkg_version-etcd\$line$/m);

    const spec = parseSpec(
      'runtime: kubernetes\netcd: { version: "3.5" }\nkubernetes: { agentImage: registry.corp.io/etcd-steward }\n',
      undefined,
    );
    const images = new Set(
      renderKubernetes(spec).flatMap((o) => JSON.stringify(o).match(/registry\.corp\.io\/[^"]+/g) ?? []),
    );
    assert.deepEqual([...images], [`registry.corp.io/etcd-steward:${version}-etcd3.5`]);
  });

  it('render warns when it is unset, a placeholder, local, without registry, or of another etcd line', () => {
    const warn = (image: string | undefined, line: '3.5' | '3.6' = '3.6') =>
      agentImageWarnings(image, line).join('\n');
    assert.match(
      warn(undefined),
      /kubernetes\.agentImage is not set: .*ghcr\.io\/etcd-steward\/etcd-steward:.*not published; build the image .*scripts\/build-image\.sh/,
    );
    assert.match(warn('registry.example.com/etcd-steward'), /is a placeholder/);
    assert.match(warn('REGISTRY/etcd-steward:1'), /is a placeholder/);
    assert.match(warn('localhost/etcd-steward:0.1.0-etcd3.6'), /this machine's image store.*buildah push/);
    assert.match(warn('etcd-steward:1'), /no registry host.*Docker Hub/);
    assert.match(warn('team/etcd-steward:1'), /no registry host/);
    assert.match(
      warn('reg.corp.io/etcd-steward:0.1.0-etcd3.6', '3.5'),
      /carries etcd 3\.6, the spec's etcd\.version is 3\.5/,
    );
    assert.match(warn('reg.corp.io/etcd-steward:0.1.0-etcd3.6.16', '3.5'), /carries etcd 3\.6/);
    assert.equal(warn('reg.corp.io/etcd-steward'), '');
    assert.equal(warn('registry.corp.io/etcd-steward'), '', 'a host named registry is no placeholder');
    assert.equal(warn('reg.corp.io:5000/team/etcd-steward:0.1.0-etcd3.6'), '');
    assert.equal(warn('reg.corp.io/etcd-steward@sha256:0123'), '');
  });
});
