import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SwarmletError } from '../../src/errors.ts';
import { LocalProposer } from '../../src/manager/proposer.ts';
import { StateMachine } from '../../src/manager/state/state-machine.ts';
import { StateStore } from '../../src/store/state-store.ts';
import { clusterWith, iso, spec, T0 } from '../helpers/fixtures.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlet-proposer-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function setup() {
  const store = await StateStore.open(dir, () => 'n1');
  const proposer = new LocalProposer(new StateMachine(clusterWith().state), store);
  const create = (id: string, name = id) => proposer.propose({ type: 'service.create', id, spec: spec(name), now: iso(T0) });
  return { store, proposer, create };
}

describe('local proposer', () => {
  it('commits a burst of commands with one or two durable writes', async () => {
    const { store, proposer, create } = await setup();
    const before = store.writes;
    await Promise.all(Array.from({ length: 50 }, (_, i) => create(`s${i}`)));
    assert.equal(Object.keys(proposer.state.services).length, 50);
    assert.ok(store.writes - before <= 2, `${store.writes - before} writes for 50 commands`);
    const reopened = await StateStore.open(dir, () => 'x');
    assert.equal(Object.keys(reopened.data.cluster!.services).length, 50);
  });

  it('refuses an invalid command alone, committing the others of its batch', async () => {
    const { proposer, create } = await setup();
    const results = await Promise.allSettled([create('a', 'web'), create('b', 'web'), create('c', 'db')]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.ok((results[1] as PromiseRejectedResult).reason instanceof SwarmletError);
    assert.deepEqual(Object.keys(proposer.state.services).sort(), ['a', 'c']);
  });

  it('rolls back to what the disk holds when the write fails, and notifies watchers', async () => {
    const { proposer, create } = await setup();
    await create('kept');
    let notified = 0;
    proposer.watch(() => notified++);
    // The data dir vanishing (an unmounted card, say) makes the next write fail.
    await fs.rm(dir, { recursive: true, force: true });
    await assert.rejects(create('lost'), /could not save/);
    assert.deepEqual(Object.keys(proposer.state.services), ['kept']);
    assert.ok(notified >= 1);
    await fs.mkdir(dir);
    await create('after');
    assert.deepEqual(Object.keys(proposer.state.services).sort(), ['after', 'kept']);
  });
});
