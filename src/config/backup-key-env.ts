/**
 * The environment variables that hand an age identity (or a passphrase) to etcd-steward: read by
 * the engine when it decrypts, set by the Kubernetes manifests where a restore runs.
 */
/** A file holding the identity (`AGE-SECRET-KEY-1…`). */
export const IDENTITY_FILE_ENV = 'ETCD_STEWARD_AGE_IDENTITY_FILE';
/** The identity itself. */
export const IDENTITY_ENV = 'ETCD_STEWARD_AGE_IDENTITY';
/** The passphrase of passphrase-encrypted backups. */
export const PASSPHRASE_ENV = 'ETCD_STEWARD_BACKUP_PASSPHRASE';
