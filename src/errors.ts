/**
 * The error classes every layer throws for expected failures. Each carries a message that names
 * the problem, an optional hint that names the fix, and the exit code the CLI uses for it.
 */

/** An expected failure: the CLI prints `error: message` and, when present, `hint: hint`. */
export class StewardError extends Error {
  readonly hint: string | undefined;
  /** 2 for bad usage or input, 1 for everything that failed while doing the work. */
  readonly exitCode: 1 | 2;

  constructor(message: string, options: { hint?: string; cause?: unknown; exitCode?: 1 | 2 } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** The user asked for something malformed: an unknown flag, a bad value, an invalid spec. Exit 2. */
export class InputError extends StewardError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { ...options, exitCode: 2 });
  }
}

/** A message for any thrown value, without a stack trace. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
