/**
 * The cluster spec (steward.yaml): its schema, defaults and the typed object every command reads.
 * Sizes accept `8GiB`/`512MiB`, durations `1h`/`30s`; secrets are never written in the spec itself,
 * only the file or environment variable that holds them.
 */
import { Cron } from 'croner';
import { z } from 'zod';
import { parseDuration, parseSize } from './units.js';

import { SUPPORTED_LINES, type EtcdLine } from './etcd-lines.js';

export { SUPPORTED_LINES, type EtcdLine };

/** A size field: a number of bytes or a string such as `8GiB`; always bytes once parsed. */
const size = z.union([z.number(), z.string()]).transform((value, ctx) => {
  try {
    return parseSize(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const etcdLine = z
  .union([z.string(), z.number()])
  .transform((value) => String(value))
  .transform((value, ctx): EtcdLine => {
    const line = /^(\d+\.\d+)(\.\d+)?$/.exec(value)?.[1];
    if (line && (SUPPORTED_LINES as readonly string[]).includes(line)) return line as EtcdLine;
    const outOfSupport = line !== undefined && Number(line.split('.')[1]) < 5 && line.startsWith('3.');
    ctx.addIssue({
      code: 'custom',
      message: outOfSupport
        ? `etcd ${line} is out of support; use one of ${SUPPORTED_LINES.join(', ')}`
        : `'${value}' is not a supported etcd line; use one of ${SUPPORTED_LINES.join(', ')}`,
    });
    return z.NEVER;
  });

const port = z.union([z.literal('auto'), z.number().int().min(1).max(65535)]);

const fileTls = z.strictObject({
  /** Certificate the members present (local runtime). */
  certFile: z.string(),
  keyFile: z.string(),
  /** Require and verify client certificates signed by `caFile`. */
  clientCertAuth: z.boolean().default(false),
});

const peerTls = fileTls.extend({ caFile: z.string().optional() });

const tls = z
  .strictObject({
    /** CA bundle that signed the members' certificates: clients verify with it (etcdctl --cacert). */
    caFile: z.string().optional(),
    /** Certificate and key steward presents to members (etcdctl --cert / --key). */
    certFile: z.string().optional(),
    keyFile: z.string().optional(),
    /** Skip verification of the members' certificates (etcdctl --insecure-skip-tls-verify). */
    insecureSkipVerify: z.boolean().default(false),
    /** Local runtime: serve clients over TLS with this certificate. */
    server: fileTls.optional(),
    /** Local runtime: encrypt member-to-member traffic. */
    peer: peerTls.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.server?.clientCertAuth && value.caFile === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['caFile'],
        message: 'tls.server.clientCertAuth needs tls.caFile, the CA that signs client certificates',
      });
    }
  });

const auth = z
  .strictObject({
    user: z.string().min(1),
    /** A file whose first line is the password. */
    passwordFile: z.string().optional(),
    /** An environment variable holding the password (default ETCD_STEWARD_PASSWORD). */
    passwordEnv: z.string().default('ETCD_STEWARD_PASSWORD'),
    password: z.unknown().optional(),
  })
  .superRefine((value, ctx) => {
    if (value.password !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['password'],
        message:
          'passwords are not written in the spec; put it in a file (auth.passwordFile) or an environment variable (auth.passwordEnv)',
      });
    }
  });

const autoCompaction = z
  .strictObject({
    mode: z.enum(['periodic', 'revision']).default('periodic'),
    /** periodic: a duration such as `1h`; revision: how many revisions to keep. */
    retention: z.union([z.string(), z.number()]).default('1h'),
  })
  .transform((value, ctx) => {
    if (value.mode === 'periodic') {
      const text = String(value.retention);
      try {
        // etcd reads a bare number as hours.
        const ms = /^\d+$/.test(text) ? Number(text) * 3_600_000 : parseDuration(text);
        return { mode: value.mode, retention: `${ms}ms`, retentionMs: ms };
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['retention'], message: (error as Error).message });
        return z.NEVER;
      }
    }
    if (!/^\d+$/.test(String(value.retention))) {
      ctx.addIssue({
        code: 'custom',
        path: ['retention'],
        message: `with mode 'revision' the retention is a number of revisions, such as 10000 (got '${String(value.retention)}')`,
      });
      return z.NEVER;
    }
    return { mode: value.mode, retention: String(value.retention), retentionMs: undefined };
  });

