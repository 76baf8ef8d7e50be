/**
 * etcd's own `etcdutl check v2store` (3.5.32+ reads the v2 snapshot and the WAL records after it)
 * on a member's data, as etcd's 3.5 → 3.6 guide asks. etcdutl wants a data dir no etcd uses, and
 * we never write into the cluster: it runs on a copy of the member's raft snapshots and WAL in a
 * temp folder (the bolt database is not needed), removed afterwards.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface V2storeCheck {
  readonly ok: boolean;
  /** etcdutl's own words (or why it could not run). */
  readonly detail: string;
}

/** Runs `etcdutl check v2store` on a copy of `memberDataDir`'s member/snap/*.snap and member/wal. */
export async function checkV2store(etcdutl: string, memberDataDir: string): Promise<V2storeCheck> {
  const copy = await mkdtemp(path.join(os.tmpdir(), 'steward-v2store-'));
  try {
    for (const sub of ['snap', 'wal']) {
      const from = path.join(memberDataDir, 'member', sub);
      const to = path.join(copy, 'member', sub);
      await mkdir(to, { recursive: true });
      for (const name of await readdir(from)) {
        if (sub === 'snap' && !name.endsWith('.snap')) continue;
        if (sub === 'wal' && !name.endsWith('.wal')) continue;
        await copyFile(path.join(from, name), path.join(to, name));
      }
    }
    const { stdout, stderr } = await run(etcdutl, ['check', 'v2store', '--data-dir', copy], {
      timeout: 120_000,
    });
    return { ok: true, detail: (stdout + stderr).trim().split('\n').at(-1) ?? 'no custom content' };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    const said = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-2).join(' ');
    return { ok: false, detail: said || e.message };
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}
