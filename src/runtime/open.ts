/**
 * Picks the runtime of a spec, once, the way storage/open.ts picks a backend. The Kubernetes
 * runtime (and with it the Kubernetes client library) is imported only for a kubernetes spec.
 */
import type { Spec } from '../config/spec.js';
import type { EtcdBinaries } from './etcd-binaries.js';
import { ExternalRuntime } from './external.js';
import type { KubernetesRuntimeOptions } from './kubernetes/runtime.js';
import { LocalClusterRuntime } from './local/runtime.js';
import type { ClusterRuntime } from './runtime.js';

export interface OpenRuntimeOptions {
  /** The etcd binaries the local runtime starts members with (not needed to read endpoints). */
  readonly binaries?: EtcdBinaries | undefined;
  /** The kubeconfig and context (as kubectl's flags), and whether to use in-cluster DNS names. */
  readonly kubernetes?: KubernetesRuntimeOptions | undefined;
}

/**
 * The spec's runtime: `local` → LocalClusterRuntime, `external` → ExternalRuntime,
 * `kubernetes` → KubernetesRuntime. Opening connects to nothing; `members()` does.
 */
export async function openRuntime(spec: Spec, options: OpenRuntimeOptions = {}): Promise<ClusterRuntime> {
  switch (spec.runtime) {
    case 'local':
      return new LocalClusterRuntime(spec, options.binaries);
    case 'external':
      return new ExternalRuntime(spec);
    case 'kubernetes': {
      const { KubernetesRuntime } = await import('./kubernetes/runtime.js');
      return new KubernetesRuntime(spec, options.kubernetes);
    }
  }
}
