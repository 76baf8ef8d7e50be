/**
 * TLS on Kubernetes: client certificate auth follows kubernetes.tls.clientCertAuth (server TLS +
 * password is GreptimeDB's path), cert-manager Certificates carry every name members are dialled
 * by, validate, and are accepted by a real kube-apiserver with a Certificate CRD installed.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseSpec } from '../../config/load.js';
import { InputError } from '../../errors.js';
import { Cleanup, runCli, tempDir } from '../../testing/harness.js';
import {
  kubeApiServerSkip,
  request,
  startKubeApiServer,
  type KubeApiServer,
} from '../../testing/kube-apiserver.js';
import { applyObjects } from './apply.js';
import { validateObject } from './render-schemas.js';
import type { KubeObject } from './render-types.js';
import { renderKubernetes } from './render.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

const BASE = `name: meta
runtime: kubernetes
members: 3
auth: { user: root, passwordEnv: ETCD_ROOT_PASSWORD }
`;

function render(kubernetes: string): KubeObject[] {
  return renderKubernetes(
    parseSpec(`${BASE}kubernetes:\n  namespace: db\n  authSecret: etcd-auth\n${kubernetes}`, undefined),
  );
}

function find(objects: readonly KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.ok(
    found,
    `no ${kind} ${name ?? ''} in ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`,
  );
  return found;
}

interface PodSpec {
  containers: { args?: string[]; volumeMounts?: { name: string; mountPath: string }[] }[];
  initContainers?: { name: string; args?: string[] }[];
  volumes?: { name: string; secret?: { secretName: string; items?: { key: string; path: string }[] } }[];
}
function podSpec(workload: KubeObject): PodSpec {
  return (workload['spec'] as { template: { spec: PodSpec } }).template.spec;
}
/** etcd's flags: what the init step gets after `--` (it writes them into etcd's config file). */
function etcdFlags(pod: PodSpec): string[] {
  const args = pod.initContainers?.find((c) => c.name === 'member-init')?.args ?? [];
  return args.slice(args.indexOf('--') + 1);
}
function agentConfig(objects: readonly KubeObject[]): string {
  return (
    (find(objects, 'ConfigMap', 'meta-steward-config')['data'] as Record<string, string>)['steward.yaml'] ??
    ''
  );
}

/** A Certificate CRD with a structural schema of the fields etcd-steward renders (our own, not cert-manager's). */
const CERTIFICATE_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'certificates.cert-manager.io' },
  spec: {
    group: 'cert-manager.io',
    names: {
      kind: 'Certificate',
      listKind: 'CertificateList',
      plural: 'certificates',
      singular: 'certificate',
    },
    scope: 'Namespaced',
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['issuerRef', 'secretName'],
                properties: {
                  secretName: { type: 'string' },
                  secretTemplate: {
                    type: 'object',
                    properties: { labels: { type: 'object', additionalProperties: { type: 'string' } } },
                  },
                  issuerRef: {
                    type: 'object',
                    required: ['name'],
                    properties: {
                      name: { type: 'string' },
                      kind: { type: 'string' },
                      group: { type: 'string' },
                    },
                  },
                  commonName: { type: 'string' },
                  dnsNames: { type: 'array', items: { type: 'string' } },
                  ipAddresses: { type: 'array', items: { type: 'string' } },
                  duration: { type: 'string' },
                  renewBefore: { type: 'string' },
                  usages: {
                    type: 'array',
                    items: {
                      type: 'string',
                      enum: ['server auth', 'client auth', 'digital signature', 'key encipherment'],
                    },
                  },
                  privateKey: {
                    type: 'object',
                    properties: {
                      algorithm: { type: 'string', enum: ['RSA', 'ECDSA', 'Ed25519'] },
                      size: { type: 'integer' },
                      rotationPolicy: { type: 'string', enum: ['Never', 'Always'] },
                    },
                  },
                },
              },
              status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
    ],
  },
};

