/** A byte progress bar (bytes, rate, ETA) on a terminal; nothing at all otherwise or with -o json. */
import type { OutputFormat } from './output.js';
import { formatBytes } from '../config/units.js';

export interface ByteProgress {
  update(bytes: number, total?: number): void;
  stop(): void;
}

/** A bar labelled `label`; silent unless stderr is a terminal and the output is a table. */
export async function byteProgress(format: OutputFormat, label: string): Promise<ByteProgress> {
  if (format === 'json' || !process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const { SingleBar } = (await import('cli-progress')).default;
  const started = Date.now();
  let shown = false;
  const bar = new SingleBar({
    stream: process.stderr,
    format: `${label} [{bar}] {done} of {all} at {rate}/s, ETA {eta_formatted}`,
    hideCursor: true,
    etaBuffer: 50,
    formatValue: (value, _options, type) => String(value) + (type === 'percentage' ? '%' : ''),
  });
  return {
    update(bytes, total) {
      const all = Math.max(total ?? bytes, bytes);
      const rate = bytes / Math.max(0.001, (Date.now() - started) / 1000);
      const payload = {
        done: formatBytes(bytes),
        all: total ? formatBytes(all) : '?',
        rate: formatBytes(Math.round(rate)),
      };
      if (!shown) {
        bar.start(all, bytes, payload);
        shown = true;
      } else {
        bar.setTotal(all);
        bar.update(bytes, payload);
      }
    },
    stop() {
      if (shown) bar.stop();
    },
  };
}

/** A revisions progress bar labelled `label` (done/total, rate, ETA) on a terminal; silent otherwise or with -o json. */
export async function revisionProgress(format: OutputFormat, label: string) {
  if (format === 'json' || !process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const { SingleBar } = (await import('cli-progress')).default;
  const bar = new SingleBar({
    stream: process.stderr,
    format: '{label} [{bar}] {value}/{total} revisions at {rate}/s, ETA {eta_formatted}',
    hideCursor: true,
  });
  let shown = false;
  return {
    update(done: number, total: number, rate: number) {
      if (!shown) bar.start(Math.max(total, done), done, { rate: Math.round(rate), label });
      else bar.update(done, { rate: Math.round(rate), label });
      shown = true;
    },
    stop() {
      if (shown) bar.stop();
    },
  };
}
