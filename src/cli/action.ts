/** What every command's action shares: the exit code it reports and the options it sees. */
import type { Command } from 'commander';
import type { GlobalOptions } from './context.js';

/** Where an action leaves its exit code for the entry point (main.ts), the only place that exits. */
export interface ExitCode {
  code: number;
}

/** A command's own options merged with the global flags. */
export function globals<T extends GlobalOptions>(command: Command): T {
  const options = command.optsWithGlobals<T & { writeOut?: GlobalOptions['output'] }>();
  // -w/--write-out is etcdctl's name for -o/--output.
  return options.writeOut === undefined ? options : { ...options, output: options.writeOut };
}

/** Wraps a command's run into an action that stores its exit code in `exit`. */
export function runner(exit: ExitCode): (fn: () => Promise<number>) => () => Promise<void> {
  return (fn) => async () => {
    exit.code = await fn();
  };
}