describe('TLS on Kubernetes', { concurrency: true }, () => {
  it('requires client certificates by default, and not with clientCertAuth: false (server TLS + password)', () => {
    const strict = render(
      '  tls: { clientSecret: etcd-server, agentClientSecret: etcd-agent, peerSecret: etcd-peer }\n',
    );
    const strictArgs = etcdFlags(podSpec(find(strict, 'StatefulSet', 'meta')));
    assert.ok(strictArgs.includes('--client-cert-auth'), strictArgs.join(' '));
    assert.ok(strictArgs.includes('--trusted-ca-file=/etc/etcd/tls/client/ca.crt'));
    assert.match(agentConfig(strict), /certFile: \/etc\/etcd-steward\/tls\/tls.crt/);

    const greptime = render(
      '  tls: { clientSecret: etcd-server, peerSecret: etcd-peer, clientCertAuth: false }\n',
    );
    for (const o of greptime) validateObject(o);
    const args = etcdFlags(podSpec(find(greptime, 'StatefulSet', 'meta')));
    assert.ok(args.includes('--cert-file=/etc/etcd/tls/client/tls.crt'), args.join(' '));
    assert.ok(!args.includes('--client-cert-auth'), 'no client certificate required');
    assert.ok(
      !args.some((a) => a.startsWith('--trusted-ca-file')),
      'no client CA: a certificate is not a login',
    );
    assert.ok(args.includes('--peer-client-cert-auth'), 'peers still authenticate each other');
    assert.ok(args.some((a) => a.startsWith('--advertise-client-urls=https://')));
    // The agent verifies the members with their CA alone (never their key) and signs in with the password.
    const agent = podSpec(find(greptime, 'Deployment', 'meta-steward'));
    const tlsVolume = agent.volumes?.find((v) => v.name === 'steward-tls');
    assert.deepEqual(tlsVolume?.secret?.items, [{ key: 'ca.crt', path: 'ca.crt' }]);
    assert.equal(tlsVolume?.secret?.secretName, 'etcd-server');
    const config = agentConfig(greptime);
    assert.match(config, /caFile: \/etc\/etcd-steward\/tls\/ca.crt/);
    assert.doesNotMatch(config, /certFile|keyFile/);
    // The members' public certificates (tls.crt only) are mounted for the expiry gauge.
    const projected = agent.volumes?.find((v) => v.name === 'member-certs') as
      | { projected: { sources: { secret: { name: string; items: { key: string; path: string }[] } }[] } }
      | undefined;
    assert.deepEqual(
      projected?.projected.sources.map((s) => [s.secret.name, s.secret.items.map((i) => i.key).join()]),
      [
        ['etcd-server', 'tls.crt'],
        ['etcd-peer', 'tls.crt'],
      ],
    );
    assert.match(
      config,
      /certificateFiles:\n\s+- \/etc\/etcd-steward\/member-certs\/server.crt\n\s+- \/etc\/etcd-steward\/member-certs\/peer.crt/,
    );
  });

  it('still refuses client certificate auth without a certificate for the agent', () => {
    assert.throws(
      () => render('  tls: { clientSecret: etcd-server }\n'),
      (error: unknown) => {
        assert.ok(error instanceof InputError);
        assert.match(error.message, /require client certificates/);
        assert.match(error.hint ?? '', /agentClientSecret.*or kubernetes\.tls\.clientCertAuth: false/);
        return true;
      },
    );
  });

  it('renders cert-manager Certificates with every name the members are dialled by, and mounts their Secrets', () => {
    const objects = render('  tls: { certManager: { issuerRef: { name: etcd-ca, kind: ClusterIssuer } } }\n');
    for (const o of objects) validateObject(o);
    const certs = objects.filter((o) => o.kind === 'Certificate');
    assert.deepEqual(
      certs.map((c) => c.metadata.name),
      ['meta-server-tls', 'meta-peer-tls', 'meta-client-tls'],
    );
    const server = certs[0]?.['spec'] as {
      dnsNames: string[];
      ipAddresses: string[];
      usages: string[];
      issuerRef: Record<string, string>;
      secretName: string;
    };
    assert.deepEqual(server.issuerRef, { name: 'etcd-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
    for (const name of [
      'meta-0.meta-headless.db.svc.cluster.local',
      'meta-2.meta-headless.db.svc.cluster.local',
      '*.meta-headless.db.svc.cluster.local',
      '*.meta-headless.db.svc',
      'meta.db.svc.cluster.local',
      'meta.db.svc',
      'meta',
      'localhost',
    ]) {
      assert.ok(server.dnsNames.includes(name), `${name} in ${server.dnsNames.join(', ')}`);
    }
    assert.deepEqual(server.usages, ['server auth', 'client auth']);
    assert.ok(server.ipAddresses.includes('127.0.0.1'));
    const client = certs[2]?.['spec'] as { usages: string[]; dnsNames?: string[] };
    assert.deepEqual(client.usages, ['client auth']);
    // The Certificates come before the StatefulSet that mounts their Secrets.
    const order = objects.map((o) => o.kind);
    assert.ok(order.indexOf('Certificate') < order.indexOf('StatefulSet'));
    const sts = podSpec(find(objects, 'StatefulSet', 'meta'));
    // The members' own, and the client certificate their init step (member-init) reaches the cluster with.
    assert.deepEqual(
      sts.volumes?.filter((v) => v.secret).map((v) => v.secret?.secretName),
      ['meta-server-tls', 'meta-peer-tls', 'meta-client-tls'],
    );
    const agent = podSpec(find(objects, 'Deployment', 'meta-steward'));
    assert.ok(agent.volumes?.some((v) => v.secret?.secretName === 'meta-client-tls'));

    // Without client certificate auth no client certificate is issued.
    const greptime = render(
      '  tls:\n    clientCertAuth: false\n    certManager: { issuerRef: { name: etcd-ca }, duration: 8760h, renewBefore: 1440h }\n',
    );
    const names = greptime.filter((o) => o.kind === 'Certificate').map((o) => o.metadata.name);
    assert.deepEqual(names, ['meta-server-tls', 'meta-peer-tls']);
    const spec = find(greptime, 'Certificate', 'meta-server-tls')['spec'] as Record<string, unknown>;
    assert.equal(spec['duration'], '8760h');
    assert.equal(spec['renewBefore'], '1440h');
  });

  it('a Certificate that cert-manager would refuse does not validate', () => {
    const [cert] = render('  tls: { certManager: { issuerRef: { name: etcd-ca } } }\n').filter(
      (o) => o.kind === 'Certificate',
    );
    assert.ok(cert);
    const bad = { ...cert, spec: { ...(cert['spec'] as object), usages: ['server-auth'] } };
    assert.throws(() => validateObject(bad), /usages: unknown 'server-auth'/);
  });

  it('`certs --secrets` writes Secrets with the Kubernetes names in the member certificates', async () => {
    const dir = await tempDir(cleanup, 'k8s-certs');
    const specFile = path.join(dir, 'k8s.yaml');
    await writeFile(specFile, `${BASE}kubernetes: { namespace: db, tls: { clientCertAuth: false } }\n`);
    const out = path.join(dir, 'certs');
    const made = await runCli(['certs', '--config', specFile, '--out', out, '--secrets', '-o', 'json']);
    assert.equal(made.code, 0, made.stderr);
    const server = new X509Certificate(await readFile(path.join(out, 'server.crt')));
    for (const name of [
      'meta-1.meta-headless.db.svc.cluster.local',
      '*.meta-headless.db.svc',
      'meta.db.svc',
    ]) {
      assert.ok(server.subjectAltName?.includes(`DNS:${name}`), `${name} in ${server.subjectAltName ?? ''}`);
    }
    assert.equal((await stat(path.join(out, 'secrets.yaml'))).mode & 0o777, 0o600);
    const secrets = parseAllDocuments(await readFile(path.join(out, 'secrets.yaml'), 'utf8')).map(
      (d) => d.toJS() as KubeObject & { type: string; stringData: Record<string, string> },
    );
    assert.deepEqual(
      secrets.map((s) => `${s.metadata.namespace}/${s.metadata.name}`),
      ['db/meta-server-tls', 'db/meta-peer-tls', 'db/meta-client-tls'],
    );
    for (const s of secrets) {
      validateObject(s);
      assert.equal(s.type, 'kubernetes.io/tls');
      assert.deepEqual(Object.keys(s.stringData).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    }
  });
});

const skip = await kubeApiServerSkip();

describe('cert-manager Certificates against a real kube-apiserver', { skip }, () => {
  let api: KubeApiServer;

  it('apply creates the Certificates beside the StatefulSet that mounts their Secrets', async () => {
    api = await startKubeApiServer(cleanup);
    const base = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
    await request(api, 'POST', base, CERTIFICATE_CRD);
    for (const deadline = Date.now() + 60_000; ;) {
      const live = (await request(api, 'GET', `${base}/certificates.cert-manager.io`)) as {
        status?: { conditions?: { type: string; status: string }[] };
      };
      if (live.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      assert.ok(Date.now() < deadline, 'the Certificate CRD became Established');
      await new Promise((r) => setTimeout(r, 200));
    }
    const objects = render(
      '  tls: { clientCertAuth: false, certManager: { issuerRef: { name: etcd-ca, kind: ClusterIssuer } } }\n',
    );
    const result = await applyObjects(objects, { kubeconfig: api.kubeconfig });
    assert.ok(
      result.objects.every((o) => o.outcome === 'created'),
      JSON.stringify(result.objects),
    );
    const live = (await request(
      api,
      'GET',
      '/apis/cert-manager.io/v1/namespaces/db/certificates/meta-server-tls',
    )) as {
      spec: { dnsNames: string[]; secretName: string };
    };
    assert.equal(live.spec.secretName, 'meta-server-tls');
    assert.ok(live.spec.dnsNames.includes('meta-0.meta-headless.db.svc.cluster.local'));
    const again = await applyObjects(objects, { kubeconfig: api.kubeconfig });
    assert.ok(
      again.objects.every((o) => o.outcome === 'unchanged'),
      JSON.stringify(again.objects),
    );
  });
});
