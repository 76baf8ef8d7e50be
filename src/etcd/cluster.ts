/**
 * etcd's Cluster service on one member: list the members and change membership (add — as a
 * learner or a voter —, remove, promote, update peer URLs). Member ids are hex, as etcdctl prints them.
 */
import type { MemberChannel } from './channel.js';
import { decimalId, hexId } from './ids.js';

/** One member as Cluster.MemberList reports it. An added member that has not started has no name and no client URLs. */
export interface ClusterMember {
  readonly id: string;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

interface MemberWire {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** Cluster calls on one member. */
export class ClusterService {
  constructor(private readonly channel: MemberChannel) {}

  /** Cluster.MemberList as this member sees it. */
  async memberList(): Promise<ClusterMember[]> {
    const r = await this.channel.unary<{ members: MemberWire[] }>('Cluster', 'memberList', {
      linearizable: false,
    });
    return r.members.map(toClusterMember);
  }

  /**
   * Cluster.MemberAdd: a new member with `peerUrls`, as a learner when `isLearner`. Returns the
   * added member (no name and no client URLs until it starts) and the member list after the add.
   */
  async memberAdd(
    peerUrls: string[],
    isLearner: boolean,
  ): Promise<{ member: ClusterMember; members: ClusterMember[] }> {
    const r = await this.channel.unary<{ member: MemberWire; members: MemberWire[] }>(
      'Cluster',
      'memberAdd',
      {
        peerURLs: peerUrls,
        isLearner,
      },
    );
    return { member: toClusterMember(r.member), members: r.members.map(toClusterMember) };
  }

  /** Cluster.MemberRemove of the member `id` (hex); returns the member list after it. An unknown id fails with `MemberNotFoundError`. */
  async memberRemove(id: string): Promise<ClusterMember[]> {
    return this.change('memberRemove', { ID: decimalId(id) });
  }

  /**
   * Cluster.MemberPromote of the learner `id` (hex) to a voting member; returns the member list
   * after it. A learner that has not caught up yet fails with `LearnerNotReadyError`.
   */
  async memberPromote(id: string): Promise<ClusterMember[]> {
    return this.change('memberPromote', { ID: decimalId(id) });
  }

  /** Cluster.MemberUpdate: sets the peer URLs of the member `id` (hex); returns the member list after it. */
  async memberUpdate(id: string, peerUrls: string[]): Promise<ClusterMember[]> {
    return this.change('memberUpdate', { ID: decimalId(id), peerURLs: peerUrls });
  }

  private async change(method: string, request: object): Promise<ClusterMember[]> {
    const r = await this.channel.unary<{ members: MemberWire[] }>('Cluster', method, request);
    return r.members.map(toClusterMember);
  }
}

function toClusterMember(m: MemberWire): ClusterMember {
  return {
    id: hexId(m.ID),
    name: m.name,
    peerUrls: m.peerURLs,
    clientUrls: m.clientURLs,
    isLearner: m.isLearner,
  };
}
