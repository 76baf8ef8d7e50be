/** Printing results: tables for people, one JSON document for scripts, progress on stderr. */
import Table from 'cli-table3';

export type OutputFormat = 'table' | 'json';

/** Prints one JSON document on stdout; undefined fields become null so field names stay stable. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_key, v: unknown) => (v === undefined ? null : v), 2)}\n`);
}

/** A boxed table like `etcdctl -w table`. */
export function renderTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const table = new Table({ head: [...head], style: { head: [], border: [] }, wordWrap: true });
  for (const row of rows) table.push([...row]);
  return table.toString();
}

/** A line for people on stderr; silent when the output is JSON. */
export function progress(format: OutputFormat, message: string): void {
  if (format !== 'json') process.stderr.write(`${message}\n`);
}
