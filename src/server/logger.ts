/** The agent's structured log: JSON lines (pino), one object per event; never a secret in it. */
import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * A logger writing JSON lines to `destination`; by default straight to stdout's file descriptor
 * with synchronous writes, so the last lines before an exit are never lost.
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
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
    options.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
