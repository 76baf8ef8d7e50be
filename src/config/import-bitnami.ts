/**
 * `import bitnami`: the Bitnami etcd chart's values files (as GreptimeDB's "Manage etcd" guide
 * writes them) turned into an etcd-steward spec for runtime: kubernetes. Files merge as Helm
 * merges `-f` files (maps deep-merged, later files win, lists replaced). Every value is either
 * mapped or named in a warning with the reason — nothing is dropped silently — and secret values
 * (passwords) are never copied, only the Secrets that hold them.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { InputError } from '../errors.js';
import { parseSize } from './units.js';

type Values = Record<string, unknown>;

export interface BitnamiImport {
  /** The spec as plain data, ready to write as steward.yaml. */
  readonly spec: Record<string, unknown>;
  /** Values that were not mapped, or mapped with a change, each with the reason. */
  readonly warnings: string[];
}

function isMap(value: unknown): value is Values {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Helm's merge of values files: maps merge key by key, anything else from the later file wins. */
export function mergeValues(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prior = out[key];
    out[key] = isMap(prior) && isMap(value) ? mergeValues(prior, value) : value;
  }
  return out;
}

/** Reads and merges values files in the order given. */
export async function readValuesFiles(files: readonly string[]): Promise<Values> {
  if (files.length === 0)
    throw new InputError('no values file given', { hint: 'etcd-steward import bitnami values.yaml' });
  let merged: Values = {};
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new InputError(`cannot read values file ${file}: ${(error as Error).message}`);
    }
    const document = parseDocument(text);
    if (document.errors.length > 0) {
      throw new InputError(`${file}: not valid YAML: ${document.errors[0]?.message ?? ''}`);
    }
    const data: unknown = document.toJS() ?? {};
    if (!isMap(data)) throw new InputError(`${file}: a values file is a mapping of keys`);
    merged = mergeValues(merged, data);
  }
  return merged;
}

/** Reads values files and maps them; see `mapBitnamiValues`. */
export async function importBitnami(files: readonly string[]): Promise<BitnamiImport> {
  return mapBitnamiValues(await readValuesFiles(files));
}

/** ETCD_* variables with a field of their own in the spec. */
const ENV_FIELDS: Record<string, { path: string[]; kind: 'int' | 'size' | 'string' }> = {
  ETCD_QUOTA_BACKEND_BYTES: { path: ['etcd', 'quotaBackendBytes'], kind: 'size' },
  ETCD_ELECTION_TIMEOUT: { path: ['etcd', 'electionTimeoutMs'], kind: 'int' },
  ETCD_HEARTBEAT_INTERVAL: { path: ['etcd', 'heartbeatMs'], kind: 'int' },
  ETCD_SNAPSHOT_COUNT: { path: ['etcd', 'snapshotCount'], kind: 'int' },
  ETCD_MAX_REQUEST_BYTES: { path: ['etcd', 'maxRequestBytes'], kind: 'size' },
  ETCD_LOG_LEVEL: { path: ['etcd', 'logLevel'], kind: 'string' },
  ETCD_AUTO_COMPACTION_MODE: { path: ['etcd', 'autoCompaction', 'mode'], kind: 'string' },
  ETCD_AUTO_COMPACTION_RETENTION: { path: ['etcd', 'autoCompaction', 'retention'], kind: 'string' },
};

/** ETCD_* variables the chart itself sets from its own values: mapping them would double them. */
const CHART_OWNED_ENV = new Set([
  'ETCD_NAME',
  'ETCD_DATA_DIR',
  'ETCD_INITIAL_CLUSTER',
  'ETCD_INITIAL_CLUSTER_STATE',
  'ETCD_INITIAL_CLUSTER_TOKEN',
  'ETCD_ADVERTISE_CLIENT_URLS',
  'ETCD_LISTEN_CLIENT_URLS',
  'ETCD_INITIAL_ADVERTISE_PEER_URLS',
  'ETCD_LISTEN_PEER_URLS',
  'ETCD_ROOT_PASSWORD',
]);

