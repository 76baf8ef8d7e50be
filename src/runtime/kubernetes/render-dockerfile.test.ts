import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parseSpec } from '../../config/load.js';
import {
  AGENT_ENTRYPOINT,
  AGENT_IMAGE_REPOSITORY,
  AGENT_PATHS,
  AGENT_UID,
  DEFAULT_ETCD_VERSIONS,
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
    const made = /mkdir -p ([^&\n]+)/.exec(dockerfile)?.[1]?.trim().split(/\s+/) ?? [];
    for (const dir of [AGENT_PATHS.configDir, AGENT_PATHS.workDir, AGENT_PATHS.backupDir]) {
      assert.ok(made.includes(dir), `the Dockerfile does not create ${dir}`);
    }
    assert.ok(
      !/^FROM .*\n(?:(?!FROM).*\n)*.*(gcc|build-essential|make )/m.test(
        dockerfile.split(/^FROM \$\{NODE_IMAGE\}$/m).pop() ?? '',
      ),
    );

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
