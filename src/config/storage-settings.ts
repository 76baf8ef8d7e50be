/** S3 settings for the storage layer, with secrets read from the environment variables the spec names. */
import type { S3Settings } from '../storage/storage.js';
import type { Spec } from './spec.js';

/** The spec's backup.s3 block resolved into settings; keys come only from the environment. */
export function s3SettingsFrom(spec: Spec | undefined, env: NodeJS.ProcessEnv = process.env): S3Settings {
  const s3 = spec?.backup?.s3;
  if (!s3) return {};
  const fromEnv = (name: string | undefined) => (name ? env[name] : undefined);
  return {
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    accessKeyId: fromEnv(s3.accessKeyIdEnv),
    secretAccessKey: fromEnv(s3.secretAccessKeyEnv),
    sessionToken: fromEnv(s3.sessionTokenEnv),
    profile: s3.profile,
    credentialsFile: s3.credentialsFile,
    serverSideEncryption: s3.serverSideEncryption,
    kmsKeyId: s3.kmsKeyId,
  };
}