class Mapper {
  readonly spec: Values = { name: 'etcd', runtime: 'kubernetes' };
  readonly warnings: string[] = [];

  set(path: readonly string[], value: unknown): void {
    let node = this.spec;
    for (const key of path.slice(0, -1)) {
      if (!isMap(node[key])) node[key] = {};
      node = node[key] as Values;
    }
    node[path[path.length - 1] as string] = value;
  }
  warn(key: string, message: string): void {
    this.warnings.push(`${key}: ${message}`);
  }
  unknown(prefix: string, values: Values, known: readonly string[]): void {
    for (const key of Object.keys(values)) {
      if (!known.includes(key)) {
        this.warn(
          `${prefix}${key}`,
          `unknown key, not mapped (value ${JSON.stringify(values[key])}); set the matching spec field by hand if it matters`,
        );
      }
    }
  }
}

/** A Kubernetes quantity as a spec size: `8Gi` → `8GiB`, `500M` → `500MB`. */
function specSize(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return /^\d+(\.\d+)?([KMGTP]i?)$/.test(value) ? `${value}B` : value;
}

/** A scalar value as text (maps and lists as JSON). */
function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : JSON.stringify(value);
}

function placeholder(value: unknown): boolean {
  return typeof value === 'string' && /\$\{[^}]+\}/.test(value);
}

function etcdLineOf(tag: unknown): string | undefined {
  return typeof tag === 'string' ? /^v?(3\.\d+)\./.exec(tag)?.[1] : undefined;
}

/** Maps merged values; see the module comment. */
export function mapBitnamiValues(values: Values): BitnamiImport {
  const m = new Mapper();
  const known = [
    'global',
    'image',
    'replicaCount',
    'auth',
    'persistence',
    'resources',
    'resourcesPreset',
    'autoCompactionMode',
    'autoCompactionRetention',
    'extraEnvVars',
    'disasterRecovery',
    'startFromSnapshot',
    'metrics',
    'defrag',
    'nameOverride',
    'fullnameOverride',
    'namespaceOverride',
    'podAntiAffinityPreset',
    'tolerations',
    'nodeSelector',
    'service',
    'logLevel',
    'maxProcs',
  ];
  m.unknown('', values, known);

  const name = values['fullnameOverride'] ?? values['nameOverride'];
  if (typeof name === 'string' && name) m.set(['name'], name);
  if (typeof values['namespaceOverride'] === 'string')
    m.set(['kubernetes', 'namespace'], values['namespaceOverride']);

  // global
  if (isMap(values['global'])) {
    const global = values['global'];
    for (const key of Object.keys(global)) {
      if (key === 'security' && isMap(global['security'])) {
        m.warn(
          'global.security.allowInsecureImages',
          'not needed: etcd-steward runs the official etcd image (gcr.io/etcd-development/etcd), not a mirrored Bitnami image',
        );
        m.unknown('global.security.', global['security'], ['allowInsecureImages']);
      } else if (key === 'imageRegistry' || key === 'imagePullSecrets') {
        m.warn(
          `global.${key}`,
          'applies to Bitnami images; set kubernetes.image / kubernetes.imagePullSecrets for a mirror',
        );
      } else {
        m.warn(`global.${key}`, `unknown key, not mapped (value ${JSON.stringify(global[key])})`);
      }
    }
  }

  // image → the etcd line; the official image replaces Bitnami's.
  if (isMap(values['image'])) {
    const image = values['image'];
    const line = etcdLineOf(image['tag']);
    if (line) m.set(['etcd', 'version'], line);
    m.warn(
      'image',
      `${[image['registry'], image['repository']].filter(Boolean).join('/')}:${text(image['tag'] ?? '?')} is replaced by the official etcd image of line ${line ?? '3.6'} (kubernetes.image overrides it; Bitnami's free images are frozen since 2025)`,
    );
    m.unknown('image.', image, [
      'registry',
      'repository',
      'tag',
      'digest',
      'pullPolicy',
      'pullSecrets',
      'debug',
    ]);
    if (typeof image['pullPolicy'] === 'string')
      m.set(['kubernetes', 'imagePullPolicy'], image['pullPolicy']);
  }

  if (typeof values['replicaCount'] === 'number') m.set(['members'], values['replicaCount']);

  mapAuth(m, values['auth']);
  mapPersistence(m, values['persistence']);

  if (isMap(values['resources'])) {
    const resources = values['resources'];
    const pick = (part: unknown) =>
      isMap(part)
        ? Object.fromEntries(
            Object.entries(part).filter(([k]) => ['cpu', 'memory', 'ephemeral-storage'].includes(k)),
          )
        : undefined;
    const requests = pick(resources['requests']);
    const limits = pick(resources['limits']);
    m.set(['kubernetes', 'resources'], {
      ...(requests && Object.keys(requests).length > 0 ? { requests } : {}),
      ...(limits && Object.keys(limits).length > 0 ? { limits } : {}),
    });
    m.unknown('resources.', resources, ['requests', 'limits']);
  }
  if (values['resourcesPreset'] !== undefined && values['resourcesPreset'] !== 'none') {
    m.warn('resourcesPreset', `Bitnami's presets have no equivalent; set kubernetes.resources explicitly`);
  }

  if (values['autoCompactionMode'] !== undefined && values['autoCompactionMode'] !== '') {
    m.set(['etcd', 'autoCompaction', 'mode'], values['autoCompactionMode']);
  }
  if (values['autoCompactionRetention'] !== undefined && values['autoCompactionRetention'] !== '') {
    m.set(['etcd', 'autoCompaction', 'retention'], text(values['autoCompactionRetention']));
  }
  if (typeof values['logLevel'] === 'string') m.set(['etcd', 'logLevel'], values['logLevel']);
  if (values['maxProcs'] !== undefined)
    m.warn('maxProcs', 'not mapped: set GOMAXPROCS through kubernetes.resources limits');

  mapEnv(m, values['extraEnvVars']);
  mapScheduling(m, values);
  mapDisasterRecovery(m, values['disasterRecovery']);
  mapStartFromSnapshot(m, values['startFromSnapshot']);
  mapMetrics(m, values['metrics']);
  mapDefrag(m, values['defrag']);
  return { spec: m.spec, warnings: m.warnings };
}

