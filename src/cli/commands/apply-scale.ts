/**
 * `apply` of the spec's objects on a cluster that exists: one scaling step (engine/members/
 * kube-scale.ts) sets the StatefulSet's replicas and the PodDisruptionBudget from the live voting
 * members, and the initial-member arguments of the pods stay those the StatefulSet was created
 * with (the initial set does not change with `members:`, so scaling rolls no pod), and so does
 * the etcd image (a new etcd version is `upgrade --to`'s job, member by member).
 */
import type { Spec } from '../../config/spec.js';
import { planKubeScale, removeForScale, type KubeScalePlan } from '../../engine/members/kube-scale.js';
import { surveyCluster, type Survey } from '../../engine/members/survey.js';
import { readObject, type KubeObject } from '../../runtime/kubernetes/apply.js';
import { keepLiveImage } from '../../runtime/kubernetes/member-image.js';
import { etcdImageTagVersion } from '../../runtime/kubernetes/render-images.js';
import { KubernetesRuntime } from '../../runtime/kubernetes/runtime.js';
import { clusterNames } from '../../runtime/kubernetes/render-types.js';
import { connectionFor, type GlobalOptions } from '../context.js';
import { progress } from '../output.js';
import type { ApplyCommandOptions } from './apply.js';

interface PodTemplate {
  spec?: {
    replicas?: number;
    template?: { spec?: { initContainers?: { name: string; args?: string[] }[] } };
  };
}

/** The rendered objects with this step's replicas and budget, after the etcd half of the step. */
export async function scaleObjects(
  spec: Spec,
  objects: KubeObject[],
  options: ApplyCommandOptions,
): Promise<KubeObject[]> {
  const names = clusterNames(spec);
  const sts = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === names.name);
  if (!sts) return objects;
  const target = { kubeconfig: options.kubeconfig, context: options.context };
  const live: (KubeObject & PodTemplate) | undefined = await readObject(sts, target);
  const liveReplicas = live?.spec?.replicas;
  const reached = live ? await reachCluster(spec, options) : undefined;
  const survey = reached?.survey;
  try {
    const plan = planKubeScale({
      liveReplicas,
      target: spec.members,
      survey,
      memberName: (i) => names.memberName(i),
    });
    if (plan.remove !== undefined) {
      if (options.dryRun)
        progress(options.output, `dry run: would remove ${plan.remove} from etcd before lowering replicas`);
      else
        await removeForScale(plan, {
          endpoints: reached?.endpoints ?? [],
          connection: connectionFor(options, spec),
          onProgress: (line) => progress(options.output, line),
        });
    }
    return withPlan(objects, sts, live, plan, names.name, options);
  } finally {
    await reached?.close();
  }
}

function withPlan(
  objects: KubeObject[],
  sts: KubeObject,
  live: (KubeObject & PodTemplate) | undefined,
  plan: KubeScalePlan,
  name: string,
  options: GlobalOptions,
): KubeObject[] {
  if (plan.note) progress(options.output, plan.note);
  return objects.map((o) => {
    if (o === sts) return withLiveImage(withBootstrapOf(withReplicas(o, plan), live), live, options);
    if (o.kind === 'PodDisruptionBudget' && o.metadata.name === name)
      return { ...o, spec: { ...(o['spec'] as object), maxUnavailable: plan.maxUnavailable } };
    return o;
  });
}

function withReplicas(o: KubeObject, plan: KubeScalePlan): KubeObject {
  return { ...o, spec: { ...(o['spec'] as object), replicas: plan.replicas } };
}

/**
 * The live etcd image, kept: apply never rolls members to another etcd version; it says that
 * `upgrade --to` does (one member at a time, with its checks).
 */
function withLiveImage(o: KubeObject, live: KubeObject | undefined, options: GlobalOptions): KubeObject {
  const { object, kept } = keepLiveImage(o, live);
  if (kept) {
    const version = etcdImageTagVersion(kept.wanted) ?? 'VERSION';
    progress(
      options.output,
      `etcd image kept at ${kept.live} (the spec asks for ${kept.wanted}): apply never rolls etcd members to another version; run \`etcd-steward upgrade --to ${version}\`, which moves them one at a time with its checks`,
    );
  }
  return object;
}

/** The live pods' `--initial-cluster=` and `--endpoints` of the init containers, kept. */
function withBootstrapOf(o: KubeObject, live: (KubeObject & PodTemplate) | undefined): KubeObject {
  const liveInit = live?.spec?.template?.spec?.initContainers ?? [];
  if (liveInit.length === 0) return o;
  const copy = structuredClone(o) as KubeObject & PodTemplate;
  for (const c of copy.spec?.template?.spec?.initContainers ?? []) {
    const was = liveInit.find((l) => l.name === c.name)?.args;
    if (!was || !c.args) continue;
    const args = c.args;
    c.args = args.map((a, i) => {
      if (a.startsWith('--initial-cluster=')) return was.find((w) => w.startsWith('--initial-cluster=')) ?? a;
      if (args[i - 1] === '--endpoints') return was[was.indexOf('--endpoints') + 1] ?? a;
      return a;
    });
  }
  return copy;
}

/**
 * The cluster as its members say, and endpoints that reach them from here: --endpoints, else the
 * runtime's (in the cluster: DNS names; else port-forwards, open until `close`).
 */
async function reachCluster(
  spec: Spec,
  options: ApplyCommandOptions,
): Promise<{ survey: Survey | undefined; endpoints: string[]; close(): Promise<void> }> {
  const connection = connectionFor(options, spec);
  if (options.endpoints !== undefined) {
    const endpoints = options.endpoints.split(',');
    const survey = await surveyCluster(endpoints, connection).catch(() => undefined);
    return { survey, endpoints, close: () => Promise.resolve() };
  }
  const runtime = new KubernetesRuntime(spec, { kubeconfig: options.kubeconfig, context: options.context });
  try {
    const endpoints = (await runtime.members()).map((m) => m.endpoint);
    const survey = await surveyCluster(endpoints, connection);
    return { survey, endpoints, close: () => runtime.close() };
  } catch {
    await runtime.close();
    return { survey: undefined, endpoints: [], close: () => Promise.resolve() };
  }
}
