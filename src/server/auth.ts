/**
 * The API token: needed on mutating routes when the agent listens on a non-loopback address.
 * It comes from the environment variable `monitoring.tokenEnv` or the file `monitoring.tokenFile`,
 * never from the spec itself, and is never logged or echoed.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { InputError } from '../errors.js';

/** Host and port of a `HOST:PORT` listen address (IPv6 in brackets). */
export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(\[([0-9a-fA-F:.]+)\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new InputError(`'${listen}' is not a listen address`, {
      hint: 'write HOST:PORT, e.g. 127.0.0.1:9779, 0.0.0.0:9779 or [::1]:9779',
    });
  }
  return { host: match[2] ?? (match[1] as string), port };
}

/** Whether only this machine can reach `host` (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** The token from the file (first line) or the environment variable; undefined when neither has one. */
export async function readToken(
  monitoring: { tokenEnv: string; tokenFile?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  if (monitoring.tokenFile !== undefined) {
    let text: string;
    try {
      text = await readFile(monitoring.tokenFile, 'utf8');
    } catch (error) {
      throw new InputError(
        `monitoring.tokenFile ${monitoring.tokenFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        {
          hint: 'create the file with the token on its first line, or remove tokenFile and set the environment variable',
        },
      );
    }
    const token = text.split('\n')[0]?.trim();
    if (!token) throw new InputError(`monitoring.tokenFile ${monitoring.tokenFile} is empty`);
    return token;
  }
  const token = env[monitoring.tokenEnv]?.trim();
  return token ? token : undefined;
}

/** The error when the agent would listen beyond loopback without a token. */
export function missingTokenError(listen: string, tokenEnv: string): InputError {
  return new InputError(
    `the agent would listen on ${listen}, beyond loopback, without an API token: anyone who reaches it could start backups and defrags`,
    {
      hint: `set ${tokenEnv} (e.g. export ${tokenEnv}=$(openssl rand -hex 24)) or monitoring.tokenFile, or listen on 127.0.0.1`,
    },
  );
}

/** Compares a request's `Authorization: Bearer …` with the token in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer\s+(.+)$/i.exec(header ?? '')?.[1]?.trim();
  if (!given) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}