function mapAuth(m: Mapper, auth: unknown): void {
  if (!isMap(auth)) return;
  m.unknown('auth.', auth, ['rbac', 'token', 'client', 'peer']);
  const rbac = isMap(auth['rbac']) ? auth['rbac'] : undefined;
  if (rbac) {
    m.unknown('auth.rbac.', rbac, [
      'create',
      'enabled',
      'allowNoneAuthentication',
      'rootPassword',
      'existingSecret',
      'existingSecretPasswordKey',
    ]);
    const enabled = rbac['create'] !== false && rbac['enabled'] !== false;
    if (enabled) {
      m.set(['auth'], { user: 'root', passwordEnv: 'ETCD_ROOT_PASSWORD' });
      if (typeof rbac['existingSecret'] === 'string') {
        m.set(['kubernetes', 'authSecret'], rbac['existingSecret']);
        const key = rbac['existingSecretPasswordKey'];
        if (typeof key === 'string' && key !== 'password') {
          m.warn(
            'auth.rbac.existingSecretPasswordKey',
            `etcd-steward reads the key 'password'; the Secret has '${key}': add a 'password' key`,
          );
        }
      } else {
        m.set(['kubernetes', 'authSecret'], 'etcd-auth');
        m.warn(
          'auth.rbac',
          "root authentication: create a Secret etcd-auth with key 'password' (kubectl create secret generic etcd-auth --from-literal=password=…) — passwords are never written in the spec",
        );
      }
      if (rbac['rootPassword'] !== undefined) {
        m.warn(
          'auth.rbac.rootPassword',
          'not copied (secrets never go into the spec); put it in the Secret named by kubernetes.authSecret',
        );
      }
    }
  }
  const token = isMap(auth['token']) ? auth['token'] : undefined;
  if (token && token['enabled'] === true) {
    m.warn(
      'auth.token',
      `token type ${text(token['type'] ?? 'jwt')} is not mapped: add --auth-token=… to etcd.extraArgs with its key files mounted`,
    );
  }
  for (const side of ['client', 'peer'] as const) {
    const tls = isMap(auth[side]) ? auth[side] : undefined;
    if (!tls || tls['secureTransport'] !== true) continue;
    if (typeof tls['existingSecret'] === 'string') {
      m.set(['kubernetes', 'tls', `${side}Secret`], tls['existingSecret']);
      m.warn(
        `auth.${side}.existingSecret`,
        `mapped to kubernetes.tls.${side}Secret; etcd-steward expects the keys tls.crt, tls.key and ca.crt (cert-manager's layout)${side === 'client' ? ', and kubernetes.tls.agentClientSecret for its own client certificate' : ''}`,
      );
    } else {
      m.warn(
        `auth.${side}.secureTransport`,
        'auto-generated certificates are not supported: give a Secret in kubernetes.tls (etcd-steward certs --secrets makes them), or kubernetes.tls.certManager',
      );
    }
    // The chart's client certificate authentication (off by default there): the spec's default is on.
    if (side === 'client')
      m.set(['kubernetes', 'tls', 'clientCertAuth'], tls['enableAuthentication'] === true);
  }
}

