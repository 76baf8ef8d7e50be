/**
 * Turning etcd's authentication on, on Kubernetes: a Job that runs `etcd-steward auth enable`
 * once the members answer — root with the password of kubernetes.authSecret, the root role,
 * auth enabled — and proves it by authenticating as root. Its completion (`kubectl get job`)
 * says when it ran; its log says what it found. Rerunning it is safe, so the Job's name carries a
 * hash of its pod template: a changed template is a new Job (a Job's template cannot change).
 */
import { createHash } from 'node:crypto';
import type { Spec } from '../../config/spec.js';
import { stewardJobPod } from './render-agent.js';
import { AGENT_PATHS } from './render-images.js';
import { commonLabels, type ClusterNames, type KubeObject } from './render-types.js';

/** How long the Job waits for a member to answer, and how long it may run at all. */
const WAIT = '10m';
const ACTIVE_DEADLINE_SECONDS = 15 * 60;

/** The auth bootstrap Job, when the spec has auth; nothing otherwise. */
export function renderAuthBootstrap(spec: Spec, names: ClusterNames): KubeObject[] {
  if (!spec.auth) return [];
  const labels = { ...commonLabels(spec, 'auth-bootstrap'), 'app.kubernetes.io/name': 'etcd-steward' };
  const template = {
    metadata: { labels },
    spec: stewardJobPod(spec, names, {
      container: 'auth-enable',
      args: ['auth', 'enable', '--config', AGENT_PATHS.configFile, '--wait', WAIT],
      backups: false,
    }),
  };
  const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 8);
  return [
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: `${names.name}-auth-${hash}`, namespace: names.namespace, labels },
      spec: {
        // Each attempt waits up to WAIT for the members; a few attempts cover a slow first start.
        backoffLimit: 3,
        activeDeadlineSeconds: ACTIVE_DEADLINE_SECONDS,
        // Kept a week for `kubectl get job` / logs; a later apply recreates it, and a rerun is harmless.
        ttlSecondsAfterFinished: 7 * 24 * 3600,
        template,
      },
    },
  ];
}
