// The generated message tables are current with proto/etcd-v3.proto, and the codec writes and
// reads etcd's messages the way @grpc/proto-loader did (names, 64-bit strings, enums by name,
// defaults, oneofs), including values past 2^53 and malformed input.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeMessage, encodeMessage, resolveMethod } from './wire-codec.js';

const ROOT = new URL('../../', import.meta.url);

describe('the etcd API codec', () => {
  it('the generated tables are current with proto/etcd-v3.proto', async () => {
    const generator = new URL('scripts/gen-etcd-api.mjs', ROOT).href;
    const { generate } = (await import(generator)) as { generate: (text: string) => string };
    const proto = readFileSync(fileURLToPath(new URL('proto/etcd-v3.proto', ROOT)), 'utf8');
    const committed = readFileSync(fileURLToPath(new URL('src/etcd/etcd-api.generated.ts', ROOT)), 'utf8');
    assert.equal(committed, generate(proto), 'run node scripts/gen-etcd-api.mjs and commit the result');
  });

  it('round-trips a transaction with nested messages, oneofs, enums and big ids', () => {
    const request = {
      compare: [{ result: 'EQUAL', target: 'CREATE', key: Buffer.from('/k'), createRevision: 0 }],
      success: [
        { requestPut: { key: Buffer.from('/k'), value: Buffer.from('v'), lease: '9223372036854775807' } },
      ],
      failure: [],
    };
    const decoded = decodeMessage<{
      compare: Record<string, unknown>[];
      success: { requestPut: Record<string, unknown>; requestRange?: unknown }[];
    }>('TxnRequest', encodeMessage('TxnRequest', request));
    const compare = decoded.compare[0] as Record<string, unknown>;
    assert.equal(compare['target'], 'CREATE');
    assert.equal(compare['result'], 'EQUAL');
    assert.equal(compare['createRevision'], '0', 'a oneof member set to 0 is still sent');
    assert.equal('modRevision' in compare, false, 'unset oneof members stay absent');
    const put = decoded.success[0]?.requestPut as Record<string, unknown>;
    assert.equal(put['lease'], '9223372036854775807');
    assert.deepEqual(put['value'], Buffer.from('v'));
    assert.equal(put['prevKv'] ?? false, false);
    assert.equal(decoded.success[0]?.requestRange, undefined);
  });

  it('fills defaults and keeps unsigned 64-bit ids exact', () => {
    const status = decodeMessage<Record<string, unknown>>(
      'StatusResponse',
      encodeMessage('StatusResponse', {
        header: { clusterId: '18446744073709551615', memberId: 1 },
        version: '3.6.16',
        dbSize: 4096,
        errors: ['a', 'b'],
      }),
    );
    assert.deepEqual(status['header'], {
      clusterId: '18446744073709551615',
      memberId: '1',
      revision: '0',
      raftTerm: '0',
    });
    assert.equal(status['dbSize'], '4096');
    assert.equal(status['isLearner'], false);
    assert.equal(status['storageVersion'], '');
    assert.deepEqual(status['errors'], ['a', 'b']);
    const empty = decodeMessage<Record<string, unknown>>('MemberAddResponse', Buffer.alloc(0));
    assert.equal(empty['member'], null, 'an absent message is null');
    assert.deepEqual(empty['members'], []);
    const negative = decodeMessage<Record<string, unknown>>(
      'LeaseGrantRequest',
      encodeMessage('LeaseGrantRequest', { TTL: -1, ID: '-5' }),
    );
    assert.equal(negative['TTL'], '-1');
    assert.equal(negative['ID'], '-5');
  });

  it('refuses malformed messages and unknown methods, skips unknown fields', () => {
    assert.throws(() => decodeMessage('StatusResponse', Buffer.from([0x12, 0x05, 0x61])), /past the end/);
    assert.throws(() => decodeMessage('StatusResponse', Buffer.from([0x10, 0x01])), /wire type/);
    // field 99 (varint) is unknown: skipped
    const skipped = decodeMessage<Record<string, unknown>>(
      'AuthStatusResponse',
      Buffer.from([0x98, 0x06, 0x01, 0x10, 0x01]),
    );
    assert.equal(skipped['enabled'], true);
    assert.throws(() => resolveMethod('KV', 'nope'), /no method nope/);
    assert.equal(resolveMethod('Maintenance', 'hashKV').path, '/etcdserverpb.Maintenance/HashKV');
    assert.equal(resolveMethod('KV', 'deleteRange').path, '/etcdserverpb.KV/DeleteRange');
    assert.throws(() => encodeMessage('AlarmRequest', { action: 'EXPLODE' }), /not a AlarmAction/);
  });
});