function mapPersistence(m: Mapper, persistence: unknown): void {
  if (!isMap(persistence)) return;
  m.unknown('persistence.', persistence, [
    'enabled',
    'storageClass',
    'size',
    'accessModes',
    'annotations',
    'labels',
    'selector',
  ]);
  if (persistence['enabled'] === false) {
    m.warn(
      'persistence.enabled',
      'false is not supported: etcd-steward members always keep their data on a volume',
    );
  }
  if (typeof persistence['storageClass'] === 'string' && persistence['storageClass'] !== '') {
    m.set(['kubernetes', 'storageClass'], persistence['storageClass']);
  }
  if (persistence['size'] !== undefined) m.set(['kubernetes', 'storageSize'], specSize(persistence['size']));
  for (const key of ['accessModes', 'annotations', 'labels', 'selector']) {
    if (persistence[key] !== undefined)
      m.warn(`persistence.${key}`, 'not mapped: members use ReadWriteOnce claims of kubernetes.storageClass');
  }
}

function mapEnv(m: Mapper, env: unknown): void {
  if (env === undefined || env === null) return;
  if (!Array.isArray(env)) {
    m.warn('extraEnvVars', 'expected a list of { name, value }; not mapped');
    return;
  }
  const extraArgs: string[] = [];
  for (const [index, item] of env.entries()) {
    const where = `extraEnvVars[${index}]`;
    if (!isMap(item) || typeof item['name'] !== 'string') {
      m.warn(where, 'expected { name, value }; not mapped');
      continue;
    }
    const name = item['name'];
    if (item['value'] === undefined) {
      m.warn(`${where} (${name})`, 'valueFrom is not mapped: set the value in the spec');
      continue;
    }
    const value = text(item['value']);
    const field = ENV_FIELDS[name];
    if (field) {
      if (field.kind === 'string') m.set(field.path, value);
      else if (field.kind === 'int' && /^\d+$/.test(value)) m.set(field.path, Number(value));
      else if (field.kind === 'size') {
        try {
          m.set(field.path, parseSize(value));
        } catch {
          m.warn(`${where} (${name})`, `'${value}' is not a size; not mapped`);
        }
      } else m.warn(`${where} (${name})`, `'${value}' is not a number; not mapped`);
    } else if (CHART_OWNED_ENV.has(name)) {
      m.warn(`${where} (${name})`, 'set by etcd-steward itself from the spec; not copied');
    } else if (name.startsWith('ETCD_')) {
      extraArgs.push(`--${name.slice('ETCD_'.length).toLowerCase().replace(/_/g, '-')}=${value}`);
    } else {
      m.warn(`${where} (${name})`, 'not an etcd setting (ETCD_*); not mapped');
    }
  }
  if (extraArgs.length > 0) m.set(['etcd', 'extraArgs'], extraArgs);
}