const etcd = z
  .strictObject({
    version: etcdLine.default('3.6'),
    /** An etcd binary to use instead of the installed one (etcdctl/etcdutl are looked up beside it). */
    bin: z.string().optional(),
    quotaBackendBytes: size.default(2 * 2 ** 30),
    autoCompaction: autoCompaction.prefault({}),
    electionTimeoutMs: z.number().int().min(10).max(50_000).default(1000),
    heartbeatMs: z.number().int().min(1).max(10_000).default(100),
    snapshotCount: z.number().int().min(1).default(10_000),
    maxRequestBytes: size.default(1.5 * 2 ** 20),
    /** Skip fsync (etcd --unsafe-no-fsync): for tests and throwaway clusters only. */
    unsafeNoFsync: z.boolean().default(false),
    /** Local runtime: a defragmenting member reports NOT_SERVING on gRPC health (etcd's option). */
    stopGrpcServiceOnDefrag: z.boolean().default(true),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    /** More etcd flags, passed as they are (local runtime). */
    extraArgs: z.array(z.string()).default([]),
  })
  .superRefine((value, ctx) => {
    if (value.electionTimeoutMs < 5 * value.heartbeatMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['electionTimeoutMs'],
        message: `must be at least 5 × heartbeatMs (${5 * value.heartbeatMs}); etcd refuses to start otherwise`,
      });
    }
  });

/** A cron expression (5 fields, or 6 with seconds), checked when the spec is read. */
export const cronExpression = z.string().superRefine((value, ctx) => {
  try {
    new Cron(value, { paused: true });
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: `'${value}' is not a cron expression (${(error as Error).message.replace(/^CronPattern: /, '')}); write e.g. "*/30 * * * *" for every 30 minutes or "0 3 * * *" for 03:00 daily`,
    });
  }
});

const s3 = z.strictObject({
  endpoint: z.string().url().optional(),
  region: z.string().optional(),
  forcePathStyle: z.boolean().optional(),
  /** Environment variables holding the keys (default: the SDK's own AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). */
  accessKeyIdEnv: z.string().optional(),
  secretAccessKeyEnv: z.string().optional(),
  sessionTokenEnv: z.string().optional(),
  /** A shared credentials file and profile, as the AWS CLI has them. */
  credentialsFile: z.string().optional(),
  profile: z.string().optional(),
  /** Server-side encryption by the provider as well: AES256 (SSE-S3) or aws:kms (SSE-KMS, with kmsKeyId). */
  serverSideEncryption: z.enum(['AES256', 'aws:kms']).optional(),
  kmsKeyId: z.string().optional(),
});

/** age encryption of backups (snapshots and change-log segments): public keys only, never a secret. */
const encryption = z
  .strictObject({
    /** age public keys (age1…, from `age-keygen` or `etcd-steward backup keygen`); new backups are encrypted to all of them. */
    recipients: z
      .array(z.string().regex(/^age1[0-9a-z]+$/, 'must be an age public key (age1…), never a secret key'))
      .default([]),
    /** Instead of recipients (small setups): a file holding the passphrase (or ETCD_STEWARD_BACKUP_PASSPHRASE). */
    passphraseFile: z.string().optional(),
    /** Where restore, verify, snapshot inspect/diff and PITR find the identity (secret key file). */
    identityFile: z.string().optional(),
  })
  .superRefine((value, ctx) => {
    if (value.recipients.length > 0 && value.passphraseFile !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['passphraseFile'],
        message: 'give recipients or a passphraseFile, not both',
      });
  });

