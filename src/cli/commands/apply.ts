/**
 * `etcd-steward apply`: sends the spec's Kubernetes objects (or a manifest file) to the cluster of
 * the kubeconfig with server-side apply, and with --wait waits until etcd and the agent are ready.
 */
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { parseDuration } from '../../config/units.js';
import { InputError } from '../../errors.js';
import { applyObjects, type ApplyResult, type KubeObject } from '../../runtime/kubernetes/apply.js';
import { loadSpec, type GlobalOptions } from '../context.js';
import { printJson, progress, renderTable } from '../output.js';

export interface ApplyCommandOptions extends GlobalOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly dryRun?: 'server';
  readonly wait?: boolean;
  readonly timeout?: string;
  readonly forceConflicts?: boolean;
  readonly filename?: string;
}

export async function applyCommand(options: ApplyCommandOptions): Promise<number> {
  const objects = await objectsToApply(options);
  const timeoutMs = options.timeout === undefined ? undefined : parseDuration(options.timeout);
  const result = await applyObjects(objects, {
    kubeconfig: options.kubeconfig,
    context: options.context,
    dryRun: options.dryRun,
    wait: options.wait,
    timeoutMs,
    force: options.forceConflicts,
    onProgress: (line) => progress(options.output, `waiting: ${line}`),
  });
  printApplyResult(result, options);
  return 0;
}

/** Prints what apply did, as a table or JSON. */
export function printApplyResult(result: ApplyResult, options: GlobalOptions): void {
  if (options.output === 'json') {
    printJson(result);
    return;
  }
  const suffix = result.dryRun ? ' (server dry run)' : '';
  for (const ns of result.namespacesCreated) progress(options.output, `namespace ${ns} created${suffix}`);
  process.stdout.write(
    `${renderTable(
      ['KIND', 'NAMESPACE', 'NAME', 'RESULT'],
      result.objects.map((o) => [o.kind, o.namespace ?? '', o.name, `${o.outcome}${suffix}`]),
    )}\n`,
  );
  if (result.ready.length > 0) progress(options.output, `ready: ${result.ready.join(', ')}`);
}

/**
 * The objects of --filename, else those `render kubernetes` makes of the spec — with the
 * StatefulSet's replicas and the PodDisruptionBudget set by one scaling step (apply-scale.ts).
 */
async function objectsToApply(options: ApplyCommandOptions): Promise<KubeObject[]> {
  if (options.filename !== undefined) return readManifests(options.filename);
  const spec = await loadSpec(options, true);
  if (!spec) return [];
  const { kubernetesWarnings, renderKubernetes } = await import('../../runtime/kubernetes/render.js');
  for (const warning of kubernetesWarnings(spec)) progress(options.output, `warning: ${warning}`);
  const { scaleObjects } = await import('./apply-scale.js');
  return scaleObjects(spec, renderKubernetes(spec), options);
}

/** Every object of a YAML stream (a file, or `-` for stdin); lists (kind: List) are unpacked. */
export async function readManifests(file: string): Promise<KubeObject[]> {
  const text =
    file === '-'
      ? await readStdin()
      : await readFile(file, 'utf8').catch((error: Error) => {
          throw new InputError(`cannot read ${file}: ${error.message}`);
        });
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0)
      throw new InputError(`${file}: not valid YAML: ${doc.errors[0]?.message ?? ''}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    const items =
      (value as { kind?: string; items?: unknown[] }).kind === 'List'
        ? ((value as { items?: unknown[] }).items ?? [])
        : [value];
    for (const item of items) objects.push(checkObject(item, file));
  }
  if (objects.length === 0) throw new InputError(`${file} holds no Kubernetes objects`);
  return objects;
}

function checkObject(value: unknown, file: string): KubeObject {
  const o = value as Partial<KubeObject> | null;
  if (
    !o ||
    typeof o !== 'object' ||
    typeof o.apiVersion !== 'string' ||
    typeof o.kind !== 'string' ||
    typeof o.metadata?.name !== 'string'
  )
    throw new InputError(
      `${file}: every document must be a Kubernetes object with apiVersion, kind and metadata.name`,
    );
  return o as KubeObject;
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += (chunk as Buffer).toString();
  return text;
}
