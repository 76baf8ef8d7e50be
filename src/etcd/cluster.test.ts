// Membership calls against a real etcd: a learner is added (never started), listed as a learner,
// refused promotion with the typed "not in sync" error, has its peer URL updated, and is removed.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Cleanup, testLines } from '../testing/harness.js';
import { freePorts } from '../runtime/local/ports.js';
import { startSingleMember } from '../testing/single-member.js';
import { LearnerNotReadyError, MemberNotFoundError } from './errors.js';
import { MemberClient } from './member-client.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

describe('cluster membership calls', { concurrency: true }, () => {
  for (const line of testLines()) {
    it(`etcd ${line}: add a learner, list, promote refused, update, remove`, async () => {
      const member = await startSingleMember(cleanup, line);
      const client = new MemberClient(member.endpoint, { dialTimeoutMs: 2000, commandTimeoutMs: 5000 });
      cleanup.add(() => Promise.resolve(client.close()));
      const [before] = await client.memberList();
      assert.ok(before, 'the member lists itself');

      const [port, otherPort] = (await freePorts(2)) as [number, number];
      const peerUrl = `http://127.0.0.1:${port}`;
      const added = await client.memberAdd([peerUrl], true);
      assert.match(added.member.id, /^[0-9a-f]+$/, 'the id is hex, as memberList gives it');
      assert.deepEqual(added.member.peerUrls, [peerUrl]);
      assert.equal(added.member.isLearner, true);
      assert.equal(added.members.length, 2);

      const listed = await client.memberList();
      const learner = listed.find((m) => m.id === added.member.id);
      assert.ok(learner, `the learner ${added.member.id} is listed: ${JSON.stringify(listed)}`);
      assert.equal(learner.isLearner, true);
      assert.equal(learner.name, '', 'an unstarted member has no name yet');
      assert.equal(listed.find((m) => m.id === before.id)?.isLearner, false);

      await assert.rejects(client.memberPromote(added.member.id), (error: unknown) => {
        assert.ok(error instanceof LearnerNotReadyError, `typed error, got ${String(error)}`);
        assert.match(error.message, /can only promote a learner member which is in sync with leader/);
        assert.match(error.message, new RegExp(member.endpoint.display.replace(/[.]/g, '\\.')));
        return true;
      });

      const otherUrl = `http://127.0.0.1:${otherPort}`;
      const updated = await client.memberUpdate(added.member.id, [otherUrl]);
      assert.deepEqual(updated.find((m) => m.id === added.member.id)?.peerUrls, [otherUrl]);

      const after = await client.memberRemove(added.member.id);
      assert.deepEqual(
        after.map((m) => m.id),
        [before.id],
      );
      assert.deepEqual(
        (await client.memberList()).map((m) => m.id),
        [before.id],
      );
      await assert.rejects(client.memberRemove(added.member.id), MemberNotFoundError);
    });
  }
});
