/** `etcd-steward down [--purge]`: stop the local cluster's members; --purge also removes their data. */
import { LocalRuntime } from '../../runtime/local/cluster.js';
import { loadSpec, requireLocal, type GlobalOptions } from '../context.js';
import { printJson, progress, renderTable } from '../output.js';

export interface DownOptions extends GlobalOptions {
  readonly purge?: boolean;
}

export async function downCommand(options: DownOptions): Promise<number> {
  const spec = requireLocal((await loadSpec(options, true))!, 'down');
  const runtime = new LocalRuntime(spec);
  if (!(await runtime.state())) {
    progress(options.output, `no local cluster in ${spec.dataDir}; nothing to stop`);
    if (options.output === 'json') printJson({ name: spec.name, members: [], purged: [] });
    return 0;
  }
  const members = await runtime.stop();
  const purged = options.purge ? await runtime.purge() : [];
  if (options.output === 'json') {
    printJson({ name: spec.name, members, purged });
    return 0;
  }
  process.stdout.write(
    `${renderTable(
      ['MEMBER', 'RESULT'],
      members.map((m) => [m.name, m.outcome]),
    )}\n`,
  );
  if (options.purge)
    progress(options.output, `removed ${purged.length} member folders under ${spec.dataDir}`);
  else progress(options.output, `data kept in ${spec.dataDir}; \`etcd-steward up\` starts the cluster again`);
  return 0;
}
