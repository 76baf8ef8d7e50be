import { Command } from 'commander';
import { runner, type ExitCode } from '../action.js';

/** The `install-etcd` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildInstallEtcdCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return new Command('install-etcd')
    .description(
      'install etcd, etcdctl and etcdutl of the given lines (3.5 3.6 3.7; default all) into the cache',
    )
    .argument('[lines...]', 'release lines, or full versions such as 3.5.16')
    .action((lines: string[]) =>
      run(async () => (await import('./install-etcd.js')).installEtcdCommand(lines))(),
    );
}
