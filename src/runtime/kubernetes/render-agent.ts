/**
 * The agent on Kubernetes: its spec as a ConfigMap (the cluster seen from inside: runtime external,
 * the members' DNS names), a Deployment running `etcd-steward serve`, a Service for its API and
 * metrics, least-privilege RBAC, the backup PVC when asked, and — with `schedules: cronjobs` —
 * CronJobs that run `backup create` and `defrag` instead of the agent's schedules.
 */
import { createHash } from 'node:crypto';
import { MEMBER_CERTS_DIR, memberCertificateFiles, memberCertificateVolume } from './render-certs.js';
import { stringify } from 'yaml';
import type { Spec } from '../../config/spec.js';
import { goDuration } from './render-etcd.js';
import { AGENT_PATHS, AGENT_UID, resolveAgentImage } from './render-images.js';
import {
  commonLabels,
  kubeInputError,
  kubernetesSettings,
  quantity,
  type ClusterNames,
  type KubeObject,
} from './render-types.js';

/** Top-level spec fields this module writes itself; any other (defrag, monitoring…) is passed through. */
const WRITTEN = new Set([
  'name',
  'runtime',
  'members',
  'dataDir',
  'ports',
  'endpoints',
  'etcd',
  'tls',
  'auth',
  'backup',
  'kubernetes',
  'greptimedb',
  'source',
]);

/** The env variable holding the agent's API token (the agent's `monitoring.tokenEnv` default). */
const TOKEN_ENV = 'ETCD_STEWARD_TOKEN';
const AGENT_PORT = 9779;

/** The backup storage as seen from inside the cluster: file storage lives on the backup PVC. */
export function inClusterStorage(spec: Spec): string | undefined {
  const storage = spec.backup?.storage;
  if (storage === undefined) return undefined;
  if (storage.startsWith('s3://')) return storage;
  if (!kubernetesSettings(spec).backup?.pvc) {
    throw kubeInputError(
      `backup.storage is a file path (${storage}), and on Kubernetes files need a volume`,
      'set kubernetes.backup.pvc (existingClaim: NAME for an NFS claim you have, or size: 50GiB to create one), or use s3://bucket/prefix',
    );
  }
  return `file://${AGENT_PATHS.backupDir}`;
}

/** The name of the backup PVC the pods mount, if backups are on a volume. */
function backupClaim(spec: Spec, names: ClusterNames): string | undefined {
  const pvc = kubernetesSettings(spec).backup?.pvc;
  if (!pvc || spec.backup?.storage.startsWith('s3://')) return undefined;
  return pvc.existingClaim ?? `${names.name}-backups`;
}

