/** Choosing the member a snapshot is streamed from: a healthy follower, else the healthy leader. */
import { StewardError } from '../../errors.js';
import type { ClusterStatus, MemberStatusRow } from '../status.js';

/**
 * The member to snapshot from. `wanted` (a member name or endpoint) must be healthy; otherwise a
 * healthy follower with the highest applied index is taken, then the leader.
 */
export function chooseSourceMember(status: ClusterStatus, wanted?: string): MemberStatusRow {
  if (wanted !== undefined) {
    const row = status.members.find((m) => m.name === wanted || m.endpoint === wanted || m.id === wanted);
    if (!row) {
      throw new StewardError(`no member '${wanted}' in this cluster`, {
        hint: `members: ${status.members.map((m) => m.name ?? m.endpoint).join(', ')}`,
      });
    }
    if (!row.health.ok) {
      throw new StewardError(`member ${wanted} is not healthy: ${row.health.error ?? 'unknown'}`, {
        hint: 'leave out --member (or backup.member) to let steward pick a healthy member',
      });
    }
    return row;
  }
  const healthy = status.members.filter((m) => m.health.ok && m.id !== undefined);
  const followers = healthy
    .filter((m) => !m.isLeader)
    .sort((a, b) => (b.raftAppliedIndex ?? 0) - (a.raftAppliedIndex ?? 0));
  const chosen = followers[0] ?? healthy[0];
  if (!chosen) {
    const problems = status.members.map((m) => `${m.endpoint}: ${m.health.error ?? 'unhealthy'}`);
    throw new StewardError(`no healthy member to take a snapshot from:\n    ${problems.join('\n    ')}`, {
      hint: 'check the cluster with `etcd-steward status`; a backup needs one healthy member',
    });
  }
  return chosen;
}
