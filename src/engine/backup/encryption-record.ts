/**
 * What a manifest records of an encrypted object: public facts only (the recipients' public keys,
 * the plaintext's SHA-256), never a secret. Kept free of Node imports: the dashboard's types use it.
 */
import { z } from 'zod';

export const encryptionRecord = z.object({
  scheme: z.literal('age'),
  /** The recipients' public keys (`age1…`); empty for a passphrase. */
  recipients: z.array(z.string()),
  passphrase: z.boolean(),
  /** SHA-256 (hex) of the plaintext: the snapshot (or segment lines) before compression and encryption. */
  plaintextSha256: z.string(),
});
export type EncryptionRecord = z.infer<typeof encryptionRecord>;

/** Environment variables: an identity file's path, an identity itself, a passphrase. */
export { IDENTITY_FILE_ENV, IDENTITY_ENV, PASSPHRASE_ENV } from '../../config/backup-key-env.js';
