/**
 * `etcd-steward adopt bitnami RELEASE[.NAMESPACE] [--values FILE…] [--dry-run]`: runs the move
 * (engine/adopt) and prints its steps, the objects, and what is left of the release to delete.
 */
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { parseDuration } from '../../config/units.js';
import { adoptBitnami, type AdoptResult } from '../../engine/adopt/adopt.js';
import { parseReleaseRef } from '../../runtime/kubernetes/adopt-release.js';
import { connectionFor, type GlobalOptions } from '../context.js';
import { printJson, progress, renderTable } from '../output.js';

export interface AdoptCommandOptions extends GlobalOptions {
  readonly values?: readonly string[];
  readonly name?: string;
  readonly storage?: string;
  readonly backupClaim?: string;
  readonly greptimedb?: string;
  readonly dryRun?: boolean;
  readonly acceptChanges?: boolean;
  readonly out?: string;
  readonly sourceEndpoints?: string;
  readonly targetEndpoints?: string;
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly timeout?: string;
}

function list(text: string | undefined): string[] | undefined {
  return text === undefined
    ? undefined
    : text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
}

export async function adoptBitnamiCommand(ref: string, options: AdoptCommandOptions): Promise<number> {
  const { release, namespace } = parseReleaseRef(ref);
  const result = await adoptBitnami({
    release,
    namespace,
    values: options.values,
    name: options.name,
    storage: options.storage,
    backupClaim: options.backupClaim,
    greptimedb: options.greptimedb,
    connection: connectionFor(options, undefined),
    sourceEndpoints: list(options.sourceEndpoints),
    targetEndpoints: list(options.targetEndpoints),
    dryRun: options.dryRun === true,
    acceptChanges: options.acceptChanges === true,
    timeoutMs: options.timeout === undefined ? undefined : parseDuration(options.timeout),
    kubeconfig: options.kubeconfig,
    context: options.context,
    onProgress: (line) => progress(options.output, line),
  });
  if (options.out !== undefined && !result.dryRun) {
    await writeFile(options.out, stringify(result.spec, { lineWidth: 0 }));
    progress(options.output, `wrote the new cluster's spec to ${options.out}`);
  }
  if (options.output === 'json') printJson(result);
  else process.stdout.write(formatAdopt(result));
  return 0;
}

/** The steps, the objects and the leftovers as text. */
export function formatAdopt(result: AdoptResult): string {
  const ns = result.newCluster.namespace;
  const lines = [
    result.dryRun
      ? `plan (dry run: nothing was changed) to move Helm release ${result.release.namespace}/${result.release.name} to ${ns}/${result.newCluster.name}:`
      : `moved Helm release ${result.release.namespace}/${result.release.name} to ${ns}/${result.newCluster.name}:`,
    renderTable(
      ['STEP', 'OUTCOME', 'DETAIL'],
      result.steps.map((s) => [s.step, s.outcome, s.detail]),
    ),
    renderTable(
      ['KIND', 'NAMESPACE', 'NAME', result.dryRun ? 'WOULD BE' : 'OUTCOME'],
      result.objects.map((o) => [o.kind, o.namespace ?? '', o.name, o.outcome]),
    ),
    `new cluster's client endpoint: ${result.newCluster.endpoint}`,
  ];
  if (result.changedSinceBackup)
    lines.push(
      `warning: the release changed ${result.changedSinceBackup} key(s) after the backup; the new cluster does not have them`,
    );
  for (const w of result.warnings) lines.push(`note: ${w}`);
  lines.push(
    result.dryRun
      ? 'once moved, what is left of the release is removed with:'
      : 'nothing of the release was changed; once GreptimeDB runs well on the new cluster, remove what is left of it:',
    ...result.release.objects.map((o) => `  ${o.kind} ${o.name}`),
    ...result.leftovers.map((c) => `  $ ${c}`),
  );
  if (!result.dryRun)
    lines.push(
      `and the record of this move: kubectl -n ${result.release.namespace} delete configmap etcd-steward-adopt-${result.release.name}`,
    );
  return `${lines.join('\n')}\n`;
}
