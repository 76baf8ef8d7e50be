/**
 * The external runtime: a cluster someone else runs, known only by the client URLs in the spec.
 * etcd-steward reads and backs it up through those URLs; starting, stopping or changing its
 * members is the job of whoever runs it, and each such call says so.
 */
import type { Spec } from '../config/spec.js';
import { InputError } from '../errors.js';
import type { MembershipHost } from './membership-host.js';
import {
  RuntimeUnsupportedError,
  type ClusterRuntime,
  type MemberBootstrap,
  type MemberDataLocation,
  type MemberStopResult,
  type RuntimeMember,
} from './runtime.js';

const RUN_ELSEWHERE =
  'etcd-steward only talks to this cluster through its endpoints; do this where the members run (their service manager, or their hosts), or describe the cluster with runtime: local or kubernetes';

/** The ClusterRuntime of a `runtime: external` spec. */
export class ExternalRuntime implements ClusterRuntime {
  readonly kind = 'external' as const;
  readonly spec: Spec;
  readonly recordsDir = undefined;

  constructor(spec: Spec) {
    this.spec = spec;
  }

  /** The spec's endpoints; member names are not known without asking etcd (status does). */
  members(): Promise<RuntimeMember[]> {
    const endpoints = this.spec.endpoints ?? [];
    if (endpoints.length === 0) {
      return Promise.reject(
        new InputError(`${this.spec.source ?? 'the spec'} has runtime: external but no endpoints`, {
          hint: 'list the members’ client URLs under endpoints:, e.g. [https://10.0.0.1:2379]',
        }),
      );
    }
    return Promise.resolve(endpoints.map((endpoint) => ({ name: undefined, endpoint })));
  }

  startMember(name: string): Promise<void> {
    return Promise.reject(this.unsupported(`start member ${name}`));
  }

  stopMember(name: string): Promise<MemberStopResult> {
    return Promise.reject(this.unsupported(`stop member ${name}`));
  }

  memberData(name: string): Promise<MemberDataLocation> {
    return Promise.reject(
      new RuntimeUnsupportedError(
        'external',
        `tell where member ${name} keeps its data`,
        'the data dir is on the member’s host; backups (etcd-steward backup create) work through the endpoints',
      ),
    );
  }

  memberBootstrap(name: string): Promise<MemberBootstrap> {
    return Promise.reject(
      new RuntimeUnsupportedError(
        'external',
        `bring up a restored or replaced member ${name}`,
        'restore into a new local cluster (etcd-steward restore --new-cluster NAME) and point the clients at it, or run etcdutl snapshot restore on the members’ hosts',
      ),
    );
  }

  changeMemberVersion(name: string): Promise<void> {
    return Promise.reject(this.unsupported(`change the etcd version of member ${name}`));
  }

  membership(): MembershipHost {
    throw this.unsupported('add, remove or replace members');
  }

  async close(): Promise<void> {}

  private unsupported(operation: string): RuntimeUnsupportedError {
    return new RuntimeUnsupportedError('external', operation, RUN_ELSEWHERE);
  }
}
