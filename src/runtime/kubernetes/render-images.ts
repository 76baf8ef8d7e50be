/**
 * What the manifests and the Dockerfile must agree on: image names, the entrypoint, and the
 * paths the manifests mount into the etcd-steward image. `render-dockerfile.test.ts` checks the
 * Dockerfile against these constants.
 */
import { readFileSync } from 'node:fs';
import type { EtcdLine } from '../../config/etcd-lines.js';
import type { Spec } from '../../config/spec.js';

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

/** The etcd image of the spec: kubernetes.image, else the official image of etcd.version's line. */
export function etcdImage(spec: Pick<Spec, 'etcd' | 'kubernetes'>): string {
  return spec.kubernetes?.image ?? defaultEtcdImage(spec.etcd.version);
}

/** The etcd version an image's tag names (`…/etcd:v3.6.16` → `3.6.16`), or undefined. */
export function etcdImageTagVersion(image: string): string | undefined {
  return /:v?(\d+\.\d+\.\d+)[^:/]*$/.exec(image)?.[1];
}

/**
 * The image a member moves to for `line` (upgrade, downgrade): the spec's etcd image when its tag
 * is of that line, else the same repository (a mirror keeps being used) with the tag of the
 * line's release that was tested here (DEFAULT_ETCD_VERSIONS).
 */
export function etcdImageForLine(spec: Pick<Spec, 'etcd' | 'kubernetes'>, line: EtcdLine): string {
  const image = etcdImage(spec);
  const tagged = etcdImageTagVersion(image);
  if (tagged !== undefined && tagged.split('.').slice(0, 2).join('.') === line) return image;
  const repository = image.split('@')[0]!.replace(/:[^:/]*$/, '');
  return `${repository}:v${DEFAULT_ETCD_VERSIONS[line]}`;
}

/**
 * A warning when kubernetes.image carries another etcd line than etcd.version (an upgrade begun by
 * editing the spec): the manifests say one version and the checks another, and on a running
 * cluster neither `apply` nor the StatefulSet (OnDelete) moves members; `upgrade --to` does.
 */
export function etcdImageWarnings(spec: Pick<Spec, 'etcd' | 'kubernetes'>): string[] {
  const image = spec.kubernetes?.image;
  const tagged = image === undefined ? undefined : etcdImageTagVersion(image);
  const line = tagged?.split('.').slice(0, 2).join('.');
  if (tagged === undefined || line === spec.etcd.version) return [];
  return [
    `kubernetes.image ${image} is etcd ${tagged} but etcd.version is ${spec.etcd.version}: set both to one line. On a running cluster no apply rolls the members to another version (the StatefulSet updates OnDelete); run \`etcd-steward upgrade --to ${tagged}\`, which moves them one at a time with its checks`,
  ];
}

/**
 * The repository the manifests name while kubernetes.agentImage is unset. Nobody publishes it:
 * `render` warns (agentImageWarnings) until the user builds the image, pushes it to their own
 * registry and sets kubernetes.agentImage (docs/kubernetes.md).
 */
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

/**
 * The tag scripts/build-image.sh gives the image of this package version and etcd line, and the
 * manifests ask for: `0.1.0-etcd3.6` (the restore init container needs etcdutl of the spec's line).
 */
export function agentImageTag(line: EtcdLine): string {
  return `${packageVersion()}-etcd${line}`;
}

/** A reference with its own tag or digest (a colon after the last slash, or `@`). */
function hasTag(reference: string): boolean {
  return reference.includes('@') || reference.slice(reference.lastIndexOf('/') + 1).includes(':');
}

/**
 * The etcd-steward image the manifests run: kubernetes.agentImage as given when it carries a tag
 * or digest; a bare repository (`registry.example.com/team/etcd-steward`, set once) gets the tag
 * of this version and line; unset, the unpublished default repository.
 */
export function resolveAgentImage(agentImage: string | undefined, line: EtcdLine): string {
  const reference = agentImage ?? AGENT_IMAGE_REPOSITORY;
  return hasTag(reference) ? reference : `${reference}:${agentImageTag(line)}`;
}

/**
 * What is wrong with the etcd-steward image the manifests name, as sentences for `render` to
 * print: unset (the default is not published), a placeholder or a name only this machine knows,
 * no registry host (it would be pulled from Docker Hub), or a tag of another etcd line.
 */
export function agentImageWarnings(agentImage: string | undefined, line: EtcdLine): string[] {
  const image = resolveAgentImage(agentImage, line);
  const fix = `build the image (scripts/build-image.sh, or docker build . — docs/kubernetes.md), push it to your registry and set kubernetes.agentImage: REGISTRY/etcd-steward (the tag ${agentImageTag(line)} is added)`;
  if (agentImage === undefined) {
    return [`kubernetes.agentImage is not set: the manifests run ${image}, which is not published; ${fix}`];
  }
  const warnings: string[] = [];
  const first = image.split('/')[0] ?? '';
  if (/example\.(com|org|net)/i.test(image) || /REGISTRY|[<>{}]/.test(image)) {
    warnings.push(`kubernetes.agentImage ${image} is a placeholder; ${fix}`);
  } else if (first === 'localhost' || /^(127\.|\[?::1)/.test(first)) {
    warnings.push(
      `kubernetes.agentImage ${image} names this machine's image store, which cluster nodes cannot pull from; push it to your registry (buildah push ${image} docker://REGISTRY/etcd-steward:${agentImageTag(line)}) and set kubernetes.agentImage to that`,
    );
  } else if (!image.includes('/') || !/[.:]/.test(first)) {
    warnings.push(
      `kubernetes.agentImage ${image} has no registry host, so nodes pull it from Docker Hub; give your registry: REGISTRY/etcd-steward`,
    );
  }
  const tagged = /-etcd(\d+\.\d+)(?:\.\d+)?$/.exec(
    image.slice(image.lastIndexOf('/') + 1).split('@')[0] ?? '',
  );
  if (tagged && tagged[1] !== line) {
    warnings.push(
      `kubernetes.agentImage ${image} carries etcd ${tagged[1]}, the spec's etcd.version is ${line}: restores would run etcdutl of another line; use the tag ${agentImageTag(line)} (scripts/build-image.sh ${line})`,
    );
  }
  return warnings;
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
