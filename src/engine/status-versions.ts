/**
 * The etcd versions of a cluster as `status` reports them: the cluster version (what the members
 * agreed to speak; it moves only once every member runs the newer line) and the warnings an
 * operator should see before and during an upgrade: members on different versions, and members
 * below the patch floor of the next upgrade (config/upgrade-paths.ts).
 */
import { compareVersions, lineOf, parseVersion, UPGRADE_STEPS } from '../config/upgrade-paths.js';

/** What the version view needs of a member's row. */
export interface VersionedMember {
  readonly name: string | undefined;
  readonly endpoint: string;
  readonly id: string | undefined;
  readonly isLeader: boolean | undefined;
  readonly version: string | undefined;
  readonly clusterVersion?: string | undefined;
}

/** The cluster version: the leader's word, else the one most members report; undefined if none does. */
export function clusterVersionOf(members: readonly VersionedMember[]): string | undefined {
  const leader = members.find((m) => m.isLeader && m.clusterVersion !== undefined);
  if (leader) return leader.clusterVersion;
  const counts = new Map<string, number>();
  for (const m of members)
    if (m.clusterVersion) counts.set(m.clusterVersion, (counts.get(m.clusterVersion) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

/**
 * Sentences for `status`: members on different etcd versions (an upgrade or downgrade under way,
 * or one that stopped half-way), and each member below the floor of the upgrade from its line.
 */
export function versionWarnings(
  members: readonly VersionedMember[],
  clusterVersion: string | undefined,
): string[] {
  const warnings: string[] = [];
  const known = members.filter(
    (m): m is VersionedMember & { version: string } =>
      m.version !== undefined && parseVersion(m.version) !== undefined,
  );
  const versions = [...new Set(known.map((m) => m.version))].sort(compareVersions);
  const label = (m: VersionedMember) => m.name ?? m.endpoint;
  if (versions.length > 1) {
    const byVersion = versions
      .map(
        (v) =>
          `${v} (${known
            .filter((m) => m.version === v)
            .map(label)
            .join(', ')})`,
      )
      .join(', ');
    const lowest = versions[0] as string;
    const highest = versions[versions.length - 1] as string;
    warnings.push(
      `members run different etcd versions: ${byVersion}; cluster version ${clusterVersion ?? 'unknown'}. An upgrade or downgrade is under way or stopped half-way: finish it (etcd-steward upgrade --to ${highest}) or go back (etcd-steward upgrade --to ${lowest})`,
    );
  }
  for (const m of known) {
    const step = UPGRADE_STEPS.find((s) => s.from === lineOf(m.version));
    if (!step || compareVersions(m.version, step.floor.patch) >= 0) continue;
    warnings.push(
      `${label(m)} runs etcd ${m.version}, below ${step.floor.patch}, the lowest ${step.from} patch etcd supports an upgrade to ${step.to} from (${step.floor.source}): move it to ${step.floor.patch} or later within ${step.from} first`,
    );
  }
  return warnings;
}