const backup = z
  .strictObject({
    /** file:///dir (or a path; an NFS mount is a dir) or s3://bucket/prefix?endpoint=…&region=… */
    storage: z.string().min(1),
    /** When the agent (`serve`) takes a backup; external cron can run `backup create` instead. */
    schedule: cronExpression.optional(),
    /** When the agent restores the newest backup into a throwaway cluster to prove it works. */
    drillSchedule: cronExpression.optional(),
    /** When the agent folds the newest chain (backup + change log) into a new backup (`backup compact`). */
    compactSchedule: cronExpression.optional(),
    retention: z
      .strictObject({
        keepLast: z.number().int().min(1).optional(),
        maxAge: z.string().optional(),
      })
      .prefault({ keepLast: 7 })
      .transform((value, ctx) => {
        let maxAgeMs: number | undefined;
        if (value.maxAge !== undefined) {
          try {
            maxAgeMs = parseDuration(value.maxAge);
          } catch (error) {
            ctx.addIssue({ code: 'custom', path: ['maxAge'], message: (error as Error).message });
            return z.NEVER;
          }
        }
        return { keepLast: value.keepLast, maxAge: value.maxAge, maxAgeMs };
      }),
    compression: z.enum(['gzip', 'none']).default('gzip'),
    /** Snapshot from this member (name or endpoint) instead of a healthy follower. */
    member: z.string().optional(),
    s3: s3.optional(),
    /** Encrypt backups with age (see docs/backups.md, "Keys and rotation"). */
    encryption: encryption.optional(),
    /** Continuous backup (point-in-time restore): the agent keeps a change log between snapshots. */
    continuous: z.boolean().default(false),
    /** How often the change log seals a segment (a duration); milliseconds once parsed. */
    flushInterval: z
      .string()
      .transform((value, ctx) => {
        try {
          const ms = parseDuration(value);
          if (ms >= 100) return ms;
          ctx.addIssue({ code: 'custom', message: `'${value}' is too short; write at least 100ms` });
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: (error as Error).message });
        }
        return z.NEVER;
      })
      .default(1000),
    /** A change-log segment is also sealed once it holds this many bytes. */
    segmentMaxBytes: size.default(16 * 2 ** 20),
  })
  .superRefine((value, ctx) => {
    if (!/^(file:\/\/|s3:\/\/|\/|\.)/.test(value.storage) && value.storage.includes('://')) {
      ctx.addIssue({
        code: 'custom',
        path: ['storage'],
        message: `'${value.storage}' is not a storage this tool writes to; use file:///dir, a path, or s3://bucket/prefix`,
      });
    }
  });

/** A Kubernetes resource quantity map such as `{ cpu: '2', memory: 8Gi }`. */
const quantities = z.partialRecord(
  z.enum(['cpu', 'memory', 'ephemeral-storage']),
  z.union([z.string(), z.number()]),
);
const resources = z.strictObject({ requests: quantities.optional(), limits: quantities.optional() });
const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lower-case letters, digits and dashes (a DNS label)')
  .max(63);

/** runtime: kubernetes — what `render kubernetes` puts in the manifests. Secrets are only named, never held. */
type KubeTls = {
  clientSecret?: string | undefined;
  clientCertAuth: boolean;
  agentClientSecret?: string | undefined;
  peerSecret?: string | undefined;
  certManager?: unknown;
};

