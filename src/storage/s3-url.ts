/**
 * Storage URLs without the AWS SDK: parsing `s3://bucket/prefix?…` (open.ts and s3.ts) and
 * redacting any storage URL for display. Loading this module costs nothing at CLI start-up.
 */
import { InputError } from '../errors.js';

/** What an `s3://` URL says, before settings and the SDK's defaults are applied. */
export interface ParsedS3Url {
  readonly bucket: string;
  /** '' or a prefix ending in '/'; keys are stored as PREFIX + key. */
  readonly prefix: string;
  readonly endpoint?: string;
  readonly region?: string;
  readonly forcePathStyle?: boolean;
  readonly profile?: string;
  readonly credentialsFile?: string;
  /** The URL for messages: bucket, prefix and the non-secret query parameters. */
  readonly displayUrl: string;
}

/** Query parameters an `s3://` URL may carry. */
export const S3_QUERY_PARAMETERS = [
  'endpoint',
  'region',
  'forcePathStyle',
  'profile',
  'credentialsFile',
] as const;

const S3_FORM = 's3://BUCKET[/PREFIX][?endpoint=URL&region=NAME&forcePathStyle=true]';

/** Parses `s3://bucket/prefix?endpoint=…&region=…&forcePathStyle=…&profile=…&credentialsFile=…`. */
export function parseS3Url(url: string): ParsedS3Url {
  const shown = redactStorageUrl(url);
  const bad = (problem: string, hint?: string) =>
    new InputError(`'${shown}' is not a valid S3 location: ${problem}`, {
      hint: hint ?? `write it as ${S3_FORM}`,
    });
  const match = /^s3:\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(#.*)?$/i.exec(url);
  if (!match) throw bad('it does not start with s3://');
  const [, authority = '', rawPath = '', rawQuery = '', fragment] = match;
  if (authority.includes('@')) {
    throw bad(
      'credentials do not belong in the URL',
      'remove them and use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a credentials file or a profile',
    );
  }
  if (fragment !== undefined) throw bad("a '#' fragment is not allowed");
  const bucket = authority;
  if (bucket === '') throw bad('the bucket is missing');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(bucket)) {
    throw bad(`'${bucket}' is not a bucket name (letters, digits, '.', '-', '_')`);
  }
  let prefix: string;
  try {
    prefix = decodeURIComponent(rawPath);
  } catch {
    throw bad('the prefix is not correctly percent-encoded');
  }
  const segments = prefix.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '.' || s === '..')) throw bad("'.' and '..' are not allowed in the prefix");
  prefix = segments.length > 0 ? `${segments.join('/')}/` : '';

  const params = new URLSearchParams(rawQuery);
  const out: {
    endpoint?: string;
    region?: string;
    forcePathStyle?: boolean;
    profile?: string;
    credentialsFile?: string;
  } = {};
  for (const [name, value] of params) {
    if (isCredentialLike(name)) {
      throw bad(
        `'${name}' looks like a credential, and credentials do not belong in the URL`,
        'use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a credentials file (credentialsFile=) or a profile (profile=)',
      );
    }
    switch (name) {
      case 'endpoint': {
        let endpoint: URL;
        try {
          endpoint = new URL(value);
        } catch {
          throw bad(
            `endpoint '${redactValue(value)}' is not a URL`,
            'write it as http://HOST:PORT or https://HOST',
          );
        }
        if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') {
          throw bad(`endpoint '${redactValue(value)}' is not http:// or https://`);
        }
        if (endpoint.username || endpoint.password) throw bad('credentials do not belong in the endpoint');
        out.endpoint = value.replace(/\/+$/, '');
        break;
      }
      case 'region':
        if (!/^[a-z0-9-]+$/i.test(value)) throw bad(`region '${value}' is not a region name`);
        out.region = value;
        break;
      case 'forcePathStyle': {
        const flag = parseFlag(value);
        if (flag === undefined) throw bad(`forcePathStyle must be true or false (got '${value}')`);
        out.forcePathStyle = flag;
        break;
      }
      case 'profile':
        if (value === '') throw bad('profile is empty');
        out.profile = value;
        break;
      case 'credentialsFile':
        if (value === '') throw bad('credentialsFile is empty');
        out.credentialsFile = value;
        break;
      default:
        throw bad(
          `unknown query parameter '${name}'`,
          `the parameters are ${S3_QUERY_PARAMETERS.join(', ')}; check the spelling`,
        );
    }
  }
  return { bucket, prefix, ...out, displayUrl: redactStorageUrl(url) };
}

/**
 * A storage URL as it may be shown: without userinfo (`user:password@`), without query
 * parameters that look like credentials (keys, secrets, tokens, passwords, signatures), and with
 * userinfo removed from parameter values that are URLs. A plain path is returned as it is.
 */
export function redactStorageUrl(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(?:\?([^#]*))?(#.*)?$/i.exec(url);
  if (!match) return url;
  const [, scheme = '', authority = '', path = '', query] = match;
  let shown = `${scheme}${authority.slice(authority.lastIndexOf('@') + 1)}${path}`;
  if (query !== undefined) {
    const kept: string[] = [];
    for (const [name, value] of new URLSearchParams(query)) {
      if (isCredentialLike(name)) continue;
      kept.push(`${encodeQueryPart(name)}=${encodeQueryPart(redactValue(value))}`);
    }
    if (kept.length > 0) shown += `?${kept.join('&')}`;
  }
  return shown;
}

/** Query parameter names that may carry a secret; the known harmless ones are let through. */
function isCredentialLike(name: string): boolean {
  if ((S3_QUERY_PARAMETERS as readonly string[]).includes(name)) return false;
  return /key|secret|token|passw|pwd|credential|signature|^sig$|auth|session/i.test(name);
}

/** A value that is a URL loses its userinfo. */
function redactValue(value: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(value);
  if (!match) return value;
  const [, scheme = '', authority = '', rest = ''] = match;
  return `${scheme}${authority.slice(authority.lastIndexOf('@') + 1)}${rest}`;
}

/** Percent-encodes only what would break the query's structure, so endpoints stay readable. */
function encodeQueryPart(text: string): string {
  return text.replace(/[%&=#+\s]/g, (c) => encodeURIComponent(c));
}

function parseFlag(value: string): boolean | undefined {
  const v = value.toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes' || v === '') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  return undefined;
}
