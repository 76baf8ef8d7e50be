/**
 * `etcd-steward import bitnami <values.yaml>… [--values FILE]… [--out FILE]`: a spec from the
 * Bitnami etcd chart's values files. The spec goes to stdout (or --out); every value that was not
 * mapped is named on stderr with the reason.
 */
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { importBitnami } from '../../config/import-bitnami.js';
import { InputError } from '../../errors.js';
import type { GlobalOptions } from '../context.js';
import { printJson } from '../output.js';

export interface ImportBitnamiOptions extends GlobalOptions {
  readonly values?: readonly string[];
  readonly out?: string;
}

export async function importBitnamiCommand(
  files: readonly string[],
  options: ImportBitnamiOptions,
): Promise<number> {
  const all = [...files, ...(options.values ?? [])];
  if (all.length === 0) {
    throw new InputError('no values file given', {
      hint: 'etcd-steward import bitnami etcd.yaml [--values etcd-backup.yaml …]',
    });
  }
  const { spec, warnings } = await importBitnami(all);
  if (options.output === 'json') {
    printJson({ spec, warnings });
    return 0;
  }
  const header = [
    `# Imported by etcd-steward from the Bitnami etcd chart values: ${all.join(', ')}`,
    ...(warnings.length > 0
      ? ['# Not mapped, or mapped with a change:', ...warnings.map((w) => `#   - ${w}`)]
      : []),
  ].join('\n');
  const text = `${header}\n${stringify(spec, { lineWidth: 0 })}`;
  if (options.out) {
    await writeFile(options.out, text);
    process.stderr.write(`wrote ${options.out}\n`);
  } else {
    process.stdout.write(text);
  }
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  return 0;
}
