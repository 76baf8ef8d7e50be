/**
 * The keys of encrypted backups, for the commands and the agent: recipients for new backups from the spec's
 * `backup.encryption`, identities for reading from `--identity FILE`, the environment or the spec.
 */
import type { Spec } from '../../config/spec.js';
import {
  loadDecryptionKeys,
  loadEncryption,
  PASSPHRASE_ENV,
  type DecryptionKeys,
  type EncryptionSettings,
} from './encryption.js';
import { InputError } from '../../errors.js';

/** How new backups are encrypted, or undefined when the spec has no `backup.encryption`. */
export async function encryptionFor(
  spec: Spec | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<EncryptionSettings | undefined> {
  const config = spec?.backup?.encryption;
  if (!config) return undefined;
  const settings = await loadEncryption({
    recipients: config.recipients,
    passphraseFile: config.passphraseFile,
    env,
  });
  if (!settings) {
    throw new InputError('backup.encryption has no recipients and no passphrase', {
      hint: `add recipients (age1… public keys) or passphraseFile, or set ${PASSPHRASE_ENV}; backups are never written unencrypted when encryption is asked for`,
    });
  }
  return settings;
}

/** The identities that can read encrypted backups (`--identity FILE` first), or undefined. */
export async function keysFor(
  options: { readonly identity?: string | undefined },
  spec: Spec | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DecryptionKeys | undefined> {
  const config = spec?.backup?.encryption;
  return loadDecryptionKeys({
    identityFlag: options.identity,
    identityFile: config?.identityFile,
    passphraseFile: config?.passphraseFile,
    env,
  });
}
