import { Command } from 'commander';
import { globals, runner, type ExitCode } from '../action.js';

/** The `certs` command: its flags, help and action (which loads the command's code only when it runs). */
export function buildCertsCommand(exit: ExitCode): Command {
  const run = runner(exit);
  return new Command('certs')
    .description(
      "a CA, member (server and peer) certificates with the names of the spec's members, and a client certificate for etcd-steward, into a folder",
    )
    .option('--out <dir>', 'the folder to write into', 'certs')
    .option('--force', 'replace files that exist (keys included)')
    .option('--reuse-ca', 'sign with ca.crt and ca.key already in the folder (renewal without a new CA)')
    .option('--days <n>', 'lifetime of member and client certificates, in days', '365')
    .option('--ca-days <n>', 'lifetime of a new CA, in days', '3650')
    .option(
      '--host <name>',
      'another DNS name or IP address for the member certificates (repeatable)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option('--client-cn <name>', "the client certificate's Common Name", 'etcd-steward')
    .option('--secrets', 'runtime: kubernetes: also write secrets.yaml with the kubernetes.io/tls Secrets')
    .action(function (this: Command) {
      return run(async () => (await import('./certs.js')).certsCommand(globals(this)))();
    });
}
