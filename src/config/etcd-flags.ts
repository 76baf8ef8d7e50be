/**
 * The spec's etcd settings as etcd command-line flags: one list for every runtime (the local
 * runtime's child processes and the Kubernetes StatefulSet), so both run etcd alike.
 */
import type { Spec } from './spec.js';

/** Milliseconds as a Go duration (`1h`, `30m`, `10s`, `250ms`), the form etcd's flags read. */
export function goDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Quota, auto compaction, raft timings, request size, logging, fsync and the defrag health option. */
export function etcdSettingsFlags(spec: Spec): string[] {
  const e = spec.etcd;
  const retention =
    e.autoCompaction.retentionMs !== undefined
      ? goDuration(e.autoCompaction.retentionMs)
      : e.autoCompaction.retention;
  const flags = [
    `--quota-backend-bytes=${e.quotaBackendBytes}`,
    `--auto-compaction-mode=${e.autoCompaction.mode}`,
    `--auto-compaction-retention=${retention}`,
    `--election-timeout=${e.electionTimeoutMs}`,
    `--heartbeat-interval=${e.heartbeatMs}`,
    `--snapshot-count=${e.snapshotCount}`,
    `--max-request-bytes=${e.maxRequestBytes}`,
    `--log-level=${e.logLevel}`,
    '--logger=zap',
  ];
  if (e.unsafeNoFsync) flags.push('--unsafe-no-fsync');
  // A member being defragmented reports NOT_SERVING on gRPC health, so health-checking clients
  // go to the other members meanwhile: a flag on 3.5 (3.5.13+), a feature gate from 3.6 on.
  if (e.stopGrpcServiceOnDefrag) {
    flags.push(
      e.version === '3.5'
        ? '--experimental-stop-grpc-service-on-defrag'
        : '--feature-gates=StopGRPCServiceOnDefrag=true',
    );
  }
  return flags;
}

/** The files a member serves one side (clients or peers) with. */
export interface MemberTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA that signs the other side's certificates (needed when they must present one). */
  readonly caFile?: string | undefined;
  /** The other side must present a certificate signed by caFile. */
  readonly clientCertAuth: boolean;
}

/**
 * Client-side TLS flags. Without client certificate auth, no trusted CA is given either: clients
 * are then verified by user and password alone (a certificate they present is not taken as a user).
 */
export function clientTlsFlags(tls: MemberTlsFiles): string[] {
  const flags = [`--cert-file=${tls.certFile}`, `--key-file=${tls.keyFile}`];
  if (tls.clientCertAuth) flags.push(`--trusted-ca-file=${tls.caFile ?? ''}`, '--client-cert-auth');
  return flags;
}

/** Peer TLS flags: with peer client certificate auth, members accept only peers signed by caFile. */
export function peerTlsFlags(tls: MemberTlsFiles): string[] {
  const flags = [`--peer-cert-file=${tls.certFile}`, `--peer-key-file=${tls.keyFile}`];
  if (tls.caFile) flags.push(`--peer-trusted-ca-file=${tls.caFile}`);
  if (tls.clientCertAuth) flags.push('--peer-client-cert-auth');
  return flags;
}
