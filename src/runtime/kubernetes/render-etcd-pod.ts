/**
 * Pod-level settings of the etcd members that are not about etcd itself: no Service links and no
 * API token in the pods (etcd needs neither), members spread across zones, and a PriorityClass.
 */
import type { Spec } from '../../config/spec.js';
import { kubernetesSettings, type ClusterNames } from './render-types.js';

/** The well-known zone label every cloud's nodes carry. */
export const ZONE_KEY = 'topology.kubernetes.io/zone';

/** Fields merged into the etcd StatefulSet's pod spec. */
export function etcdPodPolicy(spec: Spec, names: ClusterNames): Record<string, unknown> {
  const k = kubernetesSettings(spec);
  return {
    // Thousands of Service variables in a busy namespace only slow start-up; etcd reads none.
    enableServiceLinks: false,
    // etcd never talks to the Kubernetes API: no token to steal from its pods.
    automountServiceAccountToken: false,
    ...(k.zoneSpread === 'none'
      ? {}
      : {
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: ZONE_KEY,
              // soft: nodes without zones (or one zone) still take members; hard: pods wait for a zone.
              whenUnsatisfiable: k.zoneSpread === 'hard' ? 'DoNotSchedule' : 'ScheduleAnyway',
              labelSelector: { matchLabels: names.selector() },
            },
          ],
        }),
    ...(k.priorityClassName ? { priorityClassName: k.priorityClassName } : {}),
  };
}
