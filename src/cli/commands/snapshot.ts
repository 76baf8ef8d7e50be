/**
 * `etcd-steward snapshot inspect|diff`: snapshot files and backups read offline (no etcd needed).
 *
 * A snapshot is named by a path to a file (`etcdctl snapshot save`, a stored `.db`, a member's
 * `db`), or by a backup name / `latest` in `--storage URL` (default: the spec's backup.storage),
 * which is fetched, decompressed and checked against its manifest first. A reference with a '/'
 * is always a file. Missing: exit 2; damaged: exit 1 with the reader's finding.
 *
 * `inspect -o json` prints one `SnapshotInspection` (src/engine/snapshot/inspect.ts). Exit 0,
 * or 1 when the file is damaged — also when it reads fine but etcd's trailer does not match.
 *
 * `diff -o json` prints one document:
 * ```
 * { a: Side, b: Side, prefix: string|null,
 *   added, removed, changed, rewritten, unchanged: number,
 *   byPrefix: [{ prefix: string|null, prefixEncoding: "utf8"|"base64"|null,
 *                added, removed, changed, rewritten, unchanged }],
 *   changes: [{ key, keyEncoding, change: "added"|"removed"|"changed"|"rewritten",
 *               a: {modRevision, valueSize}|null, b: {…}|null }] | null }   // with --keys
 * Side = { kind: "file"|"backup"|"live", reference: string|null, file: string|null,
 *          backup: string|null, endpoint: string|null, revision: number,
 *          keyCount: number, trailer: "ok"|"absent"|"bad"|null }
 * ```
 * What added/removed/changed/rewritten mean and how the top-level prefix is cut: see
 * src/engine/snapshot/diff.ts. `keyCount` counts the keys compared (under --prefix). A diff is not
 * a failure: exit 0.
 */
import path from 'node:path';
import { formatBytes } from '../../config/units.js';
import type { Spec } from '../../config/spec.js';
import { isFile, localSnapshot, type LocalSnapshot } from '../../engine/backup/fetch.js';
import { keysFor } from '../../engine/backup/spec-keys.js';
import { displayBytes, encodeBytes } from '../../engine/snapshot/bytes.js';
import {
  changeJson,
  diffKeySpaces,
  openLiveKeys,
  snapshotRecords,
  type ChangeCounts,
  type KeyChange,
  type KeyChangeJson,
  type KeyRecord,
} from '../../engine/snapshot/diff.js';
import { describeGreptime } from '../../greptime/key-layout.js';
import {
  inspectFacts,
  listLiveKeys,
  listingJson,
  openChecked,
  type CheckedSnapshot,
  type KeyListing,
  type KeyValueListing,
  type SnapshotInspection,
} from '../../engine/snapshot/inspect.js';
import { InputError } from '../../errors.js';
import type { BackupStorage } from '../../storage/storage.js';
import { clusterTarget, connectionFor, loadSpec, type GlobalOptions } from '../context.js';
import { printJson, progress, renderTable } from '../output.js';
import { byteProgress } from '../progress.js';
import { storageFor } from '../context.js';

export interface SnapshotOptions extends GlobalOptions {
  readonly storage?: string;
  readonly prefix?: string;
  readonly keys?: boolean;
  readonly values?: boolean;
  /** An age identity file for encrypted backups. */
  readonly identity?: string;
}

/** A snapshot reference resolved to a local file, and how to name it. */
interface ResolvedSnapshot extends LocalSnapshot {
  readonly reference: string;
  readonly kind: 'file' | 'backup';
  /** For messages: `snapshot FILE` or `backup NAME`. */
  readonly label: string;
  readonly storage: string | undefined;
}

async function resolveSnapshot(
  reference: string,
  options: SnapshotOptions,
  spec: Spec | undefined,
): Promise<ResolvedSnapshot> {
  if (!(await isFile(reference)) && (reference.includes('/') || reference.includes(path.sep))) {
    throw new InputError(`${reference}: no such snapshot file`, {
      hint: 'give the path of a snapshot file, or a backup name (or latest) with --storage URL',
    });
  }
  let store: BackupStorage | undefined;
  const url = options.storage ?? spec?.backup?.storage;
  const storage = url ? async () => (store = await storageFor(options, spec)) : undefined;
  const bar = await byteProgress(options.output, `fetch ${reference}`);
  try {
    const local = await localSnapshot(reference, storage, {
      onBytes: (bytes, total) => bar.update(bytes, total),
      keys: await keysFor(options, spec),
    });
    const kind = local.manifest ? 'backup' : 'file';
    return {
      ...local,
      reference,
      kind,
      label: local.manifest ? `backup ${local.manifest.name}` : `snapshot ${reference}`,
      storage: store?.displayUrl,
    };
  } finally {
    bar.stop();
  }
}

/** Opens (and checks) a resolved snapshot; the caller closes it. */
async function openResolved(resolved: ResolvedSnapshot): Promise<CheckedSnapshot> {
  return openChecked(resolved.file, resolved.label);
}

