import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `import` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildImportCommand(exit: ExitCode): Command {
  const run = runner(exit);
  const importer = new Command('import').description('a spec from another tool’s configuration');
  importer
    .command('bitnami')
    .description(
      "a runtime: kubernetes spec from the Bitnami etcd chart's values files (merged in Helm's order); unmapped values are warned",
    )
    .argument('[values...]', 'values files, merged in order (later wins)')
    .option(
      '--values <file>',
      'another values file (repeatable, merged after the arguments)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option('--out <file>', 'write the spec to FILE instead of stdout')
    .action(function (this: Command, files: string[]) {
      return run(async () => (await import('./import.js')).importBitnamiCommand(files, globals(this)))();
    });
  return importer;
}
