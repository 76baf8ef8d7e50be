/** `etcd-steward greptimedb repoint NAME[.NAMESPACE] --endpoints …`: point metasrv at other etcd endpoints. */
import { InputError } from '../../errors.js';
import { parseClusterRef, repointGreptimeDb, type RepointResult } from '../../greptime/repoint.js';
import type { GlobalOptions } from '../context.js';
import { printJson } from '../output.js';

export interface RepointCommandOptions extends GlobalOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly dryRun?: 'server';
  /** The etcd endpoints for GreptimeDB (`host:port`, comma-separated). */
  readonly to?: string;
}

export async function greptimeRepointCommand(ref: string, options: RepointCommandOptions): Promise<number> {
  const endpoints = (options.to ?? options.endpoints ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (endpoints.length === 0)
    throw new InputError('repoint needs the new etcd endpoints', {
      hint: 'pass --endpoints (or --to) etcd-restored-client.etcd.svc.cluster.local:2379',
    });
  const { name, namespace } = parseClusterRef(ref);
  const result = await repointGreptimeDb({
    name,
    namespace,
    endpoints,
    kubeconfig: options.kubeconfig,
    context: options.context,
    dryRun: options.dryRun,
  });
  printRepointResult(result, options);
  return 0;
}

/** Prints old → new endpoints and the steps left. */
export function printRepointResult(result: RepointResult, options: GlobalOptions): void {
  if (options.output === 'json') {
    printJson(result);
    return;
  }
  const dry = result.dryRun ? ' (server dry run: nothing changed)' : '';
  const lines = [
    `GreptimeDBCluster ${result.cluster}, ${result.field}:`,
    `  ${result.oldEndpoints.join(',') || '(none)'} → ${result.newEndpoints.join(',')}${result.changed ? dry : ' (already so; nothing sent)'}`,
    'steps left:',
    ...result.stepsLeft.map((s, i) => `  ${i + 1}. ${s}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
