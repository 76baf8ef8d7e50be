/**
 * The output formats and the JSON printer, apart from output.ts so that `-o json` paths do not
 * load the table library (output.ts re-exports both).
 */

/** table: the compact columns for people; wide: every column; json: one document for scripts. */
export type OutputFormat = 'table' | 'wide' | 'json';

/** Prints one JSON document on stdout; undefined fields become null so field names stay stable. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_key, v: unknown) => (v === undefined ? null : v), 2)}\n`);
}
