/**
 * The node's persistent state in a lowdb JSON store under the data dir: its identity and the cluster state.
 * Every saved document carries a schema version; `migrate` upgrades older documents on load, and a newer one
 * (written by a later swarmlet) is refused rather than misread.
 */

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Low } from 'lowdb';
import { SwarmletError } from '../errors.ts';
import type { ClusterState } from '../manager/state/cluster-state.ts';
import { DurableJSONFile } from './durable-json-file.ts';

export const SCHEMA_VERSION = 1;

export interface StoredState {
  schemaVersion: number;
  node: { id: string };
  /** Null until the node creates or joins a cluster. */
  cluster: ClusterState | null;
}

export const STATE_FILE = 'state.json';

function migrate(file: string, data: StoredState): StoredState {
  if (typeof data.schemaVersion !== 'number') {
    throw new SwarmletError('corrupt_state', `state file ${file} has no schema version: move it away to start afresh`);
  }
  if (data.schemaVersion > SCHEMA_VERSION) {
    throw new SwarmletError(
      'corrupt_state',
      `state file ${file} was written by a newer swarmlet (schema ${data.schemaVersion}, this one reads up to ${SCHEMA_VERSION}): run the newer version`,
    );
  }
  // Version 1 is the first; later versions add their upgrade steps here, one per version.
  return data;
}

/** A write interrupted by kill -9 leaves its temporary file (named by the dead process's PID); nothing reads it. */
async function removeStaleTempFiles(dataDir: string): Promise<void> {
  for (const name of await fs.readdir(dataDir)) {
    if (name.startsWith(`.${STATE_FILE}.`) && name.endsWith('.tmp')) await fs.rm(path.join(dataDir, name), { force: true });
  }
}

export class StateStore {
  private readonly db: Low<StoredState>;
  private readonly file: DurableJSONFile<StoredState>;

  private constructor(db: Low<StoredState>, file: DurableJSONFile<StoredState>) {
    this.db = db;
    this.file = file;
  }

  /** Opens (or creates) the store; `newNodeId` is called only when the node has no identity yet. */
  static async open(dataDir: string, newNodeId: () => string): Promise<StateStore> {
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(dataDir, STATE_FILE);
    await removeStaleTempFiles(dataDir);
    const adapter = new DurableJSONFile<StoredState>(file);
    const db = new Low<StoredState>(adapter, {
      schemaVersion: SCHEMA_VERSION,
      node: { id: newNodeId() },
      cluster: null,
    });
    const existing = await db.adapter.read();
    if (existing) {
      db.data = migrate(file, existing);
    } else {
      await db.write();
    }
    return new StateStore(db, adapter);
  }

  get data(): Readonly<StoredState> {
    return this.db.data;
  }

  /** Completed durable writes since open. */
  get writes(): number {
    return this.file.writes;
  }

  /**
   * The cluster state as it is on disk, after a failed save: the caller rolls back to it, so a change that could
   * not be stored is not kept either.
   */
  restoreDurable(): ClusterState | null {
    const durable = this.file.lastDurable ? (JSON.parse(this.file.lastDurable) as StoredState).cluster : null;
    this.db.data.cluster = durable;
    return durable;
  }

  /** Saves the cluster state durably; callers serialise their saves (the proposer does). */
  saveCluster(cluster: ClusterState | null): Promise<void> {
    this.db.data.cluster = cluster;
    return this.db.write();
  }
}
