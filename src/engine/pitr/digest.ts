/**
 * The check of a point-in-time restore: the keyspace the log says the cluster had at the target
 * (the base snapshot's live keys with the log's changes applied) against what the replay
 * produced. Both are summarised the same way: key count and a SHA-256 over every live key in
 * key order with its mod revision and the SHA-256 of its value — so revisions are checked too,
 * and memory holds one small entry per key the log touched, never the values.
 */
import { createHash, type Hash } from 'node:crypto';
import { openSnapshot } from '../../snapshot/index.js';
import type { LoggedRevision } from './segment.js';

export interface PitrDigest {
  readonly keyCount: number;
  readonly sha256: string;
}

class Builder {
  keyCount = 0;
  private readonly hash: Hash = createHash('sha256');
  add(key: Buffer, modRevision: number, valueSha: Buffer): void {
    const head = Buffer.alloc(12);
    head.writeUInt32BE(key.length, 0);
    head.writeBigUInt64BE(BigInt(modRevision), 4);
    this.hash.update(head).update(key).update(valueSha);
    this.keyCount += 1;
  }
  digest(): PitrDigest {
    return { keyCount: this.keyCount, sha256: this.hash.digest('hex') };
  }
}

const sha = (value: Buffer) => createHash('sha256').update(value).digest();

/** The net effect of replayed revisions: per key its last mod revision and value hash, or deleted. */
export class NetChanges {
  private readonly keys = new Map<string, { mod: number; valueSha: Buffer } | null>();
  apply(revision: LoggedRevision): void {
    for (const e of revision.e) {
      if ('d' in e) this.keys.set(e.k, null);
      else this.keys.set(e.k, { mod: revision.r, valueSha: sha(Buffer.from(e.v, 'base64')) });
    }
  }
  /** Keys in byte order. */
  sorted(): { key: Buffer; entry: { mod: number; valueSha: Buffer } | null }[] {
    return [...this.keys.entries()]
      .map(([k, entry]) => ({ key: Buffer.from(k, 'base64'), entry }))
      .sort((a, b) => Buffer.compare(a.key, b.key));
  }
}

/** The digest of a snapshot file's live keys. */
export async function snapshotDigest(file: string): Promise<PitrDigest> {
  const snapshot = await openSnapshot(file);
  try {
    const b = new Builder();
    for await (const kv of snapshot.keyValues()) b.add(kv.key, kv.modRevision, sha(kv.value));
    return b.digest();
  } finally {
    await snapshot.close();
  }
}

/** The digest the log expects: `baseFile`'s live keys with `changes` applied, merged in key order. */
export async function expectedDigest(baseFile: string, changes: NetChanges): Promise<PitrDigest> {
  const changed = changes.sorted();
  const snapshot = await openSnapshot(baseFile);
  try {
    const b = new Builder();
    let i = 0;
    const emitChangedBefore = (key: Buffer | undefined) => {
      for (; i < changed.length; i += 1) {
        const c = changed[i] as (typeof changed)[number];
        if (key && Buffer.compare(c.key, key) >= 0) return;
        if (c.entry) b.add(c.key, c.entry.mod, c.entry.valueSha);
      }
    };
    for await (const kv of snapshot.keyValues()) {
      emitChangedBefore(kv.key);
      const c = changed[i];
      if (c && Buffer.compare(c.key, kv.key) === 0) {
        if (c.entry) b.add(c.key, c.entry.mod, c.entry.valueSha);
        i += 1;
      } else b.add(kv.key, kv.modRevision, sha(kv.value));
    }
    emitChangedBefore(undefined);
    return b.digest();
  } finally {
    await snapshot.close();
  }
}
