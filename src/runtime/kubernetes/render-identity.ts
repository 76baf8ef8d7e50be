/**
 * The age identity of encrypted backups on Kubernetes: a Secret mounted read-only into the
 * restore init containers only (the agent that takes backups needs just the public keys, which
 * are in the spec). Nothing when the spec has no `backup.encryption`.
 */
import type { Spec } from '../../config/spec.js';
import { IDENTITY_FILE_ENV } from '../../config/backup-key-env.js';

const MOUNT = '/etc/etcd-steward/age';

/** The Secret holding the identity (key `identity`): kubernetes.backup.identitySecret, else NAME-backup-identity. */
export function identitySecretName(spec: Spec): string {
  return spec.kubernetes?.backup?.identitySecret ?? `${spec.name}-backup-identity`;
}

/** The volume, mount and env var a restoring container needs, or empty lists without encryption. */
export function restoreIdentityParts(spec: Spec): {
  volumes: Record<string, unknown>[];
  mounts: Record<string, unknown>[];
  env: { name: string; value: string }[];
} {
  if (!spec.backup?.encryption || spec.backup.encryption.passphraseFile !== undefined)
    return { volumes: [], mounts: [], env: [] };
  return {
    volumes: [
      {
        name: 'backup-identity',
        secret: {
          secretName: identitySecretName(spec),
          defaultMode: 0o440,
          items: [{ key: 'identity', path: 'identity' }],
        },
      },
    ],
    mounts: [{ name: 'backup-identity', mountPath: MOUNT, readOnly: true }],
    env: [{ name: IDENTITY_FILE_ENV, value: `${MOUNT}/identity` }],
  };
}
