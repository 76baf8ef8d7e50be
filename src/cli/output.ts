/** Printing results: tables for people, one JSON document for scripts, progress on stderr. */
import Table from 'cli-table3';

import type { OutputFormat } from './print-json.js';

export { printJson, type OutputFormat } from './print-json.js';

/** No rule between rows: a table reads as a list, as etcdctl's and kubectl's do. */
const NO_ROW_RULES = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

/**
 * How wide a table may be: the terminal's width (or COLUMNS when set); unlimited when stdout is
 * not a terminal and COLUMNS is unset, so piped output keeps whole cells.
 */
export function outputWidth(): number | undefined {
  const fromEnv = Number(process.env['COLUMNS']);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return process.stdout.isTTY ? process.stdout.columns : undefined;
}

/**
 * A boxed table like `etcdctl -w table`, without rules between rows. When it is wider than
 * `maxWidth` (default: outputWidth()), the widest columns are narrowed and their cells wrap.
 */
export function renderTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  maxWidth: number | undefined = outputWidth(),
): string {
  const natural = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => Math.max(...(r[i] ?? '').split('\n').map((l) => l.length)))),
  );
  const border = 3 * head.length + 1; // "│ " before each cell, " │" after the last
  const colWidths = fitWidths(natural, maxWidth === undefined ? undefined : maxWidth - border);
  const table = new Table({
    head: [...head],
    style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1 },
    chars: NO_ROW_RULES,
    ...(colWidths
      ? { colWidths: colWidths.map((w) => w + 2), wordWrap: true, wrapOnWordBoundary: false }
      : {}),
  });
  for (const row of rows) table.push([...row]);
  return table.toString();
}

/** Column widths that fit `budget` by narrowing the widest first (never below 6); undefined when all fit. */
export function fitWidths(natural: readonly number[], budget: number | undefined): number[] | undefined {
  const total = natural.reduce((a, b) => a + b, 0);
  if (budget === undefined || total <= budget) return undefined;
  const widths = [...natural];
  let excess = total - budget;
  while (excess > 0) {
    const widest = Math.max(...widths);
    if (widest <= 6) break;
    const i = widths.indexOf(widest);
    widths[i] = widest - 1;
    excess -= 1;
  }
  return widths;
}

/** One column of a list table: its head, its cell, and whether only `-o wide` shows it. */
export interface Column<T> {
  readonly head: string;
  readonly cell: (row: T) => string;
  readonly wide?: boolean;
}

/** A list table of `rows`: the compact columns, or every column with `-o wide`. */
export function renderColumns<T>(
  columns: readonly Column<T>[],
  rows: readonly T[],
  format: OutputFormat,
): string {
  const shown = columns.filter((c) => format === 'wide' || !c.wide);
  return renderTable(
    shown.map((c) => c.head),
    rows.map((row) => shown.map((c) => c.cell(row))),
  );
}

/** A line for people on stderr; silent when the output is JSON. */
export function progress(format: OutputFormat, message: string): void {
  if (format !== 'json') process.stderr.write(`${message}\n`);
}