const kubernetes = z.strictObject({
  namespace: dnsLabel.default('default'),
  /** The cluster's DNS domain (the kubelet's --cluster-domain), in the members' DNS names. */
  clusterDomain: z
    .string()
    .regex(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
      'must be a DNS name, e.g. cluster.local',
    )
    .default('cluster.local'),
  /** PriorityClass of the etcd pods (e.g. system-cluster-critical, or one of your own). */
  priorityClassName: z.string().min(1).optional(),
  /** Spread members across zones (topology.kubernetes.io/zone): soft prefers it, hard requires it. */
  zoneSpread: z.enum(['soft', 'hard', 'none']).default('soft'),
  /** Annotations on the ServiceAccounts: cloud identities (S3 without static keys), e.g. eks.amazonaws.com/role-arn. */
  serviceAccountAnnotations: z.record(z.string(), z.string()).default({}),
  /** A NetworkPolicy for the etcd pods: peers, etcd-steward's pods, and clients of the namespaces named here. */
  networkPolicy: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Namespaces whose pods may reach the client port (the etcd namespace and greptimedb.namespace always may). */
      clientNamespaces: z.array(dnsLabel).default([]),
      /** Namespaces that may scrape the metrics port (empty: any namespace; it serves /metrics and health only). */
      metricsNamespaces: z.array(dnsLabel).default([]),
    })
    .prefault({}),
  /** The etcd image; default: the official image of etcd.version's line (gcr.io/etcd-development/etcd). */
  image: z.string().min(1).optional(),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
  imagePullSecrets: z.array(z.string().min(1)).default([]),
  /** StorageClass of the members' volumes (left out: the cluster's default class). */
  storageClass: z.string().min(1).optional(),
  /** Size of each member's volume. */
  storageSize: size.default(8 * 2 ** 30),
  resources: resources.optional(),
  /** soft: prefer one member per node; hard: require it (pods stay Pending when nodes are short). */
  podAntiAffinity: z.enum(['soft', 'hard', 'none']).default('soft'),
  topologyKey: z.string().default('kubernetes.io/hostname'),
  tolerations: z.array(z.record(z.string(), z.unknown())).default([]),
  nodeSelector: z.record(z.string(), z.string()).default({}),
  /** Type of the client Service (the headless peer Service is always headless). */
  serviceType: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer']).default('ClusterIP'),
  /** Extra labels on every object. */
  labels: z.record(z.string(), z.string()).default({}),
  /** TLS from Secrets of type kubernetes.io/tls with ca.crt (cert-manager's layout). */
  tls: z
    .strictObject({
      /** Serve clients over TLS with this Secret (tls.crt, tls.key, ca.crt). */
      clientSecret: z.string().min(1).optional(),
      /**
       * Clients must present a certificate signed by the Secret's ca.crt. false: server TLS only,
       * clients authenticate with auth's user and password (GreptimeDB's path: it cannot present one).
       */
      clientCertAuth: z.boolean().default(true),
      /** The certificate the agent and CronJobs present to members (needed with clientCertAuth). */
      agentClientSecret: z.string().min(1).optional(),
      /** Encrypt member-to-member traffic with this Secret. */
      peerSecret: z.string().min(1).optional(),
      /**
       * cert-manager issues the certificates: Certificate objects are rendered for the Secrets above
       * (default names NAME-server-tls, NAME-peer-tls, NAME-client-tls).
       */
      certManager: z
        .strictObject({
          issuerRef: z.strictObject({
            name: z.string().min(1),
            kind: z.string().min(1).default('Issuer'),
            group: z.string().min(1).default('cert-manager.io'),
          }),
          /** Certificate lifetime and when cert-manager renews it (Go durations, e.g. 2160h). */
          duration: z
            .string()
            .regex(/^(\d+h)?(\d+m)?(\d+s)?$/)
            .default('2160h'),
          renewBefore: z
            .string()
            .regex(/^(\d+h)?(\d+m)?(\d+s)?$/)
            .default('720h'),
        })
        .optional(),
    })
    .optional(),
  /** Secret with the agent's API token under `token` (it refuses to listen off loopback without one). */
  agentTokenSecret: z.string().min(1).optional(),
  /** Secret holding the etcd password under `password`, for auth.user (the agent reads it into auth.passwordEnv). */
  authSecret: z.string().min(1).optional(),
  backup: z
    .strictObject({
      /** A file backup storage on a volume: an existing claim (NFS…), or one we create. */
      pvc: z
        .strictObject({
          existingClaim: z.string().min(1).optional(),
          size: size.default(16 * 2 ** 30),
          storageClass: z.string().min(1).optional(),
          /** Shared by the agent, CronJobs and restore pods on different nodes: ReadWriteMany. */
          accessModes: z
            .array(z.enum(['ReadWriteOnce', 'ReadWriteMany', 'ReadWriteOncePod']))
            .default(['ReadWriteMany']),
        })
        .optional(),
      /** S3 storage: a Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and optionally AWS_SESSION_TOKEN). */
      s3CredentialsSecret: z.string().min(1).optional(),
      /** Encrypted backups: the Secret (key `identity`) mounted into restore init containers only (default NAME-backup-identity). */
      identitySecret: z.string().min(1).optional(),
    })
    .optional(),
  /**
   * The etcd-steward image (agent, CronJobs, restore init container) in your registry, set once:
   * REGISTRY/etcd-steward (the tag VERSION-etcdLINE that scripts/build-image.sh gives is added) or
   * with its own tag/digest. Unset, `render` warns: the default is not published.
   */
  agentImage: z.string().min(1).optional(),
  agentResources: resources.optional(),
  /** agent: the agent runs backup/defrag schedules; cronjobs: CronJobs run them (the agent still serves metrics). */
  schedules: z.enum(['agent', 'cronjobs']).default('agent'),
  cronJobs: z
    .strictObject({
      successfulJobsHistoryLimit: z.number().int().min(0).default(3),
      failedJobsHistoryLimit: z.number().int().min(0).default(1),
      /** A run that takes longer is stopped (and fails), so a hung run cannot block the next ones. */
      activeDeadlineSeconds: z.number().int().min(60).default(3600),
      /** A run that could not start within this many seconds of its time is skipped, not run late. */
      startingDeadlineSeconds: z.number().int().min(10).default(300),
    })
    .prefault({}),
  /** prometheus-operator objects: labels your Prometheus selects (e.g. release: prometheus). */
  monitoring: z
    .strictObject({
      enabled: z.boolean().default(true),
      labels: z.record(z.string(), z.string()).default({}),
      interval: z.string().default('30s'),
      scrapeTimeout: z.string().optional(),
      /** Grafana dashboard ConfigMap (the sidecar's grafana_dashboard label). */
      dashboard: z.boolean().default(true),
    })
    .prefault({}),
});

