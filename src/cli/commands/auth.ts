/**
 * `etcd-steward auth enable`: root with the spec's password, authentication on, proven by
 * authenticating as root. Idempotent: on a cluster whose auth is on it only checks the password.
 */
import { specPassword } from '../../config/connection.js';
import { parseDuration } from '../../config/units.js';
import { bootstrapAuth } from '../../engine/auth-bootstrap.js';
import { InputError } from '../../errors.js';
import { clusterTarget, connectionFor, type GlobalOptions } from '../context.js';
import { printJson, progress } from '../output.js';

export interface AuthEnableOptions extends GlobalOptions {
  readonly wait?: string;
}

export async function authEnableCommand(options: AuthEnableOptions): Promise<number> {
  const { spec, endpoints, runtime } = await clusterTarget(options);
  const auth = spec?.auth;
  if (!auth) {
    throw new InputError(
      'auth enable needs the spec’s auth section: it holds where root’s password comes from',
      {
        hint: 'add auth: { user: root, passwordEnv: ETCD_ROOT_PASSWORD } to the spec and set that variable',
      },
    );
  }
  if (auth.user !== 'root') {
    throw new InputError(`auth.user is '${auth.user}': auth enable sets up root only`, {
      hint: 'set auth.user: root; add other users with etcdctl once auth is on',
    });
  }
  const password = specPassword(auth);
  // The bootstrap connects without a user (bootstrapAuth drops one); TLS and timeouts as for any command.
  const connection = connectionFor(options, { ...spec, auth: undefined });
  const result = await bootstrapAuth({
    endpoints,
    connection,
    password,
    waitMs: options.wait === undefined ? undefined : parseDuration(options.wait),
    onProgress: (line) => progress(options.output, line),
  }).finally(() => runtime?.close());
  if (options.output === 'json') printJson(result);
  else
    process.stdout.write(
      `${result.outcome === 'enabled' ? 'authentication enabled' : 'authentication was already enabled'} (user root, via ${result.member}) at ${result.at}\n`,
    );
  return 0;
}