/** The spec the agent reads (steward.yaml in the ConfigMap): the same cluster, seen from a pod. */
export function agentSpec(spec: Spec, names: ClusterNames): Record<string, unknown> {
  const k = kubernetesSettings(spec);
  const cronjobs = k.schedules === 'cronjobs';
  const e = spec.etcd;
  const doc: Record<string, unknown> = {
    name: spec.name,
    runtime: 'external',
    members: spec.members,
    // Relative names resolve in whatever namespace the pod runs (a kustomize overlay may move it);
    // with client TLS the certificates name the full DNS names, so those are used.
    endpoints: names.clientTls ? names.outside().clientUrls() : names.relativeClientUrls(),
    etcd: {
      version: e.version,
      quotaBackendBytes: e.quotaBackendBytes,
      autoCompaction: {
        mode: e.autoCompaction.mode,
        retention:
          e.autoCompaction.retentionMs !== undefined
            ? goDuration(e.autoCompaction.retentionMs)
            : e.autoCompaction.retention,
      },
      electionTimeoutMs: e.electionTimeoutMs,
      heartbeatMs: e.heartbeatMs,
      snapshotCount: e.snapshotCount,
      maxRequestBytes: e.maxRequestBytes,
      logLevel: e.logLevel,
    },
  };
  if (names.clientTls) {
    doc['tls'] = {
      caFile: `${AGENT_PATHS.tlsDir}/ca.crt`,
      // Without client certificate auth the agent needs only the CA, and signs in with auth's password.
      ...(kubernetesSettings(spec).tls?.clientCertAuth === false
        ? {}
        : { certFile: `${AGENT_PATHS.tlsDir}/tls.crt`, keyFile: `${AGENT_PATHS.tlsDir}/tls.key` }),
    };
  }
  if (spec.auth) doc['auth'] = { user: spec.auth.user, passwordEnv: spec.auth.passwordEnv };
  if (spec.backup) {
    const { retention, s3, schedule, storage: _storage, flushInterval, ...rest } = spec.backup;
    const backup: Record<string, unknown> = {
      ...rest,
      storage: inClusterStorage(spec),
      flushInterval: goDuration(flushInterval),
    };
    if (schedule !== undefined && !cronjobs) backup['schedule'] = schedule;
    backup['retention'] = Object.fromEntries(
      Object.entries({ keepLast: retention.keepLast, maxAge: retention.maxAge }).filter(
        ([, v]) => v !== undefined,
      ),
    );
    if (s3) {
      // Keys come from the credentials Secret as AWS_* variables; local files and variable names stay out.
      const { endpoint, region, forcePathStyle } = s3;
      backup['s3'] = Object.fromEntries(
        Object.entries({ endpoint, region, forcePathStyle }).filter(([, v]) => v !== undefined),
      );
    }
    doc['backup'] = backup;
  }
  for (const [key, value] of Object.entries(spec)) {
    if (WRITTEN.has(key) || value === undefined) continue;
    doc[key] = value;
  }
  // With CronJobs the defrag schedule is theirs; the agent keeps the rule for runs the API starts.
  if (cronjobs) {
    const { schedule: _schedule, ...defrag } = spec.defrag;
    doc['defrag'] = defrag;
  }
  // Self-healing acts only where the agent hosts the members (the local runtime); the policy still
  // goes along so the agent can say so. Its durations are milliseconds once parsed, as below.
  doc['heal'] = { ...spec.heal, after: goDuration(spec.heal.after), timeout: goDuration(spec.heal.timeout) };
  // Parsed durations are milliseconds; the spec file wants text such as 10s. The token file is a
  // local path: the pod reads the token from its environment instead.
  const { tokenFile: _tokenFile, certificateFiles: _files, ...monitoring } = spec.monitoring;
  doc['monitoring'] = {
    ...monitoring,
    listen: `0.0.0.0:${AGENT_PORT}`,
    statusInterval: goDuration(monitoring.statusInterval),
    historyWindow: goDuration(monitoring.historyWindow),
    tokenEnv: TOKEN_ENV,
  };
  const certificateFiles = memberCertificateFiles(spec);
  if (certificateFiles.length > 0)
    (doc['monitoring'] as Record<string, unknown>)['certificateFiles'] = certificateFiles;
  if (spec.greptimedb) doc['greptimedb'] = { ...spec.greptimedb };
  return doc;
}

