/**
 * What the manifests and the Dockerfile must agree on: image names, the entrypoint, and the
 * paths the manifests mount into the etcd-steward image. `render-dockerfile.test.ts` checks the
 * Dockerfile against these constants.
 */
import { readFileSync } from 'node:fs';
import type { EtcdLine } from '../../config/etcd-lines.js';

/**
 * The etcd release of each line the default image carries: the same releases the install script
 * builds and the tests run (scripts/install-etcd.sh, every line from the Go module proxy), so what runs in a
 * cluster is what was tested here.
 */
export const DEFAULT_ETCD_VERSIONS: Readonly<Record<EtcdLine, string>> = {
  '3.5': '3.5.36',
  '3.6': '3.6.16',
  '3.7': '3.7.3',
};

/**
 * The official etcd image: etcd's release process pushes every release to gcr.io/etcd-development/etcd
 * (the primary registry in etcd's release notes) and quay.io/coreos/etcd (the secondary). We default
 * to the primary; set kubernetes.image to use the quay.io copy or a mirror.
 */
export const ETCD_IMAGE_REPOSITORY = 'gcr.io/etcd-development/etcd';

/** The official image of a line: gcr.io/etcd-development/etcd:v3.6.16. */
export function defaultEtcdImage(line: EtcdLine): string {
  return `${ETCD_IMAGE_REPOSITORY}:v${DEFAULT_ETCD_VERSIONS[line]}`;
}

/** Where the etcd-steward image is pushed by default (docs/kubernetes.md says how to build and push your own). */
export const AGENT_IMAGE_REPOSITORY = 'ghcr.io/etcd-steward/etcd-steward';

/** Our package version: package.json two or three folders up (the bundle sits at a different depth than tsc's output). */
function packageVersion(): string {
  for (const relative of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'etcd-steward' && pkg.version) return pkg.version;
    } catch {
      // not at this depth
    }
  }
  return 'latest';
}

/** The etcd-steward image of this version, e.g. ghcr.io/etcd-steward/etcd-steward:0.1.0. */
export function defaultAgentImage(): string {
  return `${AGENT_IMAGE_REPOSITORY}:${packageVersion()}`;
}

/** The image's ENTRYPOINT: the manifests give only arguments. */
export const AGENT_ENTRYPOINT = 'etcd-steward';

/** Paths inside the etcd-steward image that the manifests mount or call. */
export const AGENT_PATHS = {
  /** The spec ConfigMap is mounted here; the agent runs `serve --config CONFIG_FILE`. */
  configDir: '/etc/etcd-steward',
  configFile: '/etc/etcd-steward/steward.yaml',
  /** The client certificate (a kubernetes.io/tls Secret) the agent presents to members. */
  tlsDir: '/etc/etcd-steward/tls',
  /** Writable work dir (spool, drill clusters): ETCD_STEWARD_CACHE points here. */
  workDir: '/var/lib/etcd-steward',
  /** File backups: the backup PVC is mounted here and backup.storage becomes file:///backups. */
  backupDir: '/backups',
  /** The etcd binaries of the image's line (restore init container, drills). */
  etcd: '/usr/local/bin/etcd',
  etcdctl: '/usr/local/bin/etcdctl',
  etcdutl: '/usr/local/bin/etcdutl',
} as const;

/** The non-root user the image runs as (its Dockerfile creates it with this uid). */
export const AGENT_UID = 10001;

/** Paths inside the official etcd image. */
export const ETCD_PATHS = {
  binary: '/usr/local/bin/etcd',
  /** The member volume; the data dir is a folder inside it (so lost+found never bothers etcd). */
  volume: '/var/lib/etcd',
  dataDir: '/var/lib/etcd/data',
  clientTls: '/etc/etcd/tls/client',
  peerTls: '/etc/etcd/tls/peer',
} as const;

/** The official image is distroless and runs as root by default; we run it as this uid. */
export const ETCD_UID = 65532;
