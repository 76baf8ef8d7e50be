/**
 * Backups nobody else can read: age encryption (age-encryption.org/v1, through the
 * `age-encryption` package by age's author) of snapshots and change-log segments, in the stream.
 * New backups are encrypted to the spec's recipients (X25519 public keys, `age1…`) or to one
 * passphrase; reading one needs a matching identity (`AGE-SECRET-KEY-1…`) or that passphrase.
 * Only public keys ever reach a manifest, a log or an error; identities and passphrases never do.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Duplex, Readable } from 'node:stream';
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { InputError, StewardError } from '../../errors.js';

import type { EncryptionRecord } from './encryption-record.js';
export { encryptionRecord, type EncryptionRecord } from './encryption-record.js';

/** How new backups are encrypted. */
export interface EncryptionSettings {
  readonly recipients: readonly string[];
  /** A passphrase instead of recipients (small setups); never logged. */
  readonly passphrase?: string | undefined;
}

/** What can decrypt: identities and passphrases, and where they came from (for messages; never the secret). */
export interface DecryptionKeys {
  readonly identities: readonly string[];
  readonly passphrases: readonly string[];
  /** e.g. `--identity /etc/steward/age.key`, never the key itself. */
  readonly source: string;
}

/** Where `loadEncryption`/`loadDecryptionKeys` look: the spec's fields, flags and environment. */
export interface KeySources {
  readonly recipients?: readonly string[] | undefined;
  readonly passphraseFile?: string | undefined;
  readonly identityFile?: string | undefined;
  /** `--identity FILE`: wins over the environment and the spec. */
  readonly identityFlag?: string | undefined;
  readonly env?: NodeJS.ProcessEnv | undefined;
}

import { IDENTITY_ENV, IDENTITY_FILE_ENV, PASSPHRASE_ENV } from './encryption-record.js';
export { IDENTITY_ENV, IDENTITY_FILE_ENV, PASSPHRASE_ENV } from './encryption-record.js';

/** A scrypt work factor that keeps a passphrase-encrypted segment per second affordable (~32 MiB, ~0.1 s). */
const SCRYPT_LOG_N = 15;

/** A backup (or segment) that cannot be decrypted with the keys given; nothing was created. */
export class DecryptionError extends StewardError {}

/** The identities given match none of the object's recipients (the object itself may be fine). */
export class WrongIdentityError extends DecryptionError {}