/** Env, volumes and mounts every etcd-steward pod (agent, CronJob, restore init) needs. */
export function stewardPodParts(
  spec: Spec,
  names: ClusterNames,
  options: { config: boolean; token: boolean; backups?: boolean },
): {
  env: Record<string, unknown>[];
  envFrom: Record<string, unknown>[];
  volumes: Record<string, unknown>[];
  mounts: Record<string, unknown>[];
} {
  const k = kubernetesSettings(spec);
  const env: Record<string, unknown>[] = [{ name: 'ETCD_STEWARD_CACHE', value: AGENT_PATHS.workDir }];
  const envFrom: Record<string, unknown>[] = [];
  const volumes: Record<string, unknown>[] = [{ name: 'work', emptyDir: {} }];
  const mounts: Record<string, unknown>[] = [{ name: 'work', mountPath: AGENT_PATHS.workDir }];
  if (options.token) {
    env.push({
      name: TOKEN_ENV,
      valueFrom: { secretKeyRef: { name: k.agentTokenSecret ?? `${names.agent}-token`, key: 'token' } },
    });
  }
  if (spec.auth) {
    if (!k.authSecret) {
      throw kubeInputError(
        `auth.user is '${spec.auth.user}', and no Secret holds its password`,
        'create one (kubectl create secret generic etcd-auth --from-literal=password=…) and set kubernetes.authSecret: etcd-auth',
      );
    }
    env.push({
      name: spec.auth.passwordEnv,
      valueFrom: { secretKeyRef: { name: k.authSecret, key: 'password' } },
    });
  }
  if (spec.backup?.storage.startsWith('s3://')) {
    if (k.backup?.s3CredentialsSecret) envFrom.push({ secretRef: { name: k.backup.s3CredentialsSecret } });
  }
  if (options.config) {
    volumes.push({ name: 'config', configMap: { name: `${names.agent}-config` } });
    mounts.push({ name: 'config', mountPath: AGENT_PATHS.configDir, readOnly: true });
  }
  if (names.clientTls && k.tls?.clientSecret && !k.tls.clientCertAuth) {
    // Server TLS only: the agent mounts the members' CA (never their key) to verify them.
    volumes.push({
      name: 'steward-tls',
      secret: {
        secretName: k.tls.clientSecret,
        items: [{ key: 'ca.crt', path: 'ca.crt' }],
        defaultMode: 0o440,
      },
    });
    mounts.push({ name: 'steward-tls', mountPath: AGENT_PATHS.tlsDir, readOnly: true });
  } else if (names.clientTls) {
    if (!k.tls?.agentClientSecret) {
      throw kubeInputError(
        'kubernetes.tls.clientSecret makes members require client certificates, and etcd-steward has none',
        'set kubernetes.tls.agentClientSecret to a kubernetes.io/tls Secret signed by the same CA (with ca.crt), or kubernetes.tls.clientCertAuth: false (server TLS, password auth)',
      );
    }
    volumes.push({
      name: 'steward-tls',
      secret: { secretName: k.tls.agentClientSecret, defaultMode: 0o440 },
    });
    mounts.push({ name: 'steward-tls', mountPath: AGENT_PATHS.tlsDir, readOnly: true });
  }
  const memberCerts = memberCertificateVolume(spec);
  if (memberCerts) {
    volumes.push(memberCerts);
    mounts.push({ name: memberCerts['name'], mountPath: MEMBER_CERTS_DIR, readOnly: true });
  }
  const claim = options.backups === false ? undefined : backupClaim(spec, names);
  if (claim) {
    volumes.push({ name: 'backups', persistentVolumeClaim: { claimName: claim } });
    mounts.push({ name: 'backups', mountPath: AGENT_PATHS.backupDir });
  }
  return { env, envFrom, volumes, mounts };
}

/** Pod and container security settings of etcd-steward pods: the image's non-root user, nothing more. */
export const STEWARD_POD_SECURITY = {
  runAsNonRoot: true,
  runAsUser: AGENT_UID,
  runAsGroup: AGENT_UID,
  fsGroup: AGENT_UID,
  seccompProfile: { type: 'RuntimeDefault' },
};
export const STEWARD_CONTAINER_SECURITY = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

export function agentImage(spec: Spec): string {
  return resolveAgentImage(kubernetesSettings(spec).agentImage, spec.etcd.version);
}

/** Tolerations, node selector and pull secrets of every etcd-steward pod. */
export function podExtras(spec: Spec): Record<string, unknown> {
  const k = kubernetesSettings(spec);
  return {
    ...(k.tolerations.length > 0 ? { tolerations: k.tolerations } : {}),
    ...(Object.keys(k.nodeSelector).length > 0 ? { nodeSelector: k.nodeSelector } : {}),
    ...(k.imagePullSecrets.length > 0
      ? { imagePullSecrets: k.imagePullSecrets.map((name) => ({ name })) }
      : {}),
  };
}