function mapScheduling(m: Mapper, values: Values): void {
  const preset = values['podAntiAffinityPreset'];
  if (preset === 'soft' || preset === 'hard') m.set(['kubernetes', 'podAntiAffinity'], preset);
  else if (preset === '') m.set(['kubernetes', 'podAntiAffinity'], 'none');
  if (Array.isArray(values['tolerations']) && values['tolerations'].length > 0) {
    m.set(['kubernetes', 'tolerations'], values['tolerations']);
  }
  if (isMap(values['nodeSelector']) && Object.keys(values['nodeSelector']).length > 0) {
    m.set(['kubernetes', 'nodeSelector'], values['nodeSelector']);
  }
  if (isMap(values['service'])) {
    const service = values['service'];
    if (typeof service['type'] === 'string') m.set(['kubernetes', 'serviceType'], service['type']);
    m.unknown('service.', service, ['type']);
  }
}

function mapDisasterRecovery(m: Mapper, dr: unknown): void {
  if (!isMap(dr)) return;
  m.unknown('disasterRecovery.', dr, ['enabled', 'cronjob', 'pvc']);
  if (dr['enabled'] !== true) {
    m.warn('disasterRecovery', 'present but not enabled; not mapped');
    return;
  }
  m.set(['backup', 'storage'], '/backups');
  const cron = isMap(dr['cronjob']) ? dr['cronjob'] : {};
  m.unknown('disasterRecovery.cronjob.', cron, [
    'schedule',
    'historyLimit',
    'snapshotHistoryLimit',
    'snapshotsDir',
    'podAnnotations',
    'resources',
    'resourcesPreset',
    'nodeSelector',
    'tolerations',
  ]);
  if (typeof cron['schedule'] === 'string') m.set(['backup', 'schedule'], cron['schedule']);
  if (typeof cron['snapshotHistoryLimit'] === 'number') {
    m.set(['backup', 'retention'], { keepLast: cron['snapshotHistoryLimit'] });
  }
  if (typeof cron['historyLimit'] === 'number') {
    m.set(['kubernetes', 'cronJobs'], {
      successfulJobsHistoryLimit: cron['historyLimit'],
      failedJobsHistoryLimit: cron['historyLimit'],
    });
  }
  if (cron['snapshotsDir'] !== undefined) {
    m.warn('disasterRecovery.cronjob.snapshotsDir', 'not needed: the backup volume is mounted at /backups');
  }
  const pvc = isMap(dr['pvc']) ? dr['pvc'] : {};
  m.unknown('disasterRecovery.pvc.', pvc, ['existingClaim', 'size', 'storageClassName']);
  const claim: Values = {};
  if (typeof pvc['existingClaim'] === 'string' && pvc['existingClaim'] !== '') {
    claim['existingClaim'] = pvc['existingClaim'];
    if (placeholder(pvc['existingClaim'])) {
      m.warn(
        'disasterRecovery.pvc.existingClaim',
        `'${pvc['existingClaim']}' is a placeholder: put the name of your NFS claim (ReadWriteMany) in kubernetes.backup.pvc.existingClaim — render and apply refuse the spec until then`,
      );
    }
  } else {
    if (pvc['size'] !== undefined) claim['size'] = specSize(pvc['size']);
    if (typeof pvc['storageClassName'] === 'string') claim['storageClass'] = pvc['storageClassName'];
  }
  m.set(['kubernetes', 'backup'], { pvc: claim });
}

function mapStartFromSnapshot(m: Mapper, start: unknown): void {
  if (!isMap(start)) return;
  m.unknown('startFromSnapshot.', start, ['enabled', 'existingClaim', 'snapshotFilename']);
  if (start['enabled'] !== true) return;
  m.warn(
    'startFromSnapshot',
    `not mapped — a spec describes a cluster, a restore is a step: \`etcd-steward backup import ${text(start['snapshotFilename'] ?? 'FILE')}\` (the file from claim ${text(start['existingClaim'] ?? '?')}), then \`etcd-steward restore <backup> --runtime kubernetes --new-cluster NAME\``,
  );
}