export async function snapshotInspectCommand(target: string, options: SnapshotOptions): Promise<number> {
  const spec = await loadSpec(options, false);
  const resolved = await resolveSnapshot(target, options, spec);
  try {
    const checked = await openResolved(resolved);
    try {
      const { facts, index } = await inspectFacts(
        checked,
        options.prefix === undefined ? {} : { prefix: options.prefix },
      );
      const listing =
        options.keys || options.values
          ? listLiveKeys(checked, index, { prefix: options.prefix, values: options.values === true })
          : undefined;
      const source: SnapshotInspection['source'] = {
        kind: resolved.kind,
        reference: target,
        file: resolved.kind === 'file' ? resolved.file : null,
        backup: resolved.manifest?.name ?? null,
        storage: resolved.storage ?? null,
      };
      if (options.output === 'json') {
        let keys: (KeyListing | KeyValueListing)[] | null = null;
        if (listing) {
          keys = [];
          for await (const entry of listing) keys.push(listingJson(entry));
        }
        printJson({ source, ...facts, keys } satisfies SnapshotInspection);
      } else {
        process.stdout.write(`${inspectTables({ source, ...facts, keys: null })}\n`);
        if (listing) {
          const out: string[] = [];
          for await (const entry of listing) {
            out.push(displayBytes(entry.key));
            if (entry.kv) out.push(`  ${displayBytes(entry.kv.value, { multiline: true, indent: '  ' })}`);
            if (out.length >= 256) process.stdout.write(`${out.splice(0).join('\n')}\n`);
          }
          if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
        }
      }
      if (facts.trailer === 'bad') {
        process.stderr.write(
          `error: ${resolved.label} is damaged: etcd's SHA-256 trailer does not match its content (the file was changed after etcd wrote it)\n` +
            'hint: take a new snapshot, or use another backup\n',
        );
        return 1;
      }
      return 0;
    } finally {
      await checked.snapshot.close();
    }
  } finally {
    await resolved.dispose();
  }
}

/** The facts table and the members table of `inspect`. */
export function inspectTables(report: SnapshotInspection): string {
  const bytes = (n: number) => `${formatBytes(n)} (${n} bytes)`;
  const source =
    report.source.kind === 'backup'
      ? `backup ${report.source.backup ?? '?'}${report.source.storage ? ` in ${report.source.storage}` : ''}`
      : (report.source.file ?? report.source.reference);
  const rows: [string, string][] = [
    ['SNAPSHOT', source],
    ['REVISION', String(report.revision)],
    [
      'COMPACTED AT',
      (report.compactRevision === 0 ? '- (never compacted)' : String(report.compactRevision)) +
        (report.scheduledCompactRevision !== null
          ? `; compaction to ${report.scheduledCompactRevision} not finished`
          : ''),
    ],
    [
      'KEYS',
      `${report.keyCount} live (${formatBytes(report.liveBytes)} of keys and values); ${report.revisions} revisions held`,
    ],
    ['FILE SIZE', bytes(report.fileSize)],
    ['IN USE', `${bytes(report.inUseBytes)}; page size ${report.pageSize}`],
    [
      'TRAILER',
      report.trailer === 'ok'
        ? "ok (etcd's SHA-256 matches)"
        : report.trailer === 'absent'
          ? 'absent (a bare bbolt file)'
          : 'BAD (does not match the content)',
    ],
    ['STORAGE VERSION', report.storageVersion ?? '-'],
    ['CLUSTER VERSION', report.clusterVersion ?? '-'],
    ['LEASES', String(report.leaseCount)],
    ['AUTH', report.authEnabled ? 'on' : 'off'],
    ['GREPTIMEDB', report.greptime ? describeGreptime(report.greptime) : '- (no GreptimeDB metadata)'],
  ];
  if (report.prefix !== null)
    rows.push([`PREFIX ${JSON.stringify(report.prefix)}`, `${report.prefixKeyCount ?? 0} live keys`]);
  const facts = renderTable(['FIELD', 'VALUE'], rows);
  const members = renderTable(
    ['MEMBER ID', 'NAME', 'PEER URLS', 'CLIENT URLS', 'LEARNER'],
    report.members.map((m) => [
      m.id,
      m.name || '-',
      m.peerUrls.join(', ') || '-',
      m.clientUrls.join(', ') || '-',
      String(m.isLearner),
    ]),
  );
  const removed =
    report.removedMembers.length > 0 ? `\nremoved members: ${report.removedMembers.join(', ')}` : '';
  return `${facts}\n${members}${removed}`;
}

/** One side of a diff as the JSON document shows it. */
interface DiffSide {
  kind: 'file' | 'backup' | 'live';
  reference: string | null;
  file: string | null;
  backup: string | null;
  endpoint: string | null;
  revision: number;
  keyCount: number;
  trailer: 'ok' | 'absent' | 'bad' | null;
}

function snapshotSide(resolved: ResolvedSnapshot, checked: CheckedSnapshot): DiffSide {
  return {
    kind: resolved.kind,
    reference: resolved.reference,
    file: resolved.kind === 'file' ? resolved.file : null,
    backup: resolved.manifest?.name ?? null,
    endpoint: null,
    revision: checked.summary.revision,
    keyCount: 0,
    trailer: checked.summary.trailer,
  };
}

