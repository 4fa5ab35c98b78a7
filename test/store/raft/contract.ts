/**
 * What every RaftStorage must do, as one suite that each implementation's test runs (the on-disk one, the
 * reference model, and the Raft core's in-memory one can call it too). "Reopen" means what a restart means for
 * the implementation: a new object over the same files for the disk, the same object for an in-memory one.
 */

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { PersistedRaftState, RaftStorage } from '../../../src/manager/raft/storage.ts';
import { entries, entry, snapshot } from './helpers.ts';

export interface StorageFixture {
  /** Opens the storage (again, after a close: a restart). */
  open(): RaftStorage;
  cleanup(): Promise<void>;
}

export function raftStorageContract(name: string, fixture: () => Promise<StorageFixture>): void {
  describe(`RaftStorage contract: ${name}`, () => {
    let f: StorageFixture;
    let storage: RaftStorage;
    beforeEach(async () => {
      f = await fixture();
      storage = f.open();
      await storage.load();
    });
    afterEach(async () => {
      await storage.close();
      await f.cleanup();
    });

    const reopen = async (): Promise<PersistedRaftState> => {
      await storage.close();
      storage = f.open();
      return storage.load();
    };

    it('starts empty', async () => {
      assert.deepEqual(await reopen(), { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] });
    });

    it('gives back the hard state and the entries it saved', async () => {
      await storage.save({ hardState: { term: 2, vote: 'm1', commit: 0 }, entries: entries(1, 3, 2) });
      await storage.save({ entries: [entry(4, 2, { op: 'näive ✓ "quoted"\nnewline' })] });
      const state = await reopen();
      assert.equal(state.hardState.term, 2);
      assert.equal(state.hardState.vote, 'm1');
      assert.deepEqual(state.entries, [...entries(1, 3, 2), entry(4, 2, { op: 'näive ✓ "quoted"\nnewline' })]);
    });

    it('replaces a conflicting suffix', async () => {
      await storage.save({ hardState: { term: 3, vote: '', commit: 0 }, entries: entries(1, 5, 1) });
      await storage.save({ entries: entries(3, 4, 3) });
      assert.deepEqual((await reopen()).entries, [...entries(1, 2, 1), ...entries(3, 4, 3)]);
    });

    it('keeps the entries after a local snapshot and forgets those it compacts', async () => {
      await storage.save({ hardState: { term: 1, vote: '', commit: 6 }, entries: entries(1, 8, 1) });
      await storage.save({ entries: [], snapshot: snapshot(6, 1) });
      await storage.compact(6);
      const state = await reopen();
      assert.deepEqual(state.snapshot, snapshot(6, 1));
      assert.deepEqual(state.entries, entries(7, 8, 1));
      await storage.save({ entries: entries(9, 9, 1) });
      assert.deepEqual((await reopen()).entries, entries(7, 9, 1));
    });

    it('drops the log for a received snapshot it does not reach, and appends after it', async () => {
      await storage.save({ hardState: { term: 4, vote: '', commit: 0 }, entries: entries(1, 3, 1) });
      await storage.save({ snapshot: snapshot(10, 4), entries: entries(11, 12, 4) });
      const state = await reopen();
      assert.deepEqual(state.snapshot, snapshot(10, 4));
      assert.deepEqual(state.entries, entries(11, 12, 4));
    });

    it('drops the log for a received snapshot that contradicts it', async () => {
      await storage.save({ hardState: { term: 4, vote: '', commit: 0 }, entries: entries(1, 6, 2) });
      await storage.save({ snapshot: snapshot(4, 3), entries: [] });
      const state = await reopen();
      assert.deepEqual(state.entries, []);
      await storage.save({ entries: entries(5, 5, 4) });
      assert.deepEqual((await reopen()).entries, entries(5, 5, 4));
    });

    it('ignores a snapshot older than the one it has', async () => {
      await storage.save({ hardState: { term: 1, vote: '', commit: 0 }, entries: entries(1, 5, 1) });
      await storage.save({ entries: [], snapshot: snapshot(4, 1) });
      await storage.save({ entries: [], snapshot: snapshot(2, 1) });
      assert.deepEqual((await reopen()).snapshot, snapshot(4, 1));
    });

    it('refuses entries that would leave a gap, and keeps what it had', async () => {
      await storage.save({ hardState: { term: 1, vote: '', commit: 0 }, entries: entries(1, 2, 1) });
      await assert.rejects(storage.save({ entries: entries(4, 5, 1) }));
      assert.deepEqual((await reopen()).entries, entries(1, 2, 1));
    });

    it('returns a commit between the snapshot and the last saved commit', async () => {
      await storage.save({ hardState: { term: 1, vote: '', commit: 0 }, entries: entries(1, 9, 1) });
      await storage.save({ hardState: { term: 1, vote: '', commit: 7 }, entries: [], snapshot: snapshot(3, 1) });
      const { commit } = (await reopen()).hardState;
      assert.ok(commit >= 3 && commit <= 7, `commit ${commit}`);
    });
  });
}
