import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SwarmletError } from '../../../src/errors.ts';
import { emptyClusterState } from '../../../src/manager/state/cluster-state.ts';
import { DiskRaftStorage } from '../../../src/store/raft/disk-raft-storage.ts';
import { migrateFromV1, type StoredStateV1 } from '../../../src/store/raft/migrate.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { entries, tempDir } from './helpers.ts';

let dir: string;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const v1 = (index: number): StoredStateV1 => ({ schemaVersion: 1, node: { id: 'node-a' }, cluster: { ...emptyClusterState(), index } });
const load = async () => {
  const storage = new DiskRaftStorage({ dataDir: dir, log: silentLogger });
  try {
    return await storage.load();
  } finally {
    await storage.close();
  }
};

describe('migrateFromV1', () => {
  it('makes the v1 cluster state the first snapshot, at its own index, in term 1, with this node as the voter', async () => {
    assert.equal(await migrateFromV1(dir, v1(42), silentLogger), true);
    assert.deepEqual(await load(), {
      hardState: { term: 1, vote: '', commit: 42 },
      snapshot: { metadata: { index: 42, term: 1, conf: { voters: ['node-a'], learners: [] } }, data: v1(42).cluster },
      entries: [],
    });
  });

  it('starts at index 1 for a state that never applied a command', async () => {
    await migrateFromV1(dir, v1(0), silentLogger);
    assert.equal((await load()).snapshot?.metadata.index, 1);
  });

  it('writes nothing for a node that was in no cluster', async () => {
    assert.equal(await migrateFromV1(dir, { schemaVersion: 1, node: { id: 'node-a' }, cluster: null }, silentLogger), false);
    await assert.rejects(fs.stat(path.join(dir, 'raft')), { code: 'ENOENT' });
  });

  it('can run again after a crash at any point, and then appends after the snapshot', async () => {
    // As if a first run had stopped right after writing the hard state.
    const interrupted = new DiskRaftStorage({ dataDir: dir, log: silentLogger });
    await interrupted.load();
    await interrupted.save({ hardState: { term: 1, vote: '', commit: 0 }, entries: [] });
    await migrateFromV1(dir, v1(42), silentLogger);
    await migrateFromV1(dir, v1(42), silentLogger);
    const storage = new DiskRaftStorage({ dataDir: dir, log: silentLogger });
    assert.equal((await storage.load()).snapshot?.metadata.index, 42);
    await storage.save({ hardState: { term: 2, vote: 'node-a', commit: 42 }, entries: entries(43, 44, 2) });
    await storage.close();
    assert.deepEqual((await load()).entries, entries(43, 44, 2));
  });

  it('leaves a state whose lost snapshot is refused, not taken for an empty cluster', async () => {
    await migrateFromV1(dir, v1(42), silentLogger);
    await fs.rm(path.join(dir, 'raft', 'snapshot.json'));
    await assert.rejects(load(), (err: unknown) => err instanceof SwarmletError && err.code === 'corrupt_state' && /committed entries are missing/.test(err.message));
  });

  it('refuses to merge with other Raft state', async () => {
    const storage = new DiskRaftStorage({ dataDir: dir, log: silentLogger });
    await storage.load();
    await storage.save({ hardState: { term: 3, vote: '', commit: 0 }, entries: entries(1, 2, 3) });
    await storage.close();
    await assert.rejects(migrateFromV1(dir, v1(42), silentLogger), (err: unknown) => err instanceof SwarmletError && err.code === 'corrupt_state' && /version 1 cluster/.test(err.message));
  });
});
