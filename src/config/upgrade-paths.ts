/**
 * What etcd requires of a minor-version upgrade, kept as data with its sources: for each step
 * (3.5 → 3.6, 3.6 → 3.7) the lowest patch of the source line etcd supports the step from, how
 * that floor moved over time, and the etcd flags the target line no longer accepts (with their
 * replacement where there is one). Raise a floor by adding an entry to its history, with the
 * page that says so; nothing else reads version numbers from code.
 */
import type { EtcdLine } from './etcd-lines.js';

/** One published statement of the floor: from `since` on, etcd asked for `patch` or later. */
export interface FloorStatement {
  /** The lowest patch of the source line, e.g. `3.5.26`. */
  readonly patch: string;
  /** When it was published (YYYY-MM), for the record. */
  readonly since: string;
  /** Why, in one line. */
  readonly reason: string;
  readonly source: string;
}

/** A flag of the source line that the target line refuses to start with. */
export interface RemovedFlag {
  /** The flag as on the command line, without a value: `--enable-v2`. */
  readonly flag: string;
  /** What to write instead, when etcd offers something (a flag or a feature gate). */
  readonly replacement?: string;
  readonly source: string;
}

/** One supported minor-version step. */
export interface UpgradeStep {
  readonly from: EtcdLine;
  readonly to: EtcdLine;
  /** The floor in force now: the last statement of `floorHistory`. */
  readonly floor: FloorStatement;
  /** Every floor etcd published for this step, oldest first. */
  readonly floorHistory: readonly FloorStatement[];
  /** Run `etcdutl check v2store` (of the source line, at or above the floor) on the data first. */
  readonly checkV2store: boolean;
  readonly removedFlags: readonly RemovedFlag[];
  /** etcd's upgrade guide for this step. */
  readonly guide: string;
}

const GUIDE_36 = 'https://etcd.io/docs/v3.6/upgrades/upgrade_3_6/';
const GUIDE_37 = 'https://etcd.io/docs/v3.7/upgrades/upgrade_3_7/';
const CHANGELOG_36 = 'https://github.com/etcd-io/etcd/blob/main/CHANGELOG/CHANGELOG-3.6.md';
/** etcd 3.6's own `etcd --help` names each deprecated experimental flag's replacement. */
const HELP_36 =
  'etcd v3.6 `etcd --help` ("Deprecated in v3.6 and will be decommissioned in v3.7. Use … instead")';
const CHANGELOG_37 = 'https://github.com/etcd-io/etcd/blob/main/CHANGELOG/CHANGELOG-3.7.md';

const FLOOR_35_TO_36: readonly FloorStatement[] = [
  {
    patch: '3.5.20',
    since: '2025-05',
    reason: '3.5.1–3.5.19 may turn voting members into learners on 3.6 ("too many learner member")',
    source: 'https://etcd.io/blog/2025/upgrade_from_3.5_to_3.6_issue/',
  },
  {
    patch: '3.5.24',
    since: '2025-10',
    reason: 'members upgraded to 3.5.20–3.5.23 from ≤3.5.19 keep wrong membership data unless re-registered',
    source: 'https://etcd.io/blog/2025/upgrade_from_3.5_to_3.6_issue_followup/',
  },
  {
    patch: '3.5.26',
    since: '2025-12',
    reason: 'v2store and v3store membership may differ ("zombie members"); 3.5.26 syncs v3store from v2store',
    source: 'https://etcd.io/blog/2025/zombie_members_upgrade/',
  },
  {
    patch: '3.5.32',
    since: '2026-08',
    reason:
      '`etcdutl check v2store` also inspects WAL records, and --v2-deprecation=write-only-skip-check exists',
    source:
      'https://etcd.io/blog/2026/july-patch-release/ (guide: https://github.com/etcd-io/website/pull/1203)',
  },
];

const FLOOR_36_TO_37: readonly FloorStatement[] = [
  {
    patch: '3.6.11',
    since: '2026-06',
    reason: 'earlier 3.6 patches may not be compatible with a rolling upgrade to 3.7',
    source: GUIDE_37,
  },
];

/** 3.6 removed the v2 API, its v3 emulation and the v2 proxy (checked against etcd 3.6's --help). */
const REMOVED_IN_36: readonly RemovedFlag[] = [
  { flag: '--enable-v2', source: GUIDE_36 },
  { flag: '--experimental-enable-v2v3', source: CHANGELOG_36 },
  ...[
    '--proxy',
    '--proxy-dial-timeout',
    '--proxy-failure-wait',
    '--proxy-read-timeout',
    '--proxy-refresh-interval',
    '--proxy-write-timeout',
  ].map((flag) => ({ flag, source: CHANGELOG_36 })),
];

