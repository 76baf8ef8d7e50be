/**
 * etcd command-line flags as etcd's own YAML config file (`etcd --config-file`). The official etcd
 * image has no shell, and etcd ignores every flag once it is given a config file, so the pod's init
 * step (`member-init`) writes the whole configuration — the rendered flags plus the bootstrap
 * settings it decided — into a file the etcd container starts from.
 */
import { stringify } from 'yaml';

/** Flags whose value is a string even when it looks like a number or a duration. */
const STRING_KEYS = new Set([
  'name',
  'data-dir',
  'wal-dir',
  'initial-cluster',
  'initial-cluster-state',
  'initial-cluster-token',
  'initial-advertise-peer-urls',
  'advertise-client-urls',
  'listen-client-urls',
  'listen-client-http-urls',
  'listen-peer-urls',
  'listen-metrics-urls',
  'auto-compaction-mode',
  'auto-compaction-retention',
  'log-level',
  'logger',
  'log-format',
  'feature-gates',
  'metrics',
  'auth-token',
  'discovery',
  'discovery-srv',
  'discovery-srv-name',
  'discovery-proxy',
  'backend-bbolt-freelist-type',
  'tls-min-version',
  'tls-max-version',
  'v2-deprecation',
  'cors',
  'host-whitelist',
  'log-rotation-config-json',
]);

/** Flags that are lists in the config file (comma-separated on the command line). */
const LIST_KEYS = new Set(['log-outputs', 'cipher-suites']);

/** TLS flags: under `client-transport-security`, or with `peer-` under `peer-transport-security`. */
const TLS_KEYS = new Set([
  'cert-file',
  'key-file',
  'client-cert-file',
  'client-key-file',
  'trusted-ca-file',
  'client-cert-auth',
  'auto-tls',
  'crl-file',
  'allowed-cn',
  'allowed-hostname',
]);

const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const NANOS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration (`1h30m`, `250ms`) in nanoseconds, the form etcd's config file reads durations in. */
export function goDurationNanos(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g))
    total += Number(m[1]) * (NANOS[m[2] as string] ?? 0);
  return Math.round(total);
}

/** `--key=value` / `--key value` / `--flag` as [key, value] pairs (value `true` for a bare flag). */
export function parseFlags(flags: readonly string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i < flags.length; i += 1) {
    const flag = flags[i] as string;
    const m = /^--?([^=]+)(?:=(.*))?$/s.exec(flag);
    if (!m) throw new Error(`not an etcd flag: '${flag}' (flags are --name=value)`);
    const key = m[1] as string;
    if (m[2] !== undefined) pairs.push([key, m[2]]);
    else if (i + 1 < flags.length && !(flags[i + 1] as string).startsWith('-') && !isBoolFlag(key)) {
      pairs.push([key, flags[i + 1] as string]);
      i += 1;
    } else pairs.push([key, 'true']);
  }
  return pairs;
}

function isBoolFlag(key: string): boolean {
  return (
    /(^|-)(auth|tls|fsync|check|enabled?|pprof|mlock|vote|defrag|gateway|rotation)$/.test(key) ||
    key === 'force-new-cluster'
  );
}

/** The value a flag of `key` takes in the config file. */
function typed(key: string, value: string): unknown {
  if (LIST_KEYS.has(key)) return value.split(',').filter((v) => v !== '');
  if (STRING_KEYS.has(key)) return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^-?\d+$/.test(value)) return Number(value);
  if (GO_DURATION.test(value)) return goDurationNanos(value);
  return value;
}

/** The value of the last `--key` among `flags`, or undefined. */
export function flagValue(flags: readonly string[], key: string): string | undefined {
  return parseFlags(flags)
    .filter(([k]) => k === key)
    .at(-1)?.[1];
}

/** `flags` (later wins) as the object etcd's config file holds; `overrides` replace flag values. */
export function etcdConfig(
  flags: readonly string[],
  overrides: Readonly<Record<string, string>> = {},
): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  const client: Record<string, unknown> = {};
  const peer: Record<string, unknown> = {};
  for (const [key, value] of [...parseFlags(flags), ...Object.entries(overrides)]) {
    if (key === 'config-file') continue;
    if (TLS_KEYS.has(key)) client[key] = typed(key, value);
    else if (key.startsWith('peer-') && TLS_KEYS.has(key.slice(5))) peer[key.slice(5)] = typed(key, value);
    else config[key] = typed(key, value);
  }
  if (Object.keys(client).length > 0) config['client-transport-security'] = client;
  if (Object.keys(peer).length > 0) config['peer-transport-security'] = peer;
  return config;
}

/** The config file's text. */
export function etcdConfigYaml(
  flags: readonly string[],
  overrides: Readonly<Record<string, string>> = {},
): string {
  return stringify(etcdConfig(flags, overrides), { lineWidth: 0 });
}
