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

/** `HH:MM:SS level message key=value …` on stdout, for people at a terminal. */
function readableLines(): NodeJS.WritableStream {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        try {
          const event = JSON.parse(line) as Record<string, unknown>;
          const time = typeof event['time'] === 'string' ? event['time'].slice(11, 19) : '';
          const level = LEVELS[Number(event['level'])] ?? 'info';
          const fields = Object.entries(event)
            .filter(([k, v]) => !SKIP.has(k) && v !== undefined && v !== null)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
          writeSync(
            1,
            `${time} ${level.padEnd(5)} ${typeof event['msg'] === 'string' ? event['msg'] : ''} ${fields.join(' ')}`.trimEnd() +
              '\n',
          );
        } catch {
          writeSync(1, `${line}\n`);
        }
      }
      callback();
    },
  });
}
