/**
 * The hard state and the snapshot: small documents replaced whole, rarely, so they live in lowdb JSON files
 * written through DurableJSONFile (temp file, fsync, rename, directory fsync; SHA-256 inside). This wrapper adds
 * what Raft needs on top: a shape check on read, a refusal that names the Raft recovery path, and counting.
 */

import { promises as fs } from 'node:fs';
import { Low } from 'lowdb';
import { SwarmletError } from '../../errors.ts';
import { DurableJSONFile } from '../durable-json-file.ts';
import { corruptRaftState } from './errors.ts';
import type { IoStats } from './io-stats.ts';

/** Barriers DurableJSONFile issues per write: the temporary file, then the directory after the rename. */
const SYNCS_PER_WRITE = 2;

export class RaftStateFile<T> {
  readonly file: string;
  private readonly db: Low<T | null>;
  private readonly valid: (value: unknown) => value is T;
  private readonly stats: IoStats;

  constructor(file: string, valid: (value: unknown) => value is T, stats: IoStats) {
    this.file = file;
    this.db = new Low<T | null>(new DurableJSONFile<T | null>(file), null);
    this.valid = valid;
    this.stats = stats;
  }

  /** The document, or null when the file does not exist; a damaged or foreign file is refused. */
  async read(): Promise<T | null> {
    this.db.data = null; // lowdb keeps what it held when the file is missing
    try {
      await this.db.read();
    } catch (err) {
      if (err instanceof SwarmletError && err.code === 'corrupt_state') throw corruptRaftState(this.file, 'checksum or format', err);
      throw err;
    }
    const data = this.db.data;
    if (data !== null && !this.valid(data)) throw corruptRaftState(this.file, 'not the document it should hold');
    return data;
  }

  /** Replaces the document durably. On failure (a full disk, say) the old file is untouched. */
  async write(data: T): Promise<void> {
    this.db.data = data;
    await this.db.write();
    // DurableJSONFile does its own I/O: count what it wrote by the size of what it left.
    this.stats.bytesWritten += (await fs.stat(this.file)).size;
    this.stats.syncs += SYNCS_PER_WRITE;
  }
}
