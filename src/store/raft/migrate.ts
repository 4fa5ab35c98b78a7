/**
 * Upgrades a node written by the foundation's store (state.json, schema version 1, which held the whole
 * ClusterState) to Raft: the cluster state becomes the Raft log's first snapshot.
 *
 * Choices, and why:
 * - Snapshot index = the ClusterState's own `index` (at least 1). Objects carry that counter as their
 *   Version.Index, which clients send back for optimistic concurrency. Starting Raft's index there keeps every
 *   later index above every version already handed out, whether or not the state machine comes to use Raft's
 *   index as its version; starting at 1 would be just as valid for Raft but could let versions repeat.
 * - Term 1, no vote, commit = the snapshot's index: the state was committed (it was durable and acknowledged),
 *   and the first election moves to term 2.
 * - Membership = this node alone as a voter: version 1 had exactly one manager.
 *
 * The caller writes state.json at version 2 only after this resolves, so a crash in between runs this again on
 * the next start; it is idempotent (it recognises its own earlier result) and refuses to merge with any other
 * Raft state it finds.
 */

import type { ClusterState } from '../../manager/state/cluster-state.ts';
import type { Snapshot } from '../../manager/raft/types.ts';
import type { Logger } from '../../util/logger.ts';
import { DiskRaftStorage } from './disk-raft-storage.ts';
import { corruptRaftState } from './errors.ts';

/** state.json as schema version 1 wrote it. */
export interface StoredStateV1 {
  schemaVersion: 1;
  node: { id: string };
  /** Null when the node never created or joined a cluster: there is nothing to migrate. */
  cluster: ClusterState | null;
}

const MIGRATED_TERM = 1;

/** The snapshot a version 1 state becomes. */
export function snapshotFromV1(v1: StoredStateV1 & { cluster: ClusterState }): Snapshot {
  return {
    metadata: { index: Math.max(1, v1.cluster.index), term: MIGRATED_TERM, conf: { voters: [v1.node.id], learners: [] } },
    data: v1.cluster,
  };
}

/**
 * Writes `<dataDir>/raft/` from a version 1 state: hard state and snapshot, no log entries. Durable when it
 * resolves. Returns false (and writes nothing) when the node had no cluster.
 */
export async function migrateFromV1(dataDir: string, v1: StoredStateV1, log?: Logger): Promise<boolean> {
  if (!v1.cluster) return false;
  const snapshot = snapshotFromV1({ ...v1, cluster: v1.cluster });
  const storage = new DiskRaftStorage({ dataDir, log });
  try {
    const existing = await storage.load();
    const fresh = existing.hardState.term === 0 && !existing.snapshot && existing.entries.length === 0;
    const same = (existing.snapshot?.metadata.index ?? snapshot.metadata.index) === snapshot.metadata.index && existing.hardState.term <= MIGRATED_TERM && existing.entries.length === 0;
    if (!fresh && !same) {
      throw corruptRaftState(
        storage.paths.dir,
        'it already holds Raft state while state.json still holds a version 1 cluster; move one of them away',
      );
    }
    await storage.save({
      hardState: { term: MIGRATED_TERM, vote: '', commit: snapshot.metadata.index },
      snapshot,
      entries: [],
    });
    log?.info(`migrated the cluster state (index ${snapshot.metadata.index}) into the Raft log's first snapshot`);
    return true;
  } finally {
    await storage.close();
  }
}
