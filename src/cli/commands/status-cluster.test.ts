// One endpoint is not the cluster: `status --endpoints ONE` against a real 3-member cluster
// says how many of how many members were asked and never "healthy"; `--cluster` asks every
// member the member list names and is healthy; the leader is named even when it was not asked.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cleanup, runCli, tempDir, upDetached, writeSpec, type UpJson } from '../../testing/harness.js';

interface StatusJson {
  healthy: boolean;
  leaderId: string | null;
  leaderName: string | null;
  membersAsked: number;
  membersInCluster: number | null;
  unasked: { id: string; name: string | null; clientUrls: string[] }[];
  members: { endpoint: string; id: string; name: string | null; isLeader: boolean }[];
}

describe('status --endpoints ONE and --cluster', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());
  let up: UpJson;

  before(async () => {
    const dir = await tempDir(cleanup, 'status-cluster');
    up = await upDetached(cleanup, await writeSpec(dir, { name: 'meta' }));
  });

  /** An endpoint of a follower, so the leader is not among the asked. */
  function followerEndpoint(): string {
    const follower = up.status.members.find((m) => !m.isLeader);
    assert.ok(follower, 'a follower');
    return follower.endpoint;
  }

  it('one endpoint of three: 1 of 3 asked, not healthy, exit 1, the leader named though not asked', async () => {
    const one = followerEndpoint();
    const leader = up.status.members.find((m) => m.isLeader);
    const table = await runCli(['status', '--endpoints', one]);
    assert.equal(table.code, 1, table.stdout + table.stderr);
    assert.doesNotMatch(table.stdout, /healthy/, table.stdout);
    assert.match(table.stdout, /PARTIAL VIEW: 1 of 3 members asked \(not asked: meta-\d, meta-\d; --cluster/);
    assert.match(table.stdout, new RegExp(`leader ${leader?.id ?? '?'} \\(meta-\\d, not asked\\)`));
    assert.doesNotMatch(table.stdout, /no leader/);

    const json = (await runCli(['status', '--endpoints', one, '-o', 'json'])).json<StatusJson>();
    assert.equal(json.healthy, false);
    assert.equal(json.membersAsked, 1);
    assert.equal(json.membersInCluster, 3);
    assert.equal(json.unasked.length, 2);
    assert.equal(json.leaderId, leader?.id);
    assert.match(json.leaderName ?? '', /^meta-\d$/);
  });

  it('--cluster from one endpoint asks all three members and is healthy', async () => {
    const result = await runCli(['status', '--endpoints', followerEndpoint(), '--cluster', '-o', 'json']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const json = result.json<StatusJson>();
    assert.equal(json.healthy, true);
    assert.equal(json.membersAsked, 3);
    assert.equal(json.membersInCluster, 3);
    assert.deepEqual(json.unasked, []);
    assert.deepEqual(
      json.members.map((m) => m.endpoint).sort(),
      up.status.members.map((m) => m.endpoint).sort(),
    );
    const table = await runCli(['status', '--endpoints', followerEndpoint(), '--cluster']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /: healthy, 3 members, leader [0-9a-f]+ \(meta-\d\)/);
  });

  it('all endpoints given (the spec): healthy without --cluster', async () => {
    const result = await runCli(['status', '--endpoints', up.endpoints.join(',')]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /: healthy, 3 members, leader/);
  });
});
