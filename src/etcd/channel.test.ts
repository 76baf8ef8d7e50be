// The one unary call path against a real etcd: a simple token that expired (--auth-token-ttl=1)
// is replaced by a fresh one from the same member and the call goes through; a wrong password is
// not retried; a member that stops answering gives a typed timeout error naming the member.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { Cleanup } from '../testing/harness.js';
import { startSingleMember } from '../testing/single-member.js';
import { MemberAuthError, MemberTimeoutError } from './errors.js';
import { MemberClient } from './member-client.js';
import { channelCredentials, etcdServices } from './proto.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

const PASSWORD = 'ttl-Pa55word';
const timeouts = { dialTimeoutMs: 2000, commandTimeoutMs: 3000 };

/** A raw KV.Range with a given token, bypassing our call path: what etcd says to that token. */
function rangeWithToken(address: string, token: string): Promise<ServiceError | null> {
  const client = new (etcdServices().KV)(
    address,
    channelCredentials({ display: address, address, secure: false }, timeouts),
    {},
  );
  const metadata = new Metadata();
  metadata.set('token', token);
  const range = (client as unknown as Record<string, (...a: unknown[]) => void>)['range'] as (
    ...a: unknown[]
  ) => void;
  return new Promise((resolve) =>
    range.call(
      client,
      { key: Buffer.from('/x') },
      metadata,
      { deadline: Date.now() + 5000 },
      (error: ServiceError | null) => {
        client.close();
        resolve(error);
      },
    ),
  );
}

function authenticate(address: string): Promise<string> {
  const client = new (etcdServices().Auth)(
    address,
    channelCredentials({ display: address, address, secure: false }, timeouts),
    {},
  );
  const call = (client as unknown as Record<string, (...a: unknown[]) => void>)['authenticate'] as (
    ...a: unknown[]
  ) => void;
  return new Promise((resolve, reject) =>
    call.call(
      client,
      { name: 'root', password: PASSWORD },
      new Metadata(),
      { deadline: Date.now() + 5000 },
      (error: Error | null, r: { token: string }) => {
        client.close();
        if (error) reject(error);
        else resolve(r.token);
      },
    ),
  );
}

describe('the unary call path', { concurrency: true }, () => {
  it('an expired auth token is refreshed on the same member, once, and the calls go through', async () => {
    const member = await startSingleMember(cleanup, '3.6', ['--auth-token=simple', '--auth-token-ttl=1']);
    const admin = new MemberClient(member.endpoint, timeouts);
    await admin.enableAuthWithRoot(PASSWORD);
    admin.close();

    const client = new MemberClient(member.endpoint, { ...timeouts, user: 'root', password: PASSWORD });
    cleanup.add(() => Promise.resolve(client.close()));
    await client.put('/before', 'one');
    const token = await authenticate(member.endpoint.address);
    assert.equal(await rangeWithToken(member.endpoint.address, token), null, 'a fresh token works');

    await sleep(2500); // both tokens idle longer than --auth-token-ttl
    const stale = await rangeWithToken(member.endpoint.address, token);
    assert.match(stale?.details ?? 'accepted', /invalid auth token/, 'etcd has dropped idle tokens');

    // Many calls hit the stale token at once; each goes through.
    const writes = await Promise.all(
      Array.from({ length: 5 }, (_, i) => client.put(`/after/${i}`, String(i))),
    );
    assert.equal(writes.length, 5);
    assert.equal((await client.get('/after/', { prefix: true })).length, 5);
    assert.equal((await client.get('/before'))[0]?.value.toString(), 'one');

    // A stream opened after the token expired gets a fresh one too; then a maintenance call.
    await sleep(2500);
    const snapshot = await client.snapshot();
    let bytes = 0;
    for await (const chunk of snapshot.bytes) bytes += (chunk as Buffer).length;
    assert.ok(bytes > 0 && bytes % 512 === 32, `a whole snapshot (${bytes} bytes)`);
    await sleep(2500);
    const { revision } = await client.put('/watched', 'before');
    await sleep(2500);
    const seen = await new Promise<string>((resolve, reject) => {
      const watch = client.watchAll(revision, {
        onResponse: (r) => {
          const event = r.events[0];
          if (!event) return;
          resolve(`${event.key.toString()}=${event.value.toString()}`);
          watch.cancel();
        },
        onEnd: (error) => reject(error ?? new Error('the watch ended')),
      });
    });
    assert.equal(seen, '/watched=before', 'a watch opened after the token expired');
    assert.match((await client.status()).memberId, /^[0-9a-f]+$/);

    // A wrong password is an auth error, not a retry loop.
    const wrong = new MemberClient(member.endpoint, { ...timeouts, user: 'root', password: 'wrong' });
    cleanup.add(() => Promise.resolve(wrong.close()));
    await assert.rejects(wrong.put('/x', 'y'), (error: unknown) => {
      assert.ok(error instanceof MemberAuthError, String(error));
      assert.match(error.message, /authentication failed/);
      return true;
    });
  });

  it('a member that stops answering gives a typed timeout error naming the member and the call', async () => {
    const member = await startSingleMember(cleanup, '3.6');
    const client = new MemberClient(member.endpoint, { dialTimeoutMs: 200, commandTimeoutMs: 300 });
    cleanup.add(() => Promise.resolve(client.close()));
    await client.status(); // connected
    process.kill(member.pid, 'SIGSTOP');
    try {
      const started = Date.now();
      await assert.rejects(client.status(), (error: unknown) => {
        assert.ok(error instanceof MemberTimeoutError, String(error));
        assert.equal(error.endpoint, member.endpoint.display);
        assert.match(
          error.message,
          new RegExp(`^${member.endpoint.display}: Status failed: no answer within 500 ms`),
        );
        assert.match(error.hint ?? '', /--command-timeout/);
        return true;
      });
      assert.ok(Date.now() - started < 3000, 'the deadline holds');
      await assert.rejects(client.defragment(250), (error: unknown) => {
        assert.ok(error instanceof MemberTimeoutError, String(error));
        assert.match(error.message, /Defragment failed: no answer within 250 ms/);
        return true;
      });
    } finally {
      process.kill(member.pid, 'SIGCONT');
    }
    await client.status(); // and the same client works again once the member answers
  });
});
