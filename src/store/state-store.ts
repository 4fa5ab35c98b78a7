/**
 * The node's persistent state in a lowdb JSON store under the data dir: its identity and the cluster state.
 * Every saved document carries a schema version; `migrate` upgrades older documents on load, and a newer one
 * (written by a later swarmlet) is refused rather than misread.
 *
 * Saves are coalesced: while one durable write runs, further saves wait and then write the latest state once,
 * so a burst of changes costs one or two writes, not one per change — SD cards wear by the write.
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

export class StateStore {
  private readonly db: Low<StoredState>;
  private writing: Promise<void> | null = null;
  private queued: Promise<void> | null = null;

  private constructor(db: Low<StoredState>) {
    this.db = db;
  }

  /** Opens (or creates) the store; `newNodeId` is called only when the node has no identity yet. */
  static async open(dataDir: string, newNodeId: () => string): Promise<StateStore> {
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(dataDir, STATE_FILE);
    const db = new Low<StoredState>(new DurableJSONFile<StoredState>(file), {
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
    return new StateStore(db);
  }

  get data(): Readonly<StoredState> {
    return this.db.data;
  }

  /** Saves the cluster state durably; resolves once a write that includes this call's state has completed. */
  saveCluster(cluster: ClusterState | null): Promise<void> {
    this.db.data.cluster = cluster;
    if (this.queued) return this.queued;
    if (!this.writing) return this.startWrite();
    // One write is running with older data: queue exactly one more that will carry everything up to now.
    this.queued = this.writing.catch(() => undefined).then(() => {
      this.queued = null;
      return this.startWrite();
    });
    return this.queued;
  }

  private startWrite(): Promise<void> {
    const write = this.db.write().finally(() => {
      if (this.writing === write) this.writing = null;
    });
    this.writing = write;
    return write;
  }
}