function mapMetrics(m: Mapper, metrics: unknown): void {
  if (!isMap(metrics)) return;
  m.unknown('metrics.', metrics, [
    'enabled',
    'podMonitor',
    'prometheusRule',
    'useSeparateEndpoint',
    'podAnnotations',
  ]);
  const podMonitor = isMap(metrics['podMonitor']) ? metrics['podMonitor'] : undefined;
  const enabled = metrics['enabled'] === true && podMonitor?.['enabled'] === true;
  const monitoring: Values = { enabled };
  if (podMonitor) {
    m.unknown('metrics.podMonitor.', podMonitor, [
      'enabled',
      'namespace',
      'interval',
      'scrapeTimeout',
      'additionalLabels',
      'relabelings',
      'metricRelabelings',
    ]);
    if (typeof podMonitor['interval'] === 'string' && podMonitor['interval'])
      monitoring['interval'] = podMonitor['interval'];
    if (typeof podMonitor['scrapeTimeout'] === 'string' && podMonitor['scrapeTimeout']) {
      monitoring['scrapeTimeout'] = podMonitor['scrapeTimeout'];
    }
    if (isMap(podMonitor['additionalLabels'])) monitoring['labels'] = podMonitor['additionalLabels'];
    if (typeof podMonitor['namespace'] === 'string' && podMonitor['namespace']) {
      m.set(['kubernetes', 'namespace'], podMonitor['namespace']);
      m.warn(
        'metrics.podMonitor.namespace',
        `'${podMonitor['namespace']}' taken as kubernetes.namespace (the chart's release namespace is not in its values): the PodMonitor lives beside the pods`,
      );
    }
    for (const key of ['relabelings', 'metricRelabelings']) {
      if (podMonitor[key] !== undefined) m.warn(`metrics.podMonitor.${key}`, 'not mapped');
    }
  }
  if (isMap(metrics['prometheusRule']) && metrics['prometheusRule']['enabled'] === true) {
    m.warn(
      'metrics.prometheusRule',
      "replaced by etcd-steward's own rules (render alerts); custom rules are not copied",
    );
  }
  m.set(['kubernetes', 'monitoring'], monitoring);
}

function mapDefrag(m: Mapper, defrag: unknown): void {
  if (!isMap(defrag)) return;
  m.unknown('defrag.', defrag, ['enabled', 'cronjob']);
  if (defrag['enabled'] !== true) return;
  const cron = isMap(defrag['cronjob']) ? defrag['cronjob'] : {};
  m.unknown('defrag.cronjob.', cron, [
    'schedule',
    'suspend',
    'successfulJobsHistoryLimit',
    'failedJobsHistoryLimit',
    'startingDeadlineSeconds',
    'resources',
    'resourcesPreset',
    'nodeSelector',
    'tolerations',
    'podAnnotations',
  ]);
  if (typeof cron['schedule'] === 'string') m.set(['defrag', 'schedule'], cron['schedule']);
  if (cron['suspend'] === true) {
    m.warn(
      'defrag.cronjob.suspend',
      'true: the schedule is not copied (defrag stays manual: etcd-steward defrag)',
    );
    delete (m.spec['defrag'] as Values | undefined)?.['schedule'];
  }
  const limits: Values = {};
  if (typeof cron['successfulJobsHistoryLimit'] === 'number')
    limits['successfulJobsHistoryLimit'] = cron['successfulJobsHistoryLimit'];
  if (typeof cron['failedJobsHistoryLimit'] === 'number')
    limits['failedJobsHistoryLimit'] = cron['failedJobsHistoryLimit'];
  if (Object.keys(limits).length > 0) {
    const prior = (m.spec['kubernetes'] as Values | undefined)?.['cronJobs'];
    m.set(['kubernetes', 'cronJobs'], { ...(isMap(prior) ? prior : {}), ...limits });
  }
  m.warn(
    'defrag',
    "the chart defragments every member in a row, leader included; etcd-steward's defrag is rule-based and rolling (followers first, leader last) — the rule is etcd-steward's default unless you set defrag.rule",
  );
}