/** Reads a file's secret, trimming the newline editors add; the message names the file, never its content. */
async function readSecretFile(file: string, what: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (error) {
    throw new InputError(
      `cannot read the ${what} file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      {
        hint: `check the path and its permissions (it should be readable only by the user running etcd-steward)`,
        cause: error,
      },
    );
  }
}

/** The `AGE-SECRET-KEY-…` lines of an age identity file (comments and blank lines skipped). */
export function parseIdentities(text: string, source: string): string[] {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'));
  const bad = lines.findIndex((line) => !/^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/.test(line));
  if (lines.length === 0 || bad >= 0) {
    throw new InputError(
      `${source} is not an age identity file${bad >= 0 ? ` (line ${bad + 1} is not an AGE-SECRET-KEY-1… key)` : ' (no key in it)'}`,
      {
        hint: 'create one with `age-keygen -o key.txt` (or `etcd-steward backup keygen`); its public key goes into backup.encryption.recipients',
      },
    );
  }
  return lines;
}

/** The settings for new backups from the spec's `backup.encryption`, or undefined when it has none. */
export async function loadEncryption(sources: KeySources): Promise<EncryptionSettings | undefined> {
  const env = sources.env ?? process.env;
  const recipients = [...(sources.recipients ?? [])];
  let passphrase: string | undefined;
  if (sources.passphraseFile !== undefined)
    passphrase = await readSecretFile(sources.passphraseFile, 'passphrase');
  else if (recipients.length === 0 && env[PASSPHRASE_ENV]) passphrase = env[PASSPHRASE_ENV];
  if (recipients.length === 0 && passphrase === undefined) return undefined;
  for (const recipient of recipients) {
    try {
      new Encrypter().addRecipient(recipient);
    } catch {
      throw new InputError(`backup.encryption.recipients: '${recipient}' is not an age public key`, {
        hint: 'a recipient looks like age1… (the "public key" line of `age-keygen`); never put the secret key in the spec',
      });
    }
  }
  return { recipients, passphrase };
}

/**
 * The identities (and passphrases) that can read backups: `--identity FILE`, else
 * ETCD_STEWARD_AGE_IDENTITY_FILE / ETCD_STEWARD_AGE_IDENTITY, else the spec's `identityFile`;
 * plus the passphrase (spec `passphraseFile` or ETCD_STEWARD_BACKUP_PASSPHRASE). Undefined when none is given.
 */
export async function loadDecryptionKeys(sources: KeySources): Promise<DecryptionKeys | undefined> {
  const env = sources.env ?? process.env;
  let identities: string[] = [];
  let source = '';
  const file = sources.identityFlag ?? env[IDENTITY_FILE_ENV] ?? undefined;
  if (file) {
    source = sources.identityFlag ? `--identity ${file}` : `${IDENTITY_FILE_ENV}=${file}`;
    identities = parseIdentities(await readSecretFile(file, 'identity'), source);
  } else if (env[IDENTITY_ENV]) {
    source = IDENTITY_ENV;
    identities = parseIdentities(env[IDENTITY_ENV], source);
  } else if (sources.identityFile) {
    // The spec's file exists only where restores run (a Secret mounted there): absent elsewhere.
    const text = await readFile(sources.identityFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw new InputError(
        `cannot read the identity file ${sources.identityFile}: ${error.code ?? 'error'}`,
        {
          hint: 'check its permissions (readable only by the user running etcd-steward)',
          cause: error,
        },
      );
    });
    if (text !== undefined) {
      source = `backup.encryption.identityFile ${sources.identityFile}`;
      identities = parseIdentities(text, source);
    }
  }
  const passphrases: string[] = [];
  if (sources.passphraseFile) passphrases.push(await readSecretFile(sources.passphraseFile, 'passphrase'));
  else if (env[PASSPHRASE_ENV]) passphrases.push(env[PASSPHRASE_ENV]);
  if (identities.length === 0 && passphrases.length === 0) return undefined;
  if (passphrases.length > 0) source = source ? `${source} and the passphrase` : 'the passphrase';
  return { identities, passphrases, source };
}

/**
 * Writes a new X25519 identity to `file` (mode 0600, in age's identity file format; an existing
 * file is never overwritten) and returns its public key.
 */
export async function generateIdentityFile(file: string, now: Date = new Date()): Promise<string> {
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  try {
    await writeFile(file, `# created: ${now.toISOString()}\n# public key: ${recipient}\n${identity}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
  } catch (error) {
    throw new InputError(`cannot create ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, {
      hint: 'name a new file (an existing key is never overwritten)',
      cause: error,
    });
  }
  return recipient;
}

/** The public keys of `identities`, as they appear among a backup's recipients. */
export async function recipientsOf(keys: DecryptionKeys): Promise<string[]> {
  return Promise.all(keys.identities.map((identity) => identityToRecipient(identity)));
}

function encrypter(settings: EncryptionSettings): Encrypter {
  const encrypter = new Encrypter();
  if (settings.passphrase !== undefined) {
    encrypter.setScryptWorkFactor(SCRYPT_LOG_N);
    encrypter.setPassphrase(settings.passphrase);
  } else for (const recipient of settings.recipients) encrypter.addRecipient(recipient);
  return encrypter;
}

/** A duplex stream that encrypts what is written to it (age's 64 KiB STREAM chunks, authenticated). */
export async function encryptingStream(settings: EncryptionSettings): Promise<Duplex> {
  const input = new TransformStream<Uint8Array, Uint8Array>();
  const output = await encrypter(settings).encrypt(input.readable);
  return Duplex.fromWeb({ readable: output, writable: input.writable });
}

/** `data` encrypted whole (change-log segments, which are small). */
export async function encryptBuffer(settings: EncryptionSettings, data: Uint8Array): Promise<Buffer> {
  return Buffer.from(await encrypter(settings).encrypt(data));
}

/** The record a manifest keeps for an object encrypted with `settings`. */
export function recordFor(settings: EncryptionSettings, plaintextSha256: string): EncryptionRecord {
  return {
    scheme: 'age',
    recipients: settings.passphrase !== undefined ? [] : [...settings.recipients],
    passphrase: settings.passphrase !== undefined,
    plaintextSha256,
  };
}

/** The recipients of an encrypted object, for messages: the public keys, or "its passphrase". */
export function describeRecipients(record: EncryptionRecord): string {
  return record.passphrase ? 'its passphrase' : `an identity of ${record.recipients.join(', ')}`;
}

function decrypter(keys: DecryptionKeys): Decrypter {
  const decrypter = new Decrypter();
  for (const identity of keys.identities) decrypter.addIdentity(identity);
  for (const passphrase of keys.passphrases) decrypter.addPassphrase(passphrase);
  return decrypter;
}

/** The error when there is no identity at all for an encrypted `what`. */
export function missingIdentityError(what: string, record: EncryptionRecord): DecryptionError {
  return new WrongIdentityError(
    `${what} is encrypted and no identity was given: it needs ${describeRecipients(record)}`,
    {
      hint: record.passphrase
        ? `set ${PASSPHRASE_ENV} or backup.encryption.passphraseFile; nothing was changed`
        : `give the matching secret key with --identity FILE, ${IDENTITY_FILE_ENV}, or backup.encryption.identityFile; nothing was changed`,
    },
  );
}

/**
 * Turns an error of age's into one that says what to do: no matching identity names the
 * recipients that would work; an authentication failure or a cut header means the object is
 * damaged (truncated or changed). Other errors pass through.
 */
export function explainDecryptError(
  error: unknown,
  what: string,
  record: EncryptionRecord,
  keys: DecryptionKeys,
): unknown {
  if (error instanceof StewardError || !(error instanceof Error) || error.name === 'AbortError') return error;
  // Node's own errors (a socket reset, a full disk, zlib) carry a code; age's never do.
  if (typeof (error as NodeJS.ErrnoException).code === 'string') return error;
  const message = error.message;
  if (/no identity matched|incorrect passphrase|scrypt/i.test(message)) {
    return new WrongIdentityError(
      `${what} cannot be decrypted with ${keys.source}: it was encrypted to ${describeRecipients(record)}`,
      {
        hint: `give an identity of one of those recipients (--identity FILE); nothing was changed`,
        cause: error,
      },
    );
  }
  return new DecryptionError(
    `${what} is damaged: age refused the encrypted bytes (${message}); it was truncated or changed after it was written`,
    { hint: 'use another backup (`etcd-steward backup list`); nothing was changed', cause: error },
  );
}

/** `source` decrypted; rejects (explained) when the header names none of `keys`. Stream errors are age's own: explain them with `explainDecryptError`. */
export async function decryptingStream(
  source: Readable,
  keys: DecryptionKeys | undefined,
  what: string,
  record: EncryptionRecord,
): Promise<Readable> {
  if (!keys) throw missingIdentityError(what, record);
  try {
    const web = Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>;
    return Readable.fromWeb((await decrypter(keys).decrypt(web)) as import('node:stream/web').ReadableStream);
  } catch (error) {
    source.destroy();
    throw explainDecryptError(error, what, record, keys);
  }
}

/** `data` decrypted whole (change-log segments). */
export async function decryptBuffer(
  data: Uint8Array,
  keys: DecryptionKeys | undefined,
  what: string,
  record: EncryptionRecord,
): Promise<Buffer> {
  if (!keys) throw missingIdentityError(what, record);
  try {
    return Buffer.from(await decrypter(keys).decrypt(data));
  } catch (error) {
    throw explainDecryptError(error, what, record, keys);
  }
}
