import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SwarmletError } from '../../src/errors.ts';
import { emptyClusterState } from '../../src/manager/state/cluster-state.ts';
import { SCHEMA_VERSION, STATE_FILE, StateStore } from '../../src/store/state-store.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlet-store-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const corruptCode = async (fn: () => Promise<unknown>) => {
  await assert.rejects(fn, (err: unknown) => err instanceof SwarmletError && err.code === 'corrupt_state' && err.message.includes(path.join(dir, STATE_FILE)));
};

describe('state store', () => {
  it('creates a node identity once and keeps it across opens', async () => {
    const first = await StateStore.open(dir, () => 'node-a');
    assert.equal(first.data.node.id, 'node-a');
    assert.equal(first.data.schemaVersion, SCHEMA_VERSION);
    const again = await StateStore.open(dir, () => 'node-b');
    assert.equal(again.data.node.id, 'node-a');
  });

  it('saves the cluster durably, leaving no temporary files, and removes those a killed write left', async () => {
    const store = await StateStore.open(dir, () => 'node-a');
    const state = emptyClusterState();
    state.index = 7;
    await store.saveCluster(state);
    assert.deepEqual((await fs.readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
    await fs.writeFile(path.join(dir, `.${STATE_FILE}.99999.tmp`), 'half a write');
    const reopened = await StateStore.open(dir, () => 'x');
    assert.equal(reopened.data.cluster?.index, 7);
    assert.deepEqual((await fs.readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
  });

  it('refuses a truncated, hand-edited or foreign file instead of resetting it', async () => {
    const store = await StateStore.open(dir, () => 'node-a');
    await store.saveCluster(emptyClusterState());
    const file = path.join(dir, STATE_FILE);
    const good = await fs.readFile(file, 'utf8');

    await fs.writeFile(file, good.slice(0, good.length / 2));
    await corruptCode(() => StateStore.open(dir, () => 'x'));
    await fs.writeFile(file, good.replace('node-a', 'node-b'));
    await corruptCode(() => StateStore.open(dir, () => 'x'));
    await fs.writeFile(file, '{"hello": 1}');
    await corruptCode(() => StateStore.open(dir, () => 'x'));
    // The damaged file is left for the user to inspect.
    assert.equal(await fs.readFile(file, 'utf8'), '{"hello": 1}');
  });

  it('refuses a file written by a newer schema', async () => {
    const store = await StateStore.open(dir, () => 'node-a');
    void store;
    const file = path.join(dir, STATE_FILE);
    const { DurableJSONFile } = await import('../../src/store/durable-json-file.ts');
    await new DurableJSONFile(file).write({ schemaVersion: SCHEMA_VERSION + 1, node: { id: 'n' }, cluster: null });
    await assert.rejects(() => StateStore.open(dir, () => 'x'), /newer swarmlet/);
  });
});
