/**
 * A manager that was the leader, killed and restarted while the others went on, must not answer a linearizable
 * read from its stale log: the read waits until it has applied what the new leader had committed.
 */

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ManagerCluster } from './cluster.ts';
import { createService, initCommand } from './commands.ts';

describe('a restarted leader', () => {
  let cluster: ManagerCluster;
  after(async () => cluster?.stop());

  it('serves a read only once it has caught up with what was committed while it was dead', async () => {
    cluster = await ManagerCluster.start({ size: 3, tickMs: 20 });
    const first = await cluster.waitForLeader();
    await first.proposer.propose(initCommand(first.id));
    await first.proposer.propose(createService(1));
    await cluster.converged();
    await cluster.kill(first.id);
    const next = await cluster.waitForLeader(5_000, first.id);
    for (let n = 2; n <= 6; n++) await next.proposer.propose(createService(n));
    const restarted = await cluster.restart(first.id);
    await restarted.proposer.read();
    assert.equal(Object.keys(restarted.state.services).length, 6, 'the read saw the writes made while this member was dead');
  });
});
