#!/usr/bin/env node
/**
 * The etcd-steward command line: builds the program (program.ts), runs it on process.argv, and is
 * the only place that exits: 0 ok, 1 failure, 2 bad usage or input.
 */
import { CommanderError } from 'commander';
import { StewardError, describeError } from '../errors.js';
import { buildProgram } from './program.js';

/**
 * grpc-js names the server by IP in TLS (for certificates with IP SANs, which etcd clusters use),
 * and Node warns about that on every connection; the warning tells a user nothing they can act on.
 */
function silenceIpServernameWarning(): void {
  const listeners = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error & { code?: string }) => {
    if (warning.code === 'DEP0123') return;
    for (const listener of listeners) listener(warning);
  });
}

async function main(argv: readonly string[]): Promise<number> {
  const exit = { code: 0 };
  const program = buildProgram(exit);
  try {
    if (argv.length <= 2) {
      program.outputHelp();
      return 2;
    }
    await program.parseAsync([...argv]);
    return exit.code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return 0;
      process.stderr.write("run 'etcd-steward --help' for the commands and flags\n");
      return 2;
    }
    if (error instanceof StewardError) {
      process.stderr.write(`error: ${error.message}\n`);
      if (error.hint) process.stderr.write(`hint: ${error.hint}\n`);
      return error.exitCode;
    }
    process.stderr.write(`error: ${describeError(error)}\n`);
    if (process.env['ETCD_STEWARD_DEBUG']) console.error(error);
    return 1;
  }
}

silenceIpServernameWarning();
process.exitCode = await main(process.argv);
// Members started in the foreground are stopped by then; detached ones are unref'd. Leave no handle open.
process.exit();
