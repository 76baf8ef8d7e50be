/**
 * TLS on Kubernetes: the names a member's certificate must carry, the files a kubernetes.io/tls
 * Secret mounts as, and — when the spec names a cert-manager issuer — the cert-manager.io/v1
 * Certificate objects that fill the Secrets the StatefulSet and the agent mount.
 */
import type { MemberTlsFiles } from '../../config/etcd-flags.js';
import type { Spec } from '../../config/spec.js';
import { commonLabels, kubernetesSettings, type ClusterNames, type KubeObject } from './render-types.js';

/** A mounted kubernetes.io/tls Secret (cert-manager's layout: tls.crt, tls.key, ca.crt) as member TLS files. */
export function secretFiles(dir: string, clientCertAuth: boolean): MemberTlsFiles {
  return { certFile: `${dir}/tls.crt`, keyFile: `${dir}/tls.key`, caFile: `${dir}/ca.crt`, clientCertAuth };
}

/**
 * DNS names of a member certificate valid for every member: each member's headless name (with
 * and without the cluster domain), wildcards over the headless Service, the client Service's
 * names, and localhost for a member talking to itself.
 */
export function memberDnsNames(names: ClusterNames): string[] {
  const ns = names.namespace;
  const svc = (service: string) => [
    service,
    `${service}.${ns}`,
    `${service}.${ns}.svc`,
    `${service}.${ns}.svc.${names.clusterDomain}`,
  ];
  return [
    // Certificates name the real namespace (pods write theirs as $(POD_NAMESPACE) in arguments).
    ...names
      .memberNames()
      .flatMap((m) => [names.outside().memberHost(m), `${m}.${names.headless}.${ns}.svc`]),
    `*.${names.headless}.${ns}.svc.${names.clusterDomain}`,
    `*.${names.headless}.${ns}.svc`,
    ...svc(names.client),
    ...svc(names.headless),
    'localhost',
  ];
}

/** IP addresses in member certificates: loopback, for probes and tools run inside the pod. */
export const MEMBER_IP_ADDRESSES = ['127.0.0.1', '::1'] as const;

/** The Common Name of the agent's client certificate (etcd takes it as the user without a password). */
export const AGENT_CLIENT_CN = 'etcd-steward';

/** cert-manager Certificates for the Secrets the spec's TLS settings name; none without certManager. */
export function renderCertificates(spec: Spec, names: ClusterNames): KubeObject[] {
  const tls = kubernetesSettings(spec).tls;
  const cm = tls?.certManager;
  if (!tls || !cm) return [];
  const labels = { ...commonLabels(spec, 'tls', names.name), 'app.kubernetes.io/name': 'etcd' };
  const certificate = (
    secretName: string,
    usages: string[],
    subject: { commonName: string; dnsNames?: string[]; ipAddresses?: string[] },
  ): KubeObject => ({
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name: secretName, namespace: names.namespace, labels },
    spec: {
      secretName,
      secretTemplate: { labels },
      issuerRef: { ...cm.issuerRef },
      duration: cm.duration,
      renewBefore: cm.renewBefore,
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      usages,
      ...subject,
    },
  });
  const member = {
    commonName: names.client,
    dnsNames: memberDnsNames(names),
    ipAddresses: [...MEMBER_IP_ADDRESSES],
  };
  const objects: KubeObject[] = [];
  if (tls.clientSecret) objects.push(certificate(tls.clientSecret, ['server auth', 'client auth'], member));
  if (tls.peerSecret) objects.push(certificate(tls.peerSecret, ['server auth', 'client auth'], member));
  if (tls.agentClientSecret && tls.clientCertAuth) {
    objects.push(certificate(tls.agentClientSecret, ['client auth'], { commonName: AGENT_CLIENT_CN }));
  }
  return objects;
}

/** Where the agent mounts the members' certificates (tls.crt only, never a key). */
export const MEMBER_CERTS_DIR = '/etc/etcd-steward/member-certs';

/** The members' certificate Secrets and the file each one's tls.crt becomes in the agent. */
function memberCertificates(spec: Spec): { secret: string; file: string }[] {
  const tls = kubernetesSettings(spec).tls;
  return [
    ...(tls?.clientSecret ? [{ secret: tls.clientSecret, file: 'server.crt' }] : []),
    ...(tls?.peerSecret ? [{ secret: tls.peerSecret, file: 'peer.crt' }] : []),
  ];
}

/** The agent's view of the members' certificates: their paths, for monitoring.certificateFiles. */
export function memberCertificateFiles(spec: Spec): string[] {
  return memberCertificates(spec).map((c) => `${MEMBER_CERTS_DIR}/${c.file}`);
}

/** A projected volume of the members' public certificates (tls.crt only): the agent exports their expiry. */
export function memberCertificateVolume(spec: Spec): { name: string; [key: string]: unknown } | undefined {
  const certs = memberCertificates(spec);
  if (certs.length === 0) return undefined;
  return {
    name: 'member-certs',
    projected: {
      defaultMode: 0o444,
      sources: certs.map((c) => ({
        secret: { name: c.secret, items: [{ key: 'tls.crt', path: c.file }] },
      })),
    },
  };
}
