/**
 * `etcd-steward member-init [options] -- ETCD_FLAGS…`: the init step of every etcd pod on
 * Kubernetes. It reads the member's name, data dir, peer URLs and initial cluster from the etcd
 * flags, decides how the member starts (engine/members/bootstrap.ts: start, join as a learner,
 * new, or restore the pinned backup), makes the membership changes a join needs, and writes etcd's
 * config file (the flags plus the decided initial-cluster and initial-cluster-state) for the etcd
 * container (`etcd --config-file`). With `--promote` it runs beside etcd instead and promotes the
 * member once it has caught up.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { explicitEndpoints } from '../../config/connection.js';
import { parseDuration } from '../../config/units.js';
import { decideBootstrap, promoteWhenCaughtUp, type BootstrapPeer } from '../../engine/members/bootstrap.js';
import { emptyPeers, lingerUntilSeen, serveRendezvous } from '../../engine/members/rendezvous.js';
import { InputError } from '../../errors.js';
import { etcdConfigYaml, flagValue } from '../../runtime/kubernetes/etcd-config-file.js';
import { connectionFor, loadSpec, storageFor, type GlobalOptions } from '../context.js';
import { buildMemberFromBackup } from './restore-member.js';
import { keysFor } from '../../engine/backup/spec-keys.js';

export interface MemberInitOptions extends GlobalOptions {
  /** Where to write etcd's config file (the emptyDir the etcd container reads). */
  readonly writeConfig?: string;
  /** A pinned restore: the backup's name and the SHA-256 of its stored object. */
  readonly restore?: string;
  readonly restoreSha256?: string;
  readonly storage?: string;
  readonly etcdutl?: string;
  readonly timeout?: string;
  /** Run beside etcd: promote the member once caught up, then stay idle. */
  readonly promote?: boolean;
}

/** The marker a restored member leaves in its volume, beside the data dir. */
export function restoreMarker(dataDir: string): string {
  return path.join(path.dirname(path.resolve(dataDir)), 'etcd-steward-restored.json');
}

function required(flags: readonly string[], key: string): string {
  const value = flagValue(flags, key);
  if (value === undefined || value === '')
    throw new InputError(`member-init needs --${key} among the etcd flags after --`);
  return value;
}

/** `--initial-cluster` as peers (one per name; the first URL of each). */
export function parseInitialCluster(text: string): BootstrapPeer[] {
  const peers: BootstrapPeer[] = [];
  for (const part of text.split(',').filter((p) => p !== '')) {
    const at = part.indexOf('=');
    const name = part.slice(0, at);
    if (at <= 0) throw new InputError(`--initial-cluster entry '${part}' is not NAME=PEER_URL`);
    if (!peers.some((p) => p.name === name)) peers.push({ name, peerUrl: part.slice(at + 1) });
  }
  return peers;
}

export async function memberInitCommand(etcdFlags: string[], options: MemberInitOptions): Promise<number> {
  const name = required(etcdFlags, 'name');
  const peerUrl = required(etcdFlags, 'initial-advertise-peer-urls').split(',')[0] as string;
  const spec = await loadSpec(options, false);
  const connection = connectionFor(options, spec);
  const endpoints = (explicitEndpoints(options) ?? '').split(',').filter((e) => e !== '');
  if (endpoints.length === 0)
    throw new InputError('member-init needs --endpoints: the client URLs to look for the cluster at');
  const say = (line: string) => process.stderr.write(`member-init ${name}: ${line}\n`);

  if (options.promote) {
    say(await promoteWhenCaughtUp({ endpoints, connection, peerUrl, onProgress: say }));
    // A sidecar that exits is started again: stay until the pod stops.
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => undefined, 3_600_000);
      process.once('SIGTERM', () => {
        clearInterval(timer);
        resolve();
      });
    });
    return 0;
  }

  const dataDir = required(etcdFlags, 'data-dir');
  const bootstrap = parseInitialCluster(required(etcdFlags, 'initial-cluster'));
  if (options.restore !== undefined && options.restoreSha256 === undefined)
    throw new InputError('--restore needs --restore-sha256: a restore is pinned to one backup and its hash');
  const marker = restoreMarker(dataDir);
  const listen = new URL(required(etcdFlags, 'listen-peer-urls').split(',')[0] as string);
  const others = bootstrap.filter((b) => b.name !== name);
  const dataPresent = existsSync(path.join(dataDir, 'member'));
  const seen = new Set<string>();
  const rendezvous = dataPresent
    ? undefined
    : await serveRendezvous(name, listen.hostname, Number(listen.port || 2380), seen);
  let decision;
  try {
    decision = await decideBootstrap({
      name,
      peerUrl,
      bootstrap,
      endpoints,
      connection,
      dataPresent,
      moveDataAside: async () => {
        const aside = `${dataDir}.removed-${new Date().toISOString().replace(/[-:.]/g, '')}`;
        await rename(dataDir, aside);
        return aside;
      },
      restorePinned: options.restore !== undefined,
      restoredBefore: existsSync(marker),
      emptyPeers: () => emptyPeers(others),
      seen,
      ...(options.timeout !== undefined ? { timeoutMs: parseDuration(options.timeout) } : {}),
      onProgress: say,
    });
    if (decision.kind === 'new' || decision.kind === 'restore') await lingerUntilSeen(name, others);
  } finally {
    await rendezvous?.close();
  }
  say(`${decision.kind}: ${decision.reason}`);
  if (decision.kind === 'restore') {
    const built = await buildMemberFromBackup(
      options.restore as string,
      {
        ...options,
        name,
        dataDir,
        initialCluster: required(etcdFlags, 'initial-cluster'),
        initialClusterToken: required(etcdFlags, 'initial-cluster-token'),
        initialAdvertisePeerUrls: peerUrl,
        pinnedSha256: options.restoreSha256,
      },
      () => storageFor(options, spec),
      { keys: await keysFor({}, spec) },
    );
    await writeFile(
      marker,
      `${JSON.stringify({ member: name, backup: built.backup, sha256: built.sha256, restoredAt: new Date().toISOString() })}\n`,
    );
    say(built.line);
  }
  const overrides: Record<string, string> =
    decision.kind === 'join'
      ? { 'initial-cluster-state': 'existing', 'initial-cluster': decision.initialCluster }
      : { 'initial-cluster-state': 'new' };
  if (options.writeConfig !== undefined) {
    await mkdir(path.dirname(options.writeConfig), { recursive: true });
    const partial = `${options.writeConfig}.part`;
    await writeFile(partial, etcdConfigYaml(etcdFlags, overrides));
    await rename(partial, options.writeConfig);
    say(`wrote ${options.writeConfig}`);
  }
  if (options.output === 'json') process.stdout.write(`${JSON.stringify({ member: name, ...decision })}\n`);
  return 0;
}

/** The decision a previous run wrote (for tests and `kubectl exec … cat`): the config's state. */
export async function readWrittenState(file: string): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : /^initial-cluster-state: (\S+)$/m.exec(text)?.[1];
}
