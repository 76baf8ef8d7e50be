/**
 * Where `adopt` keeps its progress, so a rerun after a crash continues instead of starting over:
 * one ConfigMap of ours beside the release (never an object of the release), holding the new
 * cluster's name, the backup taken from the release and how far the move got.
 */
import { applyObjects, type KubeObject } from '../../runtime/kubernetes/apply.js';
import {
  loadKubeConfig,
  objectApi,
  readLive,
  type KubeTarget,
} from '../../runtime/kubernetes/kube-client.js';

/** How far a move got; each later phase implies the earlier ones. */
export type AdoptPhase = 'snapshot-taken' | 'applied' | 'verified' | 'repointed';

/** The record of one release's move. */
export interface AdoptRecord {
  readonly release: string;
  readonly namespace: string;
  readonly newCluster: string;
  readonly backup: string | undefined;
  readonly phase: AdoptPhase | undefined;
}

/** The record's ConfigMap name: one per release and namespace. */
export function recordName(release: string): string {
  return `etcd-steward-adopt-${release}`;
}

function reference(release: string, namespace: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: recordName(release), namespace } };
}

/** The record of an earlier run, if there is one. */
export async function readRecord(
  target: KubeTarget,
  release: string,
  namespace: string,
): Promise<AdoptRecord | undefined> {
  const kc = loadKubeConfig(target);
  const live = await readLive(
    objectApi(kc),
    reference(release, namespace),
    kc.getCurrentCluster()?.server ?? '?',
  );
  const data = live?.['data'] as Record<string, string> | undefined;
  if (!data?.['newCluster']) return undefined;
  return {
    release,
    namespace,
    newCluster: data['newCluster'],
    backup: data['backup'] || undefined,
    phase: (data['phase'] || undefined) as AdoptPhase | undefined,
  };
}

/** Writes the record (server-side apply of our own ConfigMap). */
export async function writeRecord(target: KubeTarget, record: AdoptRecord): Promise<void> {
  const base = reference(record.release, record.namespace);
  await applyObjects(
    [
      {
        ...base,
        metadata: {
          ...base.metadata,
          labels: { 'app.kubernetes.io/managed-by': 'etcd-steward', 'etcd-steward.io/adopt': record.release },
        },
        data: {
          release: `${record.namespace}/${record.release}`,
          newCluster: record.newCluster,
          backup: record.backup ?? '',
          phase: record.phase ?? '',
        },
      },
    ],
    { kubeconfig: target.kubeconfig, context: target.context },
  );
}
