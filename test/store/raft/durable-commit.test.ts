/**
 * A committed membership change makes the commit index durable at once. The commit index is otherwise written
 * lazily, and a member killed after its cluster grew from one manager would come back believing in the old
 * membership: a lone voter that elects itself beside the real leader.
 */

import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Entry } from '../../../src/manager/raft/types.ts';
import { DiskRaftStorage } from '../../../src/store/raft/disk-raft-storage.ts';
import { silentLogger } from '../../../src/util/logger.ts';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((dir) => fs.rm(dir, { recursive: true, force: true }))));

async function storageAt(): Promise<{ dir: string; open: () => DiskRaftStorage }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlet-durable-commit-'));
  dirs.push(dir);
  return { dir, open: () => new DiskRaftStorage({ dataDir: dir, log: silentLogger }) };
}

const grow: Entry[] = [
  { term: 1, index: 1, type: 'conf-change', data: { type: 'add-learner', member: 'a' } },
  { term: 1, index: 2, type: 'conf-change', data: { type: 'promote', member: 'a' } },
  { term: 2, index: 3, type: 'normal', data: null },
  { term: 2, index: 4, type: 'conf-change', data: { type: 'add-learner', member: 'b' } },
];

describe('durable commit on membership changes', () => {
  it('a commit that covers a membership change survives a kill (no close)', async () => {
    const { open } = await storageAt();
    const first = open();
    await first.load();
    await first.save({ hardState: { term: 2, vote: 'a', commit: 2 }, entries: grow });
    await first.save({ hardState: { term: 2, vote: 'a', commit: 4 }, entries: [], durableCommit: true });
    // Killed here: no close(), which would write the commit anyway.
    const again = await open().load();
    assert.equal(again.hardState.commit, 4);
  });

  it('without a membership change the commit stays lazy (no write per commit)', async () => {
    const { open } = await storageAt();
    const first = open();
    await first.load();
    await first.save({ hardState: { term: 2, vote: 'a', commit: 2 }, entries: grow });
    await first.save({ hardState: { term: 2, vote: 'a', commit: 4 }, entries: [] });
    const again = await open().load();
    assert.ok(again.hardState.commit < 4, `commit ${again.hardState.commit} was written eagerly`);
  });
});