/** The GreptimeDBCluster that uses this etcd (restore re-points it). */
const greptimedb = z.strictObject({
  cluster: dnsLabel,
  namespace: dnsLabel.default('default'),
});

/** A duration field such as `10s` or `6h`; milliseconds once parsed. */
const durationMs = z.string().transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

/** When the agent defragments, and which members (owner: agent). */
const defrag = z.strictObject({
  /** When the agent (`serve`) runs a rolling defrag; without it only the API starts one. */
  schedule: cronExpression.optional(),
  /** Which members to defragment (CEL); the default is DEFAULT_DEFRAG_RULE. */
  rule: z.string().min(1).default('dbQuotaUsage > 0.8 || dbSizeFree > 200MiB'),
  /** Compact to the current revision before each scheduled defrag. */
  compactFirst: z.boolean().default(false),
});

/**
 * Self-healing in the agent (owner: heal; off by default): members lost for `after` are replaced,
 * stopped members with intact data restarted, caught-up learners promoted; `dryRun` only reports.
 */
const heal = z.strictObject({
  enabled: z.boolean().default(false),
  /** Report what healing would do (jobs "would replace" …) without touching the cluster. */
  dryRun: z.boolean().default(false),
  /** How long a member must be unreachable, not running or cut off before the agent acts. */
  after: durationMs.default(120_000),
  /** How long a replace may take (learner start, catch-up, promotion) before its job fails. */
  timeout: durationMs.default(600_000),
});

/** A listen address `HOST:PORT` (IPv6 in brackets), checked when the spec is read. */
export const listenAddress = z.string().superRefine((value, ctx) => {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) > 65535) {
    ctx.addIssue({
      code: 'custom',
      message: `'${value}' is not a listen address; write HOST:PORT, e.g. 127.0.0.1:9779, 0.0.0.0:9779 or [::1]:9779`,
    });
  }
});