/** ServiceAccount, Role and RoleBinding: read pods and StatefulSets here; patch only the named GreptimeDBCluster. */
export function renderRbac(spec: Spec, names: ClusterNames): KubeObject[] {
  const k = kubernetesSettings(spec);
  const labels = { ...commonLabels(spec, 'agent'), 'app.kubernetes.io/name': 'etcd-steward' };
  const subject = { kind: 'ServiceAccount', name: names.agent, namespace: names.namespace };
  // Cloud identities (IRSA, GKE/Azure workload identity) hang off these annotations: S3 without keys.
  const annotations =
    Object.keys(k.serviceAccountAnnotations).length > 0 ? { annotations: k.serviceAccountAnnotations } : {};
  const objects: KubeObject[] = [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: names.agent, namespace: names.namespace, labels, ...annotations },
      automountServiceAccountToken: true,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: names.agent, namespace: names.namespace, labels },
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
        {
          apiGroups: ['apps'],
          resources: ['statefulsets'],
          resourceNames: [names.name],
          verbs: ['get', 'watch'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: names.agent, namespace: names.namespace, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: names.agent },
      subjects: [subject],
    },
  ];
  if (needsJobsAccount(spec)) {
    // The CronJobs and the auth Job need etcd and the backup storage, never the Kubernetes API.
    objects.push({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: names.jobs, namespace: names.namespace, labels, ...annotations },
      automountServiceAccountToken: false,
    });
  }
  const g = spec.greptimedb;
  if (g) {
    const name = `${names.agent}-greptimedb`;
    const meta = { name, namespace: g.namespace, labels };
    objects.push(
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: meta,
        rules: [
          {
            apiGroups: ['greptime.io'],
            resources: ['greptimedbclusters'],
            resourceNames: [g.cluster],
            verbs: ['get', 'patch'],
          },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: meta,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [subject],
      },
    );
  }
  return objects;
}

/** Whether a CronJob or the auth Job runs, and so their ServiceAccount is rendered. */
function needsJobsAccount(spec: Spec): boolean {
  const k = kubernetesSettings(spec);
  const cronJobs =
    k.schedules === 'cronjobs' && (spec.backup?.schedule ?? spec.defrag.schedule) !== undefined;
  return cronJobs || spec.auth !== undefined;
}

/** The agent's spec as a ConfigMap. */
export function renderAgentConfig(spec: Spec, names: ClusterNames): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: `${names.agent}-config`,
      namespace: names.namespace,
      labels: { ...commonLabels(spec, 'agent'), 'app.kubernetes.io/name': 'etcd-steward' },
    },
    data: {
      'steward.yaml': stringify(agentSpec(spec, names), { lineWidth: 0, aliasDuplicateObjects: false }),
    },
  };
}

/** The backup PVC, when the spec asks for one to be created (an existing claim is only mounted). */
export function renderBackupClaim(spec: Spec, names: ClusterNames): KubeObject[] {
  const pvc = kubernetesSettings(spec).backup?.pvc;
  if (!pvc || pvc.existingClaim || !spec.backup || spec.backup.storage.startsWith('s3://')) return [];
  return [
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name: `${names.name}-backups`,
        namespace: names.namespace,
        labels: commonLabels(spec, 'backups'),
        // Backups outlive the manifests: `kubectl delete -k` leaves this claim alone.
        annotations: { 'helm.sh/resource-policy': 'keep' },
      },
      spec: {
        accessModes: pvc.accessModes,
        ...(pvc.storageClass ? { storageClassName: pvc.storageClass } : {}),
        resources: { requests: { storage: quantity(pvc.size) } },
      },
    },
  ];
}

/** Pod annotation holding the SHA-256 of the agent's ConfigMap data. */
export const CONFIG_CHECKSUM = 'etcd-steward.io/config-sha256';

/** The agent: one replica (one scheduler), `etcd-steward serve`, and a Service for its API and /metrics. */
export function renderAgent(spec: Spec, names: ClusterNames, config: KubeObject): KubeObject[] {
  const k = kubernetesSettings(spec);
  const parts = stewardPodParts(spec, names, { config: true, token: true });
  // A changed ConfigMap changes the pod template, so the agent restarts with the new spec.
  const checksum = createHash('sha256')
    .update(JSON.stringify(config['data'] ?? {}))
    .digest('hex');
  const labels = { ...commonLabels(spec, 'agent'), ...names.agentSelector() };
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: names.agent, namespace: names.namespace, labels },
      spec: {
        replicas: 1,
        // Never two agents at once: two schedulers would take every backup twice.
        strategy: { type: 'Recreate' },
        selector: { matchLabels: names.agentSelector() },
        template: {
          metadata: { labels, annotations: { [CONFIG_CHECKSUM]: checksum } },
          spec: {
            serviceAccountName: names.agent,
            securityContext: STEWARD_POD_SECURITY,
            containers: [
              {
                name: 'agent',
                image: agentImage(spec),
                imagePullPolicy: k.imagePullPolicy,
                args: ['serve', '--config', AGENT_PATHS.configFile],
                env: parts.env,
                ...(parts.envFrom.length > 0 ? { envFrom: parts.envFrom } : {}),
                ports: [{ name: 'http', containerPort: AGENT_PORT }],
                livenessProbe: {
                  httpGet: { path: '/metrics', port: 'http' },
                  periodSeconds: 20,
                  timeoutSeconds: 5,
                  failureThreshold: 6,
                },
                readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 10 },
                ...(k.agentResources ? { resources: k.agentResources } : {}),
                securityContext: STEWARD_CONTAINER_SECURITY,
                volumeMounts: parts.mounts,
              },
            ],
            volumes: parts.volumes,
            ...podExtras(spec),
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: names.agent, namespace: names.namespace, labels },
      spec: {
        type: 'ClusterIP',
        // The component keeps CronJob and auth Job pods (same name labels) out of the endpoints.
        selector: { ...names.agentSelector(), 'app.kubernetes.io/component': 'agent' },
        ports: [{ name: 'http', port: AGENT_PORT, targetPort: 'http' }],
      },
    },
  ];
}

