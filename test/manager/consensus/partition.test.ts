/**
 * A manager cut off from the others, on three managers over real storage: the leader is partitioned away, the
 * other two elect a new one and go on; the cut-off manager's callers are failed within a bounded time instead of
 * waiting forever, and when the partition heals it follows the new leader, discards what it accepted alone, and
 * ends with the same state as the others.
 */

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { LEADER_WAIT_MS } from '../../../src/manager/consensus/raft-driver.ts';
import { PROPOSAL_TIMEOUT_MS } from '../../../src/manager/consensus/raft-proposer.ts';
import { RaftError } from '../../../src/manager/raft/errors.ts';
import { SwarmletError } from '../../../src/errors.ts';
import { ManagerCluster, startSwarm } from './cluster.ts';
import { createService, serviceId } from './commands.ts';

const TICK_MS = 20;
/** Timers are not exact and fsyncs take their time: what "within a bounded time" allows beyond the bound. */
const SLACK_MS = 1_500;

/** Settles `promise` and says how long it took, so a test can assert both the outcome and the bound. */
async function timed(promise: Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const start = performance.now();
  try {
    await promise;
    return { ms: performance.now() - start, error: undefined };
  } catch (error) {
    return { ms: performance.now() - start, error };
  }
}

/** Fails instead of hanging when `promise` does not settle within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

describe('a manager partitioned away', () => {
  let cluster: ManagerCluster;
  beforeEach(async () => {
    cluster = await startSwarm({ tickMs: TICK_MS }, 1);
  });
  afterEach(() => cluster.stop());

  it('fails its callers within a bounded time while the others elect a leader, then rejoins and catches up', async (t) => {
    const old = cluster.leader()!;
    cluster.isolate(old.id);

    // Accepted by the cut-off leader before it notices: never committed, and its caller is told so in time.
    const acceptedAlone = timed(old.proposer.propose(createService(90)));

    const leader = await cluster.waitForLeader(10_000, old.id);
    await leader.proposer.propose(createService(2));
    await cluster.converged(5_000, cluster.ids.filter((id) => id !== old.id));

    // Check-quorum: the old leader steps down once it has not heard from a quorum for an election timeout.
    await cluster.waitUntil(() => old.node.leader === '', 5_000, `${old.id} to step down`);
    const noLeader = await timed(old.proposer.propose(createService(91)));
    t.diagnostic(`proposal on the cut-off manager failed after ${noLeader.ms.toFixed(0)} ms (LEADER_WAIT_MS ${LEADER_WAIT_MS})`);
    assert.ok(noLeader.error instanceof RaftError, `expected a RaftError, got ${String(noLeader.error)}`);
    assert.equal(noLeader.error.reason, 'no_leader');
    assert.match(noLeader.error.message, /No manager leader is known/);
    assert.ok(noLeader.ms <= LEADER_WAIT_MS + SLACK_MS, `took ${noLeader.ms.toFixed(0)} ms`);

    const alone = await acceptedAlone;
    t.diagnostic(`proposal accepted by the cut-off leader failed after ${alone.ms.toFixed(0)} ms (PROPOSAL_TIMEOUT_MS ${PROPOSAL_TIMEOUT_MS})`);
    assert.ok(alone.error instanceof SwarmletError, `expected a SwarmletError, got ${String(alone.error)}`);
    assert.equal(alone.error.code, 'unavailable');
    assert.match(alone.error.message, /not committed within/);
    assert.ok(alone.ms <= PROPOSAL_TIMEOUT_MS + SLACK_MS, `took ${alone.ms.toFixed(0)} ms`);

    cluster.heal(old.id);
    const state = await cluster.converged();
    assert.deepEqual(old.state, state);
    assert.equal(old.node.leader, leader.id);
    assert.ok(state.services[serviceId(2)], 'the write made during the partition is everywhere');
    assert.equal(state.services[serviceId(90)], undefined, 'what the cut-off leader accepted alone is gone');
    assert.equal(state.services[serviceId(91)], undefined);
  });

  it('a follower cut off and healed catches up with the writes it missed', async () => {
    const follower = cluster.follower();
    cluster.isolate(follower.id);
    const leader = cluster.leader()!;
    for (let i = 2; i <= 30; i++) await leader.proposer.propose(createService(i));
    // While cut off it keeps its term (pre-vote): it cannot depose the leader when it comes back.
    await cluster.waitUntil(() => follower.node.leader === '', 5_000, `${follower.id} to notice it is cut off`);
    const term = leader.node.term;
    cluster.heal(follower.id);
    const state = await cluster.converged();
    assert.equal(Object.keys(state.services).length, 30);
    assert.equal(cluster.leader(), leader, 'the leader stayed the leader');
    assert.equal(leader.node.term, term);
  });

  it('fails a linearizable read on a follower cut off from the leader within a bounded time', async () => {
    const follower = cluster.follower();
    cluster.isolate(follower.id);
    // The follower still believes in its leader, so the read is sent to it and lost.
    const read = await timed(within(follower.proposer.read(), LEADER_WAIT_MS + SLACK_MS, 'the read'));
    assert.ok(read.error instanceof RaftError, `expected a RaftError, got ${String(read.error)}`);
    assert.equal(read.error.reason, 'no_leader');
  });

  it('fails a linearizable read on a leader cut off from the others within a bounded time', async () => {
    const leader = cluster.leader()!;
    cluster.isolate(leader.id);
    // The leader must confirm with a quorum; it cannot, steps down, and the read it queued is dropped.
    const read = await timed(within(leader.proposer.read(), LEADER_WAIT_MS + SLACK_MS, 'the read'));
    assert.ok(read.error instanceof RaftError, `expected a RaftError, got ${String(read.error)}`);
    assert.equal(read.error.reason, 'no_leader');
  });
});