/** The agent's HTTP API, dashboard and metrics (owner: agent). The token itself is never in the spec. */
const monitoring = z
  .strictObject({
    listen: listenAddress.default('127.0.0.1:9779'),
    /** How often the agent asks every member for its status. */
    statusInterval: durationMs.default(10_000),
    /** How long the in-memory history of statuses (the dashboard's charts) reaches back. */
    historyWindow: durationMs.default(6 * 3_600_000),
    /** The environment variable holding the API token (needed when listen is not loopback). */
    tokenEnv: z.string().min(1).default('ETCD_STEWARD_TOKEN'),
    /** A file whose first line is the API token (instead of the environment variable). */
    tokenFile: z.string().optional(),
    /** More certificate files whose expiry the agent exports (besides those of `tls`). */
    certificateFiles: z.array(z.string().min(1)).optional(),
  })
  .superRefine((value, ctx) => {
    if (value.statusInterval < 1000) {
      ctx.addIssue({ code: 'custom', path: ['statusInterval'], message: 'must be at least 1s' });
    }
    if (value.historyWindow < value.statusInterval) {
      ctx.addIssue({ code: 'custom', path: ['historyWindow'], message: 'must be at least statusInterval' });
    }
  });

/** The spec's schema; `parseSpec` in load.ts turns its issues into readable messages. */
export const specSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lower-case letters, digits and dashes (a DNS label)')
      .max(40)
      .default('etcd'),
    runtime: z.enum(['local', 'external', 'kubernetes']).default('local'),
    members: z.number().int().min(1).max(9).default(3),
    /** Local runtime: where members keep data, logs and the cluster's state file. */
    dataDir: z.string().default('./.steward'),
    ports: z
      .strictObject({
        /** First member's client port, the next members count up; `auto` picks free ports. */
        client: port.default('auto'),
        peer: port.default('auto'),
      })
      .prefault({}),
    /** External runtime: the members' client URLs. */
    endpoints: z.array(z.string().min(1)).optional(),
    etcd: etcd.prefault({}),
    tls: tls.optional(),
    auth: auth.optional(),
    backup: backup.optional(),
    kubernetes: kubernetes.optional(),
    greptimedb: greptimedb.optional(),
    defrag: defrag.prefault({}),
    heal: heal.prefault({}),
    monitoring: monitoring.prefault({}),
  })
  .superRefine((value, ctx) => {
    if (value.runtime === 'external' && (value.endpoints ?? []).length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoints'],
        message: "runtime 'external' needs the members' client URLs, e.g. endpoints: [https://10.0.0.1:2379]",
      });
    }
    if (value.runtime === 'local' && value.endpoints !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoints'],
        message: "runtime 'local' picks its own endpoints; remove 'endpoints' or set runtime: external",
      });
    }
  })
  .transform(withCertManagerSecrets);

/**
 * With kubernetes.tls.certManager, cert-manager writes the Secrets: the ones not named get
 * NAME-server-tls, NAME-peer-tls and NAME-client-tls (the last only with client certificate auth).
 */
function withCertManagerSecrets<
  T extends { name: string; kubernetes?: { tls?: KubeTls | undefined } | undefined },
>(value: T): T {
  const t = value.kubernetes?.tls;
  if (!t?.certManager) return value;
  const tls: KubeTls = {
    ...t,
    clientSecret: t.clientSecret ?? `${value.name}-server-tls`,
    peerSecret: t.peerSecret ?? `${value.name}-peer-tls`,
    ...(t.clientCertAuth ? { agentClientSecret: t.agentClientSecret ?? `${value.name}-client-tls` } : {}),
  };
  return { ...value, kubernetes: { ...value.kubernetes, tls } };
}

/** A validated spec, with defaults applied and paths resolved against the spec file's folder. */
export type Spec = Readonly<z.output<typeof specSchema>> & {
  /** The file it came from, or undefined for the built-in default. */
  readonly source: string | undefined;
};