/** 3.7 decommissioned the experimental flags 3.6 deprecated; 3.6's help names each successor. */
const RENAMED_IN_37: ReadonlyArray<readonly [string, string]> = [
  ['--experimental-bootstrap-defrag-threshold-megabytes', '--bootstrap-defrag-threshold-megabytes'],
  ['--experimental-compact-hash-check-enabled', '--feature-gates=CompactHashCheck=true'],
  ['--experimental-compact-hash-check-time', '--compact-hash-check-time'],
  ['--experimental-compaction-batch-limit', '--compaction-batch-limit'],
  ['--experimental-compaction-sleep-interval', '--compaction-sleep-interval'],
  ['--experimental-corrupt-check-time', '--corrupt-check-time'],
  ['--experimental-distributed-tracing-address', '--distributed-tracing-address'],
  ['--experimental-distributed-tracing-instance-id', '--distributed-tracing-instance-id'],
  ['--experimental-distributed-tracing-sampling-rate', '--distributed-tracing-sampling-rate'],
  ['--experimental-distributed-tracing-service-name', '--distributed-tracing-service-name'],
  ['--experimental-downgrade-check-time', '--downgrade-check-time'],
  ['--experimental-enable-distributed-tracing', '--enable-distributed-tracing'],
  ['--experimental-enable-lease-checkpoint', '--feature-gates=LeaseCheckpoint=true'],
  ['--experimental-enable-lease-checkpoint-persist', '--feature-gates=LeaseCheckpointPersist=true'],
  ['--experimental-initial-corrupt-check', '--feature-gates=InitialCorruptCheck=true'],
  ['--experimental-memory-mlock', '--memory-mlock'],
  ['--experimental-peer-skip-client-san-verification', '--peer-skip-client-san-verification'],
  ['--experimental-snapshot-catchup-entries', '--snapshot-catchup-entries'],
  ['--experimental-stop-grpc-service-on-defrag', '--feature-gates=StopGRPCServiceOnDefrag=true'],
  ['--experimental-txn-mode-write-with-shared-buffer', '--feature-gates=TxnModeWriteWithSharedBuffer=true'],
  ['--experimental-warning-apply-duration', '--warning-apply-duration'],
  ['--experimental-warning-unary-request-duration', '--warning-unary-request-duration'],
  ['--experimental-watch-progress-notify-interval', '--watch-progress-notify-interval'],
];

/** Every step etcd supports, one minor version at a time. */
export const UPGRADE_STEPS: readonly UpgradeStep[] = [
  {
    from: '3.5',
    to: '3.6',
    floor: FLOOR_35_TO_36[FLOOR_35_TO_36.length - 1]!,
    floorHistory: FLOOR_35_TO_36,
    checkV2store: true,
    removedFlags: REMOVED_IN_36,
    guide: GUIDE_36,
  },
  {
    from: '3.6',
    to: '3.7',
    floor: FLOOR_36_TO_37[FLOOR_36_TO_37.length - 1]!,
    floorHistory: FLOOR_36_TO_37,
    checkV2store: false,
    removedFlags: [
      ...RENAMED_IN_37.map(([flag, replacement]) => ({ flag, replacement, source: HELP_36 })),
      // Any other --experimental-* flag is refused by 3.7 as well (caught by the prefix below).
      { flag: '--experimental-*', source: CHANGELOG_37 },
    ],
    guide: GUIDE_37,
  },
];

/** The step from one line to the next, or undefined when etcd does not support it (skips, 3.4). */
export function upgradeStep(from: string, to: string): UpgradeStep | undefined {
  return UPGRADE_STEPS.find((s) => s.from === from && s.to === to);
}

/** The floor a cluster must be at before moving to `targetLine` (undefined: no step leads there). */
export function floorFor(targetLine: string): FloorStatement | undefined {
  return UPGRADE_STEPS.find((s) => s.to === targetLine)?.floor;
}

/** The flags `targetLine` refuses that its previous line accepted. */
export function removedFlags(targetLine: string): readonly RemovedFlag[] {
  return UPGRADE_STEPS.find((s) => s.to === targetLine)?.removedFlags ?? [];
}

/** `3.5.36` → [3, 5, 36]; undefined when it is not MAJOR.MINOR.PATCH (a `v` prefix is fine). */
export function parseVersion(version: string): [number, number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** The minor line of a version: `3.5.36` → `3.5`. */
export function lineOf(version: string): string | undefined {
  const v = parseVersion(version);
  return v ? `${v[0]}.${v[1]}` : /^v?(\d+\.\d+)$/.exec(version.trim())?.[1];
}

/** Compare two MAJOR.MINOR.PATCH versions: negative, 0 or positive like a sort comparator. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y) throw new Error(`not a version: '${x ? b : a}'`);
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
}

/**
 * The flags among `args` that `targetLine` refuses, each with its table entry: matched by name
 * (`--flag`, `--flag=value`), and for 3.7 any `--experimental-*` flag.
 */
export function refusedFlags(args: readonly string[], targetLine: string): RemovedFlag[] {
  const table = removedFlags(targetLine);
  const found: RemovedFlag[] = [];
  for (const arg of args) {
    const name = arg.split('=')[0]!;
    if (!name.startsWith('--')) continue;
    const exact = table.find((r) => r.flag === name);
    const prefix = table.find((r) => r.flag.endsWith('*') && name.startsWith(r.flag.slice(0, -1)));
    const hit = exact ?? (prefix ? { ...prefix, flag: name } : undefined);
    if (hit && !found.some((f) => f.flag === hit.flag)) found.push(hit);
  }
  return found;
}
