/**
 * Snapshots on three managers over real storage: with a snapshot every 20 entries the log on disk is cut behind
 * them, a manager that was down while the entries it missed were compacted away catches up from the leader's
 * snapshot, and a manager restarted from its data dir alone — snapshot plus log — has the state it had.
 */

import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import type { SnapshotMetadata } from '../../../src/manager/raft/types.ts';
import { raftPaths } from '../../../src/store/raft/disk-raft-storage.ts';
import { IoStats } from '../../../src/store/raft/io-stats.ts';
import { RaftStateFile } from '../../../src/store/raft/state-file.ts';
import { isSnapshot } from '../../../src/store/raft/validate.ts';
import { spec } from '../../helpers/fixtures.ts';
import { ManagerCluster, type Member, startSwarm } from './cluster.ts';
import { createService, serviceId, updateService } from './commands.ts';

const SNAPSHOT_EVERY = 20;

/** The first index of each log segment on the member's disk, oldest first. */
async function segmentFirsts(member: Member): Promise<number[]> {
  const names = await fs.readdir(raftPaths(member.dataDir).log);
  return names.filter((n) => n.endsWith('.jsonl')).map((n) => Number(n.slice(0, -'.jsonl'.length))).sort((a, b) => a - b);
}

/** The snapshot's metadata as the member's storage holds it on disk (read, checksum checked, nothing written). */
async function snapshotOnDisk(member: Member): Promise<SnapshotMetadata> {
  const file = new RaftStateFile(raftPaths(member.dataDir).snapshot, isSnapshot, new IoStats());
  const snapshot = await file.read();
  assert.ok(snapshot, `${member.id} has a snapshot on disk`);
  return snapshot.metadata;
}

/** Resolves once `check` holds, or after two seconds (the assertions that follow then say what is wrong). */
async function settled(check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 2_000;
  while (!(await check()) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('snapshots and compaction', () => {
  let cluster: ManagerCluster;
  beforeEach(async () => {
    // Small segments, so that deleting the ones a snapshot covers shows on disk.
    cluster = await startSwarm({ snapshotEvery: SNAPSHOT_EVERY, segmentBytes: 4 * 1024 });
  });
  afterEach(() => cluster.stop());

  /** 40 creates and 60 updates through the leader: 100 entries, five snapshots' worth. */
  async function writeMany(): Promise<void> {
    const leader = await cluster.waitForLeader();
    for (let i = 1; i <= 40; i++) await leader.proposer.propose(createService(i));
    for (let i = 1; i <= 60; i++) {
      const id = serviceId(1 + (i % 40));
      await leader.proposer.propose(updateService(leader.state, id, spec(leader.state.services[id]!.Spec.Name, { replicas: i })));
    }
  }

  it('compacts the log behind snapshots, and a manager that was down catches up from a snapshot', async () => {
    const down = cluster.follower();
    await cluster.kill(down.id);
    await writeMany();
    const state = await cluster.converged();

    for (const member of cluster.running) {
      const { snapshotIndex, applied } = member.node.status();
      assert.ok(applied - snapshotIndex < SNAPSHOT_EVERY, `${member.id}: snapshot at ${snapshotIndex}, applied ${applied}`);
      // The driver saves the snapshot and deletes the segments behind it just after applying: let it finish.
      await settled(async () => (await snapshotOnDisk(member)).index === snapshotIndex && (await segmentFirsts(member))[0]! > 1);
      const firsts = await segmentFirsts(member);
      assert.ok(firsts[0]! > 1, `${member.id}: the oldest segment starts at ${firsts[0]}, the ones before were deleted`);
      assert.ok(firsts[0]! <= snapshotIndex + 1, `${member.id}: entries after the snapshot are kept`);
      assert.equal((await snapshotOnDisk(member)).index, snapshotIndex);
    }
    const leader = cluster.leader()!;
    assert.ok(leader.node.status().snapshotIndex > down.node.status().lastIndex, 'what the down manager lacks was compacted away');

    const snapshotsBefore = cluster.hub.sentOf('snapshot');
    const back = await cluster.restart(down.id);
    assert.deepEqual(await cluster.converged(), state);
    assert.ok(cluster.hub.sentOf('snapshot') > snapshotsBefore, 'it was sent a snapshot');
    assert.deepEqual(back.state, state);
    const installed = back.node.status().snapshotIndex;
    assert.ok(installed > 0);
    await settled(async () => (await snapshotOnDisk(back)).index >= installed);
    assert.ok((await snapshotOnDisk(back)).index >= installed, 'and saved it');

    // It goes on from there like the others.
    await leader.proposer.propose(createService(99));
    const after = await cluster.converged();
    assert.deepEqual(back.state, after);
  });

  it('restores a manager from its snapshot and log alone, after a clean stop', async () => {
    await writeMany();
    const before = await cluster.converged();
    const member = cluster.follower();
    await cluster.stopMember(member.id);
    // Nobody to talk to: what it ends up with comes from its own disk.
    cluster.isolate(member.id);
    const restarted = await cluster.restart(member.id);
    await cluster.waitUntil(() => isDeepStrictEqual(restarted.state, before), 5_000, `${member.id} to restore its state from disk`);
    assert.equal(restarted.node.status().applied, restarted.node.status().commit);
    assert.ok(restarted.node.status().snapshotIndex > 0, 'it started from a snapshot');
  });

  it('restores the same state when a manager that took snapshots is killed and restarted', async () => {
    await writeMany();
    const before = await cluster.converged();
    const old = cluster.leader()!;
    await cluster.kill(old.id);
    await cluster.restart(old.id);
    await cluster.waitForLeader();
    assert.deepEqual(await cluster.converged(), before);
    assert.deepEqual(cluster.member(old.id).state, before);
  });
});
