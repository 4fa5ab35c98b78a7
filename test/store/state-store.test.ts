import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SwarmletError } from '../../src/errors.ts';
import { DurableJSONFile } from '../../src/store/durable-json-file.ts';
import { DiskRaftStorage } from '../../src/store/raft/disk-raft-storage.ts';
import { SCHEMA_VERSION, STATE_FILE, StateStore } from '../../src/store/state-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { clusterWith, iso, spec, T0 } from '../helpers/fixtures.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlet-store-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const file = () => path.join(dir, STATE_FILE);

const refusedAsCorrupt = async (fn: () => Promise<unknown>) => {
  await assert.rejects(fn, (err: unknown) => err instanceof SwarmletError && err.code === 'corrupt_state' && err.message.includes(file()));
};

describe('state store', () => {
  it('creates a node identity once and keeps it across opens', async () => {
    const first = await StateStore.open(dir, () => 'node-a');
    assert.equal(first.data.node.id, 'node-a');
    assert.equal(first.data.schemaVersion, SCHEMA_VERSION);
    const again = await StateStore.open(dir, () => 'node-b');
    assert.equal(again.data.node.id, 'node-a');
  });

  it('removes the temporary files a killed write left', async () => {
    await StateStore.open(dir, () => 'node-a');
    await fs.writeFile(path.join(dir, `.${STATE_FILE}.99999.tmp`), 'half a write');
    await StateStore.open(dir, () => 'x');
    assert.deepEqual((await fs.readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
  });

  it('refuses a truncated, hand-edited or foreign file instead of resetting it', async () => {
    await StateStore.open(dir, () => 'node-a');
    const good = await fs.readFile(file(), 'utf8');
    await fs.writeFile(file(), good.slice(0, good.length / 2));
    await refusedAsCorrupt(() => StateStore.open(dir, () => 'x'));
    await fs.writeFile(file(), good.replace('node-a', 'node-b'));
    await refusedAsCorrupt(() => StateStore.open(dir, () => 'x'));
    await fs.writeFile(file(), '{"hello": 1}');
    await refusedAsCorrupt(() => StateStore.open(dir, () => 'x'));
    // The damaged file is left for the user to inspect.
    assert.equal(await fs.readFile(file(), 'utf8'), '{"hello": 1}');
  });

  it('refuses a file written by a newer schema', async () => {
    await new DurableJSONFile(file()).write({ schemaVersion: SCHEMA_VERSION + 1, node: { id: 'n' } });
    await assert.rejects(() => StateStore.open(dir, () => 'x'), /newer swarmlet/);
  });

  it('migrates a version 1 store: its cluster state becomes the first Raft snapshot', async () => {
    const machine = clusterWith();
    machine.apply({ type: 'service.create', id: 's1', spec: spec('web'), now: iso(T0) });
    await new DurableJSONFile(file()).write({ schemaVersion: 1, node: { id: 'n1' }, cluster: machine.state });

    const store = await StateStore.open(dir, () => 'x', silentLogger);
    assert.deepEqual(store.data, { schemaVersion: SCHEMA_VERSION, node: { id: 'n1' } });
    const raft = await new DiskRaftStorage({ dataDir: dir, log: silentLogger }).load();
    assert.deepEqual(raft.snapshot?.data, machine.state);
    assert.deepEqual(raft.snapshot?.metadata.conf.voters, ['n1']);
  });
});