export async function snapshotDiffCommand(
  a: string,
  b: string | undefined,
  options: SnapshotOptions,
): Promise<number> {
  const spec = await loadSpec(options, false);
  const opened: { resolved: ResolvedSnapshot; checked?: CheckedSnapshot }[] = [];
  let closeLive: (() => void) | undefined;
  try {
    const open = async (reference: string) => {
      const entry: { resolved: ResolvedSnapshot; checked?: CheckedSnapshot } = {
        resolved: await resolveSnapshot(reference, options, spec),
      };
      opened.push(entry);
      entry.checked = await openResolved(entry.resolved);
      if (entry.checked.summary.trailer === 'bad')
        progress(
          options.output,
          `warning: ${entry.resolved.label}: etcd's SHA-256 trailer does not match its content`,
        );
      return { resolved: entry.resolved, checked: entry.checked };
    };
    const left = await open(a);
    const sideA = snapshotSide(left.resolved, left.checked);
    let sideB: DiffSide;
    let streamB: AsyncIterable<KeyRecord>;
    if (b !== undefined) {
      const right = await open(b);
      sideB = snapshotSide(right.resolved, right.checked);
      streamB = snapshotRecords(right.checked.snapshot, options.prefix);
    } else {
      const target = await clusterTarget(options);
      const live = await openLiveKeys({
        endpoints: target.endpoints,
        connection: connectionFor(options, target.spec),
        names: target.names,
        ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      });
      closeLive = () => live.close();
      sideB = {
        kind: 'live',
        reference: null,
        file: null,
        backup: null,
        endpoint: live.endpoint,
        revision: live.revision,
        keyCount: 0,
        trailer: null,
      };
      streamB = live.records;
    }

    const json = options.output === 'json';
    if (!json) process.stdout.write(`A  ${describeSide(sideA)}\nB  ${describeSide(sideB)}\n`);
    const changes: KeyChangeJson[] | null = options.keys && json ? [] : null;
    const pending: string[] = [];
    const onChange = options.keys
      ? (change: KeyChange) => {
          if (changes) changes.push(changeJson(change));
          else {
            pending.push(changeLine(change));
            if (pending.length >= 256) process.stdout.write(`${pending.splice(0).join('\n')}\n`);
          }
        }
      : undefined;
    const result = await diffKeySpaces(
      snapshotRecords(left.checked.snapshot, options.prefix),
      streamB,
      onChange,
    );
    if (pending.length > 0) process.stdout.write(`${pending.join('\n')}\n`);
    sideA.keyCount = result.keysA;
    sideB.keyCount = result.keysB;

    if (json) {
      printJson({
        a: sideA,
        b: sideB,
        prefix: options.prefix ?? null,
        ...result.counts,
        byPrefix: result.byPrefix.map((group) => {
          const prefix = group.prefix ? encodeBytes(group.prefix) : undefined;
          return { prefix: prefix?.text ?? null, prefixEncoding: prefix?.encoding ?? null, ...group.counts };
        }),
        changes,
      });
    } else {
      const c = result.counts;
      const row = (name: string, n: ChangeCounts) => [
        name,
        String(n.added),
        String(n.removed),
        String(n.changed),
        String(n.rewritten),
        String(n.unchanged),
      ];
      process.stdout.write(
        `${renderTable(
          ['PREFIX', 'ADDED', 'REMOVED', 'CHANGED', 'REWRITTEN', 'UNCHANGED'],
          [
            ...result.byPrefix.map((g) =>
              row(g.prefix ? displayBytes(g.prefix) : '(other prefixes)', g.counts),
            ),
            row('TOTAL', c),
          ],
        )}\n`,
      );
      progress(
        options.output,
        `${c.added} added, ${c.removed} removed, ${c.changed} changed, ${c.rewritten} rewritten (same value, new mod revision), ${c.unchanged} unchanged`,
      );
    }
    return 0;
  } finally {
    closeLive?.();
    for (const entry of opened.reverse()) {
      await entry.checked?.snapshot.close();
      await entry.resolved.dispose();
    }
  }
}

function describeSide(side: DiffSide): string {
  const where =
    side.kind === 'live'
      ? `live cluster, read through ${side.endpoint ?? '?'}`
      : side.kind === 'backup'
        ? `backup ${side.backup ?? '?'}`
        : `snapshot ${side.file ?? side.reference ?? '?'}`;
  return `${where} at revision ${side.revision}`;
}

const CHANGE_WIDTH = 'rewritten'.length + 2;

/** One line of `diff --keys`: the kind, the key, and the mod revisions on each side. */
function changeLine(change: KeyChange): string {
  const revisions =
    change.change === 'added'
      ? `(mod ${change.b?.modRevision ?? '?'})`
      : change.change === 'removed'
        ? `(mod ${change.a?.modRevision ?? '?'})`
        : `(mod ${change.a?.modRevision ?? '?'} → ${change.b?.modRevision ?? '?'})`;
  return `${change.change.padEnd(CHANGE_WIDTH)}${displayBytes(change.key)}  ${revisions}`;
}
