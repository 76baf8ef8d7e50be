/**
 * etcd keys and values are bytes, not text. How `snapshot inspect` and `snapshot diff` show them:
 *
 * - JSON: a string plus its encoding, always both fields. `"utf8"` when the bytes are valid
 *   UTF-8 (JSON escapes any control characters), else `"base64"` (standard alphabet, padded).
 *   So `{"key": "__table_name/greptime/public/t1", "keyEncoding": "utf8"}` and
 *   `{"value": "/wQAAAAAAAA=", "valueEncoding": "base64"}`.
 * - Tables (for people): printable text as it is; anything else (not UTF-8, or control
 *   characters other than tab — and newline in values) as `(base64) …`.
 */
import { isUtf8 } from 'node:buffer';

export type BytesEncoding = 'utf8' | 'base64';

/** Bytes as a JSON-safe string and the encoding it is in (see the module comment). */
export function encodeBytes(bytes: Buffer): { text: string; encoding: BytesEncoding } {
  return isUtf8(bytes)
    ? { text: bytes.toString('utf8'), encoding: 'utf8' }
    : { text: bytes.toString('base64'), encoding: 'base64' };
}

/** Whether `text` has a control character: C0 but tab (and newline when `newlines`), DEL, C1. */
function hasControl(text: string, newlines: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x09 || (newlines && c === 0x0a)) continue;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/**
 * Bytes for a terminal: the text when it is printable UTF-8, else `(base64) …`. With `multiline`
 * (values) newlines are allowed and each following line is indented by `indent`.
 */
export function displayBytes(bytes: Buffer, options: { multiline?: boolean; indent?: string } = {}): string {
  if (isUtf8(bytes)) {
    const text = bytes.toString('utf8');
    if (!hasControl(text, options.multiline === true))
      return options.multiline ? text.replaceAll('\n', `\n${options.indent ?? ''}`) : text;
  }
  return `(base64) ${bytes.toString('base64')}`;
}
