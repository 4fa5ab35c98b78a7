/**
 * Losing the leader, on three managers over real storage: the other two elect a new one within the failover
 * goal (scaled to the test's faster tick), writes go on, and the killed manager restarts from its data dir and
 * catches up with what it missed.
 */

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DEFAULT_TICK_MS } from '../../../src/manager/raft/config.ts';
import { spec } from '../../helpers/fixtures.ts';
import { ManagerCluster, startSwarm } from './cluster.ts';
import { createService, serviceId, updateService } from './commands.ts';

const TICK_MS = 20;
/** The README's goal is failover under 3 s with the default 100 ms tick; elections scale with the tick. */
const FAILOVER_GOAL_MS = 3_000 * (TICK_MS / DEFAULT_TICK_MS);

describe('leader failover', () => {
  let cluster: ManagerCluster;
  beforeEach(async () => {
    cluster = await startSwarm({ tickMs: TICK_MS }, 1);
  });
  afterEach(() => cluster.stop());

  it('elects a new leader when the leader is killed, goes on writing, and the killed one catches up from disk', async (t) => {
    const old = cluster.leader()!;
    const start = performance.now();
    await cluster.kill(old.id);
    // Generous: three times the goal, so a loaded CI machine does not make this flaky.
    const leader = await cluster.waitForLeader(3 * FAILOVER_GOAL_MS, old.id);
    await leader.proposer.propose(createService(2));
    const elapsed = performance.now() - start;
    t.diagnostic(`failover with a ${TICK_MS} ms tick: ${elapsed.toFixed(0)} ms to a new leader and a committed write (goal ${FAILOVER_GOAL_MS} ms)`);
    assert.ok(elapsed < 3 * FAILOVER_GOAL_MS, `failover took ${elapsed.toFixed(0)} ms`);

    // Writes continue on the two survivors, through the leader and through the other follower.
    const survivor = cluster.running.find((m) => m !== leader)!;
    for (let i = 3; i <= 10; i++) await survivor.proposer.propose(createService(i));
    await leader.proposer.propose(updateService(leader.state, serviceId(1), spec('web1', { replicas: 3 })));

    const restarted = await cluster.restart(old.id);
    const state = await cluster.converged();
    assert.equal(Object.keys(state.services).length, 10);
    assert.equal(state.services[serviceId(1)]?.Spec.Mode?.Replicated?.Replicas, 3);
    assert.deepEqual(restarted.state, state);
    assert.equal(restarted.node.role, 'follower');
  });

  it('hands leadership over on a graceful stop, without waiting for an election timeout', async (t) => {
    const old = cluster.leader()!;
    const start = performance.now();
    await cluster.stopMember(old.id);
    const leader = await cluster.waitForLeader(3 * FAILOVER_GOAL_MS, old.id);
    const elapsed = performance.now() - start;
    const electionTimeoutMs = old.node.config.electionTick * TICK_MS;
    t.diagnostic(`hand-over took ${elapsed.toFixed(0)} ms; an election would wait at least ${electionTimeoutMs} ms`);
    assert.ok(elapsed < electionTimeoutMs, `hand-over took ${elapsed.toFixed(0)} ms, no faster than an election`);
    await leader.proposer.propose(createService(2));
  });

  it('survives the leaders being killed one after another while writes keep coming', async () => {
    let n = 100;
    for (let round = 0; round < 3; round++) {
      const old = (await cluster.waitForLeader()).id;
      await cluster.kill(old);
      const leader = await cluster.waitForLeader(3 * FAILOVER_GOAL_MS, old);
      for (let i = 0; i < 5; i++) await leader.proposer.propose(createService(++n));
      await cluster.restart(old);
      await cluster.converged();
    }
    const state = await cluster.converged();
    assert.equal(Object.keys(state.services).length, 1 + 15);
    for (const member of cluster.running) assert.deepEqual(member.state, state);
  });

  it('a proposal waiting on a follower for a leader is committed once the new leader is elected', async () => {
    const old = cluster.leader()!;
    const follower = cluster.follower();
    await cluster.kill(old.id);
    // The follower learns that the leader is gone when its election timer fires: until then it still forwards,
    // so propose once it knows — which is when a client's request waits in whenLeaderKnown, unless the follower
    // has already won the election itself (it can go straight from the old leader to itself).
    await cluster.waitUntil(() => follower.node.leader !== old.id, 3 * FAILOVER_GOAL_MS, `${follower.id} to notice the leader is gone`);
    await follower.proposer.propose(createService(2));
    assert.equal(follower.state.services[serviceId(2)]?.Spec.Name, 'web2');
  });

  it('restarts the whole cluster from disk with the state it had, after every manager was killed', async () => {
    const leader = cluster.leader()!;
    for (let i = 2; i <= 20; i++) await leader.proposer.propose(createService(i));
    const before = await cluster.converged();
    for (const id of cluster.ids) await cluster.kill(id);
    for (const id of cluster.ids) await cluster.restart(id);
    await cluster.waitForLeader(3 * FAILOVER_GOAL_MS);
    assert.deepEqual(await cluster.converged(), before);
  });
});
