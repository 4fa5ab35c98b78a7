/**
 * The simulator's in-memory storage passes the same contract as the on-disk one (test/store/raft/contract.ts),
 * so what the simulations prove is proven against the storage behaviour production has; and its crash model,
 * which the contract cannot see, keeps exactly what was synced.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { raftStorageContract } from '../../store/raft/contract.ts';
import { entries, snapshot } from '../../store/raft/helpers.ts';
import { MemoryRaftStorage } from './sim/memory-storage.ts';

const empty = () => new MemoryRaftStorage({ hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] });

raftStorageContract('MemoryRaftStorage (the simulator)', async () => {
  // A restart of an in-memory storage is the same object: what it synced is what a process would find.
  const storage = empty();
  return { open: () => storage, cleanup: async () => {} };
});

describe('MemoryRaftStorage: its page cache', () => {
  it('keeps what was synced and forgets what was only written', () => {
    const s = empty();
    s.write({ hardState: { term: 1, vote: 'm1', commit: 0 }, entries: entries(1, 2, 1) });
    s.sync();
    s.write({ entries: entries(3, 4, 1) });
    s.crash();
    assert.deepEqual(s.durableState().entries, entries(1, 2, 1));
    assert.equal(s.durableState().hardState.vote, 'm1');
  });

  it('refuses a write that leaves a gap at the sync that meets it, keeping the writes before it and forgetting it', () => {
    const s = empty();
    s.write({ hardState: { term: 1, vote: '', commit: 0 }, entries: entries(1, 2, 1) });
    s.write({ entries: [], snapshot: snapshot(5, 2) });
    s.write({ entries: entries(9, 9, 2) });
    assert.throws(() => s.sync(), /append at 9 does not follow the log \(6\.\.5\)/);
    assert.deepEqual(s.durableState().snapshot, snapshot(5, 2));
    assert.deepEqual(s.durableState().entries, []);
    s.sync();
    s.write({ entries: entries(6, 6, 2) });
    s.sync();
    assert.deepEqual(s.durableState().entries, entries(6, 6, 2));
  });

  it('leaves nothing of a refused write behind, even the parts before the gap check', async () => {
    const s = empty();
    await s.save({ hardState: { term: 1, vote: '', commit: 0 }, entries: entries(1, 2, 1) });
    await assert.rejects(s.save({ hardState: { term: 7, vote: 'm3', commit: 0 }, snapshot: snapshot(1, 1), entries: entries(4, 4, 1) }));
    const state = await s.load();
    assert.deepEqual(state.hardState, { term: 1, vote: '', commit: 0 });
    assert.equal(state.snapshot, null);
    assert.deepEqual(state.entries, entries(1, 2, 1));
  });
});
