/**
 * What a client of any manager sees, on three managers over real storage: a write sent to a follower is forwarded
 * to the leader, committed, and answered once the follower itself applied it; a read on a follower sees every
 * write acknowledged before it, wherever that was; a command the state machine refuses is refused to its caller
 * and changes nothing on any manager.
 */

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SwarmletError } from '../../../src/errors.ts';
import { spec } from '../../helpers/fixtures.ts';
import { ManagerCluster, startSwarm } from './cluster.ts';
import { createService, serviceId, updateService } from './commands.ts';

describe('managers answering through a follower', () => {
  let cluster: ManagerCluster;
  beforeEach(async () => {
    cluster = await startSwarm();
  });
  afterEach(() => cluster.stop());

  it('forwards a write proposed on a follower to the leader and answers once the follower applied it', async () => {
    const follower = cluster.follower();
    const forwardsBefore = cluster.hub.sentOf('propose');
    await follower.proposer.propose(createService(1));

    // Answered: this follower's own state already holds the service, and the leader's does too.
    assert.equal(follower.node.role, 'follower');
    assert.equal(follower.state.services[serviceId(1)]?.Spec.Name, 'web1');
    assert.equal(cluster.leader()!.state.services[serviceId(1)]?.Spec.Name, 'web1');
    assert.equal(cluster.hub.sentOf('propose'), forwardsBefore + 1, 'the proposal went to the leader as a forward');

    const state = await cluster.converged();
    assert.equal(Object.keys(state.services).length, 1);
    for (const member of cluster.running) assert.deepEqual(member.state, state);
  });

  it('serves writes from every manager in one order, whichever one each was sent to', async () => {
    const writes = cluster.running.flatMap((member, m) =>
      [1, 2, 3].map((i) => member.proposer.propose(createService(m * 10 + i))),
    );
    await Promise.all(writes);
    const state = await cluster.converged();
    assert.equal(Object.keys(state.services).length, 9);
    for (const member of cluster.running) assert.deepEqual(member.state, state);
  });

  it('makes a follower read wait for a write acknowledged elsewhere that it has not received yet', async () => {
    const leader = cluster.leader()!;
    const [writer, reader] = cluster.running.filter((m) => m !== leader);
    // The reader hears nothing while the write is made through the other follower and acknowledged.
    cluster.isolate(reader!.id, 'inbound');
    await writer!.proposer.propose(createService(7));
    assert.equal(reader!.state.services[serviceId(7)], undefined, 'the reader has not received the write');

    cluster.heal(reader!.id);
    await reader!.proposer.read();
    assert.equal(reader!.state.services[serviceId(7)]?.Spec.Name, 'web7');
  });

  it('reads on a follower see a sequence of updates acknowledged by the leader', async () => {
    const leader = cluster.leader()!;
    const follower = cluster.follower();
    await leader.proposer.propose(createService(1));
    for (let replicas = 2; replicas <= 6; replicas++) {
      await leader.proposer.propose(updateService(leader.state, serviceId(1), spec('web1', { replicas })));
      await follower.proposer.read();
      assert.equal(follower.state.services[serviceId(1)]?.Spec.Mode?.Replicated?.Replicas, replicas);
    }
  });

  it('refuses a duplicate service name to the caller on a follower, and changes nothing anywhere', async () => {
    const leader = cluster.leader()!;
    await leader.proposer.propose(createService(1, 'web'));
    const before = await cluster.converged();
    const appliedBefore = leader.node.status().applied;

    const follower = cluster.follower();
    await assert.rejects(follower.proposer.propose(createService(2, 'web')), (err: unknown) => {
      assert.ok(err instanceof SwarmletError);
      assert.equal(err.code, 'conflict');
      assert.match(err.message, /service web already exists/);
      return true;
    });

    // The refused command was committed (every manager applied it as a no-op), so the states are comparable.
    const after = await cluster.converged();
    assert.ok(leader.node.status().applied > appliedBefore, 'the refused command went through the log');
    assert.deepEqual(after, before);
    for (const member of cluster.running) assert.deepEqual(member.state, before);
  });
});