/**
 * The pod of a run-to-completion etcd-steward Job (CronJob runs, the auth bootstrap): the jobs
 * ServiceAccount without an API token, the spec ConfigMap, credentials, and the backup volume
 * unless `backups: false`.
 */
export function stewardJobPod(
  spec: Spec,
  names: ClusterNames,
  options: { container: string; args: string[]; backups?: boolean },
): Record<string, unknown> {
  const k = kubernetesSettings(spec);
  const parts = stewardPodParts(spec, names, { config: true, token: false, backups: options.backups });
  return {
    restartPolicy: 'Never',
    serviceAccountName: names.jobs,
    automountServiceAccountToken: false,
    securityContext: STEWARD_POD_SECURITY,
    containers: [
      {
        name: options.container,
        image: agentImage(spec),
        imagePullPolicy: k.imagePullPolicy,
        args: options.args,
        env: parts.env,
        ...(parts.envFrom.length > 0 ? { envFrom: parts.envFrom } : {}),
        securityContext: STEWARD_CONTAINER_SECURITY,
        volumeMounts: parts.mounts,
      },
    ],
    volumes: parts.volumes,
    ...podExtras(spec),
  };
}

/** With `schedules: cronjobs`: backup and defrag as CronJobs (never two runs at once). */
export function renderCronJobs(spec: Spec, names: ClusterNames): KubeObject[] {
  const k = kubernetesSettings(spec);
  if (k.schedules !== 'cronjobs') return [];
  const jobs: { name: string; schedule: string; args: string[] }[] = [];
  if (spec.backup?.schedule) {
    jobs.push({
      name: `${names.name}-backup`,
      schedule: spec.backup.schedule,
      args: ['backup', 'create', '--config', AGENT_PATHS.configFile],
    });
  }
  const defrag = spec.defrag;
  if (defrag.schedule) {
    jobs.push({
      name: `${names.name}-defrag`,
      schedule: defrag.schedule,
      args: [
        'defrag',
        '--config',
        AGENT_PATHS.configFile,
        '--rule',
        defrag.rule,
        ...(defrag.compactFirst ? ['--compact'] : []),
      ],
    });
  }
  return jobs.map((job) => {
    const labels = { ...commonLabels(spec, 'cronjob'), 'app.kubernetes.io/name': 'etcd-steward' };
    return {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: job.name, namespace: names.namespace, labels },
      spec: {
        schedule: job.schedule,
        concurrencyPolicy: 'Forbid',
        // A run missed by more than this (controller down, cluster busy) is skipped, not run late.
        startingDeadlineSeconds: k.cronJobs.startingDeadlineSeconds,
        successfulJobsHistoryLimit: k.cronJobs.successfulJobsHistoryLimit,
        failedJobsHistoryLimit: k.cronJobs.failedJobsHistoryLimit,
        jobTemplate: {
          spec: {
            // A failed run is reported (exit 1, failed Job) rather than retried blindly.
            backoffLimit: 0,
            // A hung run is stopped, so the next scheduled one is not blocked by Forbid forever.
            activeDeadlineSeconds: k.cronJobs.activeDeadlineSeconds,
            template: {
              metadata: { labels },
              spec: stewardJobPod(spec, names, { container: 'steward', args: job.args }),
            },
          },
        },
      },
    };
  });
}
