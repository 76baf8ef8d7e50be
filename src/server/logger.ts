/**
 * The agent's structured log, one object per event; never a secret in it. JSON lines (pino) when
 * stdout is not a terminal (journald, Kubernetes, files); a short readable line per event on a
 * terminal.
 */
import { Writable } from 'node:stream';
import { writeSync } from 'node:fs';
import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * A logger writing to `destination`; by default straight to stdout's file descriptor with
 * synchronous writes (so the last lines before an exit are never lost), as JSON lines unless
 * stdout is a terminal (or `pretty` says otherwise).
 */
export function createLogger(
  options: { level?: string; destination?: NodeJS.WritableStream; pretty?: boolean } = {},
): Logger {
  const pretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  return pino(
    {
      level: options.level ?? 'info',
      base: { app: 'etcd-steward' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Belt and braces: these fields never reach the log even if a caller passes them.
      redact: {
        paths: ['password', '*.password', 'secretAccessKey', '*.secretAccessKey', 'token', '*.token'],
        censor: '[redacted]',
      },
    },
    options.destination ?? (pretty ? readableLines() : pino.destination({ fd: 1, sync: true })),
  );
}

const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
const SKIP = new Set(['level', 'time', 'msg', 'app', 'pid', 'hostname']);

/** ANSI colours per level (SGR codes); fields are dimmed, the message stays plain. */
const LEVEL_COLOURS: Record<string, string> = {
  trace: '90',
  debug: '36',
  info: '32',
  warn: '33',
  error: '31',
  fatal: '1;31',
};
/** The message column's width: short messages are padded so the fields line up. */
const MESSAGE_WIDTH = 36;

const paint = (code: string, text: string, colour: boolean) =>
  colour ? `\x1b[${code}m${text}\x1b[0m` : text;

/**
 * One JSON log line (as pino writes it, secrets already censored) as a person reads it:
 * `HH:MM:SS LEVEL message  key=value …`, the level padded to 5 and the message to a fixed
 * column so the fields line up; the level coloured and the fields dimmed when `colour`.
 * A line that is not JSON comes back as it is.
 */
export function formatLogLine(line: string, options: { colour: boolean }): string {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof event['time'] === 'string' ? event['time'].slice(11, 19) : '        ';
  const level = LEVELS[Number(event['level'])] ?? 'info';
  const message = typeof event['msg'] === 'string' ? event['msg'] : '';
  const fields = Object.entries(event)
    .filter(([k, v]) => !SKIP.has(k) && v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  const head = `${paint('2', time, options.colour)} ${paint(LEVEL_COLOURS[level] ?? '0', level.toUpperCase().padEnd(5), options.colour)} `;
  if (fields === '') return `${head}${message}`;
  return `${head}${message.padEnd(MESSAGE_WIDTH)} ${paint('2', fields, options.colour)}`;
}

/** Colour on a terminal unless NO_COLOR is set (https://no-color.org: any non-empty value). */
export function wantsColour(
  env: NodeJS.ProcessEnv = process.env,
  isTTY = process.stdout.isTTY === true,
): boolean {
  return isTTY && (env['NO_COLOR'] ?? '') === '';
}

/** Readable lines (formatLogLine) on stdout, for people at a terminal. */
function readableLines(): NodeJS.WritableStream {
  const colour = wantsColour();
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') writeSync(1, `${formatLogLine(line, { colour })}\n`);
      }
      callback();
    },
  });
}
