import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DiskRaftStorage } from '../../../src/store/raft/disk-raft-storage.ts';
import { RECORD_OVERHEAD } from '../../../src/store/raft/record.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { raftStorageContract } from './contract.ts';
import { entries, entry, snapshot, tempDir } from './helpers.ts';
import { ModelRaftStorage } from './model.ts';

raftStorageContract('DiskRaftStorage', async () => {
  const dir = await tempDir();
  return { open: () => new DiskRaftStorage({ dataDir: dir, log: silentLogger, segmentBytes: 300 }), cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
});

raftStorageContract('the reference model', async () => {
  const model = new ModelRaftStorage();
  return { open: () => model, cleanup: async () => {} };
});

/** A command of about 300 bytes of JSON, the size of a typical service update's command. */
const typicalCommand = (i: number) => ({
  type: 'service.update',
  serviceId: `svc${String(i).padStart(22, '0')}`,
  version: i,
  spec: { Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'swarmlet-test/busybox:2', Args: ['httpd', '-f', '-p', '80'] } }, Mode: { Replicated: { Replicas: 3 } } },
  now: '2026-01-01T00:00:00.000Z',
});

describe('DiskRaftStorage on disk', () => {
  let dir: string;
  let storage: DiskRaftStorage;
  beforeEach(async () => {
    dir = await tempDir();
    storage = new DiskRaftStorage({ dataDir: dir, log: silentLogger });
    await storage.load();
  });
  afterEach(async () => {
    await storage.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('writes one record and one barrier per steady-state save, and nothing for an empty one', async (t) => {
    await storage.save({ hardState: { term: 1, vote: 'm1', commit: 0 }, entries: [entry(1, 1, null)] });
    const sizes: number[] = [];
    for (let i = 2; i <= 101; i++) {
      const e = entry(i, 1, typicalCommand(i));
      const before = storage.stats.snapshot();
      await storage.save({ hardState: { term: 1, vote: 'm1', commit: i - 1 }, entries: [e] });
      const spent = storage.stats.since(before);
      const entryBytes = Buffer.byteLength(JSON.stringify(e));
      assert.equal(spent.syncs, 1);
      assert.equal(spent.bytesWritten, entryBytes + RECORD_OVERHEAD);
      assert.ok(spent.bytesWritten < 1024 + entryBytes);
      sizes.push(entryBytes);
    }
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    assert.ok(mean > 280 && mean < 360, `typical entry is ${mean} bytes`);
    t.diagnostic(`bytes per save of a ${Math.round(mean)}-byte entry: ${Math.round(mean) + RECORD_OVERHEAD} (record overhead ${RECORD_OVERHEAD}), 1 fdatasync`);

    // Heartbeats, and a commit that moves without a new term or vote: no I/O at all.
    const before = storage.stats.snapshot();
    await storage.save({ entries: [] });
    await storage.save({ hardState: { term: 1, vote: 'm1', commit: 101 }, entries: [] });
    await storage.save({ hardState: { term: 1, vote: 'm1', commit: 101 }, entries: [], snapshot: snapshot(0, 0) });
    assert.deepEqual(storage.stats.since(before), { bytesWritten: 0, syncs: 0 });
  });

  it('batches a save of many entries into one barrier', async () => {
    // The first entry creates the first segment, which costs a directory sync as well.
    await storage.save({ hardState: { term: 1, vote: '', commit: 0 }, entries: entries(1, 1, 1) });
    const before = storage.stats.snapshot();
    await storage.save({ entries: entries(2, 201, 1) });
    assert.equal(storage.stats.since(before).syncs, 1);
  });

  it('writes commit lazily: with the next term or vote change, or at close', async () => {
    await storage.save({ hardState: { term: 1, vote: 'm1', commit: 0 }, entries: entries(1, 10, 1) });
    await storage.save({ hardState: { term: 1, vote: 'm1', commit: 8 }, entries: [] });
    // A crash now (no close) loses the commit, which Raft learns again from the leader.
    const crashed = new DiskRaftStorage({ dataDir: dir, log: silentLogger });
    assert.equal((await crashed.load()).hardState.commit, 0);
    await crashed.close();
    // close() of the crashed instance has written its (clamped) commit, 0: nothing. A graceful stop writes 8.
    await storage.close();
    storage = new DiskRaftStorage({ dataDir: dir, log: silentLogger });
    assert.deepEqual((await storage.load()).hardState, { term: 1, vote: 'm1', commit: 8 });
    await storage.save({ hardState: { term: 2, vote: '', commit: 9 }, entries: [] });
    const restarted = new DiskRaftStorage({ dataDir: dir, log: silentLogger });
    assert.deepEqual((await restarted.load()).hardState, { term: 2, vote: '', commit: 9 });
    await restarted.close();
  });

  it('rolls segments at their size and compacts whole segments, so files stay small', async () => {
    await storage.close();
    storage = new DiskRaftStorage({ dataDir: dir, log: silentLogger, segmentBytes: 4096 });
    await storage.load();
    await storage.save({ hardState: { term: 1, vote: '', commit: 0 }, entries: [] });
    for (let i = 1; i <= 500; i += 10) {
      await storage.save({ entries: Array.from({ length: 10 }, (_, k) => entry(i + k, 1, typicalCommand(i + k))) });
      if ((i - 1) % 100 === 90) {
        const at = i + 9;
        await storage.save({ hardState: { term: 1, vote: '', commit: at }, entries: [], snapshot: snapshot(at, 1) });
        await storage.compact(at);
      }
    }
    const files = await fs.readdir(storage.paths.log);
    const sizes = await Promise.all(files.map(async (name) => (await fs.stat(`${storage.paths.log}/${name}`)).size));
    assert.ok(files.length <= 3, `segments left: ${files.join(', ')}`);
    for (const size of sizes) assert.ok(size < 4096 + 10 * 400, `segment of ${size} bytes`);
    const state = await new DiskRaftStorage({ dataDir: dir, log: silentLogger }).load();
    assert.equal(state.snapshot?.metadata.index, 500);
    assert.deepEqual(state.entries, []);
  });

  it('refuses an entry newer than the persisted term, and saves after load only', async () => {
    await assert.rejects(storage.save({ entries: [entry(1, 1)] }), /newer than term 0/);
    const unloaded = new DiskRaftStorage({ dataDir: dir, log: silentLogger });
    await assert.rejects(unloaded.save({ entries: [] }), /load\(\)/);
    await assert.rejects(storage.compact(1), /snapshot only covers up to 0/);
  });

  it('close is idempotent', async () => {
    await storage.close();
    await storage.close();
  });
});
