/**
 * Human sizes and durations as users write them in specs and flags: `8GiB`, `512MiB`, `1.5MB`,
 * Kubernetes quantities (`8Gi`, `512Mi`, `8G`, `500M`), `1h`, `30s`, `1h30m`, `7d`.
 */
import { InputError } from '../errors.js';

/**
 * Bytes per size unit, lower-case: decimal (kb, mb, …), binary (kib, mib, …) and Kubernetes'
 * binary suffixes (ki, mi, gi, …, as in `8Gi`).
 */
export const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  pib: 2 ** 50,
  ki: 2 ** 10,
  mi: 2 ** 20,
  gi: 2 ** 30,
  ti: 2 ** 40,
  pi: 2 ** 50,
  ei: 2 ** 60,
};

/**
 * Kubernetes' decimal suffixes, case-sensitive as Kubernetes reads them: `8G` is 8×10⁹ bytes,
 * `500M` 500×10⁶ (`k` is kilo; `K` is taken too). A lower-case `m` is milli there, never mega.
 */
const KUBERNETES_DECIMAL: Readonly<Record<string, number>> = {
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** Bytes for a size such as `8GiB`, `512MiB`, `1.5MB`, `8Gi`, `500M`, `1024` or a plain number. */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (Number.isInteger(input) && input >= 0) return input;
    throw new InputError(`size ${input} is not a whole, non-negative number of bytes`);
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  const unit = match?.[2] ?? '';
  if (unit === 'm') {
    throw new InputError(`'${input}' is not a size: in Kubernetes a lower-case m means milli`, {
      hint: `write ${match?.[1] ?? 'N'}M for megabytes (10⁶) or ${match?.[1] ?? 'N'}Mi for mebibytes (2²⁰)`,
    });
  }
  const factor = unit === '' ? 1 : (KUBERNETES_DECIMAL[unit] ?? SIZE_UNITS[unit.toLowerCase()]);
  if (!match || factor === undefined) {
    throw new InputError(
      `'${input}' is not a size; write a number with a unit such as 512MiB, 8GiB, 100MB, or as in Kubernetes 8Gi, 512Mi, 8G`,
    );
  }
  return Math.round(Number(match[1]) * factor);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds for a duration such as `1h`, `30s`, `1h30m`, `500ms` or `7d`. */
export function parseDuration(input: string): number {
  const text = input.trim();
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let index = 0;
  while (index < text.length) {
    part.lastIndex = index;
    const match = part.exec(text);
    if (!match) break;
    total += Number(match[1]) * (DURATION_UNITS[match[2] as string] as number);
    index = part.lastIndex;
  }
  if (text.length === 0 || index !== text.length) {
    throw new InputError(`'${input}' is not a duration; write e.g. 30s, 5m, 1h, 1h30m or 7d`);
  }
  return Math.round(total);
}

/** A size for people: `1.5 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}
