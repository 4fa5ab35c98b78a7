/**
 * What three managers write to their disks, as a guard for the SD-card goals (the figures themselves come from
 * `npm run bench`): an idle cluster writes nothing however many heartbeats go round, and a service update costs
 * each manager at most one append of about the entry's size and one fsync.
 */

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { spec } from '../../helpers/fixtures.ts';
import { ManagerCluster, startSwarm } from './cluster.ts';
import { serviceId, updateService } from './commands.ts';

describe('disk writes of three managers', () => {
  let cluster: ManagerCluster;
  beforeEach(async () => {
    cluster = await startSwarm({}, 1);
  });
  afterEach(() => cluster.stop());

  it('writes nothing while idle, however many heartbeats go round', async () => {
    const before = cluster.io();
    const delivered = cluster.hub.delivered;
    await cluster.waitUntil(() => cluster.hub.delivered - delivered >= 200, 5_000, '200 heartbeat messages');
    assert.deepEqual(cluster.io(), before);
  });

  it('costs each manager at most one append and one fsync per service update', async () => {
    const leader = cluster.leader()!;
    const updates = 50;
    const before = new Map(cluster.running.map((m) => [m.id, m.storage.stats.snapshot()]));
    let entryBytes = 0;
    for (let replicas = 1; replicas <= updates; replicas++) {
      const command = updateService(leader.state, serviceId(1), spec('web1', { replicas }));
      entryBytes += JSON.stringify({ request: 'r'.repeat(25), command }).length;
      await leader.proposer.propose(command);
    }
    await cluster.converged();
    const perEntry = entryBytes / updates;
    for (const member of cluster.running) {
      const spent = member.storage.stats.since(before.get(member.id)!);
      // At most one: a follower that receives two appends at once makes them durable together.
      assert.ok(spent.syncs <= updates && spent.syncs > 0, `${member.id}: ${spent.syncs} fsyncs for ${updates} updates`);
      // The entry's JSON plus the record's framing and the Raft envelope (index, term, type): never a rewrite.
      assert.ok(spent.bytesWritten / updates < perEntry + 128, `${member.id}: ${spent.bytesWritten / updates} bytes per ${perEntry}-byte update`);
    }
  });
});
