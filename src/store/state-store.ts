/**
 * The node's own record in a lowdb JSON store under the data dir: its identity, with a schema version so later
 * versions can migrate it and an older swarmlet refuses a newer file rather than misreading it. The cluster state
 * itself lives in the Raft log and snapshots under `raft/` (src/store/raft/).
 *
 * Schema history: 1 held the whole cluster state here; 2 moved it behind Raft (migrated on first start).
 */

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Low } from 'lowdb';
import { SwarmletError } from '../errors.ts';
import type { Logger } from '../util/logger.ts';
import { DurableJSONFile } from './durable-json-file.ts';
import { migrateFromV1, type StoredStateV1 } from './raft/migrate.ts';

export const SCHEMA_VERSION = 2;

export interface StoredState {
  schemaVersion: number;
  node: { id: string };
}

export const STATE_FILE = 'state.json';

/** A write interrupted by kill -9 leaves its temporary file (named by the dead process's PID); nothing reads it. */
async function removeStaleTempFiles(dataDir: string): Promise<void> {
  for (const name of await fs.readdir(dataDir)) {
    if (name.startsWith(`.${STATE_FILE}.`) && name.endsWith('.tmp')) await fs.rm(path.join(dataDir, name), { force: true });
  }
}

/** Brings an older document up to this version, one step per version; the Raft files are written first. */
async function upgrade(dataDir: string, file: string, data: StoredState, log?: Logger): Promise<StoredState | null> {
  if (typeof data.schemaVersion !== 'number' || !data.node || typeof data.node.id !== 'string') {
    throw new SwarmletError('corrupt_state', `state file ${file} has no schema version or node identity: move it away to start afresh`);
  }
  if (data.schemaVersion > SCHEMA_VERSION) {
    throw new SwarmletError(
      'corrupt_state',
      `state file ${file} was written by a newer swarmlet (schema ${data.schemaVersion}, this one reads up to ${SCHEMA_VERSION}): run the newer version`,
    );
  }
  if (data.schemaVersion === SCHEMA_VERSION) return null;
  // 1 → 2: the cluster state becomes the Raft log's first snapshot. A crash before state.json is rewritten
  // simply runs the migration again, which recognises its own earlier result.
  await migrateFromV1(dataDir, data as StoredStateV1, log);
  return { schemaVersion: SCHEMA_VERSION, node: data.node };
}

export class StateStore {
  private readonly db: Low<StoredState>;

  private constructor(db: Low<StoredState>) {
    this.db = db;
  }

  /** Opens (or creates) the store; `newNodeId` is called only when the node has no identity yet. */
  static async open(dataDir: string, newNodeId: () => string, log?: Logger): Promise<StateStore> {
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    await removeStaleTempFiles(dataDir);
    const file = path.join(dataDir, STATE_FILE);
    const db = new Low<StoredState>(new DurableJSONFile<StoredState>(file), { schemaVersion: SCHEMA_VERSION, node: { id: newNodeId() } });
    const existing = await db.adapter.read();
    if (!existing) {
      await db.write();
      return new StateStore(db);
    }
    const upgraded = await upgrade(dataDir, file, existing, log);
    db.data = upgraded ?? existing;
    if (upgraded) await db.write();
    return new StateStore(db);
  }

  get data(): Readonly<StoredState> {
    return this.db.data;
  }
}
