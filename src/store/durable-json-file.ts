/**
 * A lowdb adapter whose writes survive kill -9 and power loss: the new content goes to a temporary file that is
 * fsynced, renamed over the old one, and the directory is fsynced so the rename itself is durable. A reader
 * therefore sees the old file or the new one, never a mix. The content carries a SHA-256 of its data, so a file
 * damaged on disk (an SD card that lies, a hand edit) is refused at start instead of being half-read.
 */

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Adapter } from 'lowdb';
import { SwarmletError } from '../errors.ts';

interface Envelope {
  format: 'swarmlet';
  sha256: string;
  data: unknown;
}

const digest = (json: string) => createHash('sha256').update(json).digest('hex');

export class DurableJSONFile<T> implements Adapter<T> {
  readonly file: string;
  /** The data as last read from or written to disk, as JSON: what a crash right now would leave. */
  lastDurable: string | null = null;
  /** Completed writes, for tests and benchmarks of write amplification. */
  writes = 0;

  constructor(file: string) {
    this.file = file;
  }

  private corrupt(reason: string): SwarmletError {
    return new SwarmletError(
      'corrupt_state',
      `state file ${this.file} is damaged (${reason}). swarmlet will not guess: restore the file from a backup, ` +
        `or move it away (mv ${this.file} ${this.file}.damaged) to start this node afresh — it then leaves its cluster.`,
    );
  }

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    let envelope: Envelope;
    try {
      envelope = JSON.parse(text) as Envelope;
    } catch (err) {
      throw this.corrupt(`not valid JSON: ${(err as Error).message}`);
    }
    if (!envelope || envelope.format !== 'swarmlet' || typeof envelope.sha256 !== 'string' || !('data' in envelope)) {
      throw this.corrupt('not a swarmlet state file');
    }
    const json = JSON.stringify(envelope.data);
    if (digest(json) !== envelope.sha256) throw this.corrupt('checksum mismatch');
    this.lastDurable = json;
    return envelope.data as T;
  }

  async write(data: T): Promise<void> {
    const json = JSON.stringify(data);
    const text = `{"format":"swarmlet","sha256":"${digest(json)}","data":${json}}\n`;
    const dir = path.dirname(this.file);
    const temp = path.join(dir, `.${path.basename(this.file)}.${process.pid}.tmp`);
    try {
      const handle = await fs.open(temp, 'w', 0o600);
      try {
        await handle.writeFile(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temp, this.file);
    } catch (err) {
      // The old file is untouched; only the temporary one may be partial.
      await fs.rm(temp, { force: true });
      const code = (err as NodeJS.ErrnoException).code;
      const hint = code === 'ENOSPC' ? ': the disk is full; free some space and swarmlet carries on' : '';
      throw new SwarmletError('internal', `could not save ${this.file} (${code ?? (err as Error).message})${hint}`, { cause: err });
    }
    const dirHandle = await fs.open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
    this.lastDurable = json;
    this.writes += 1;
  }
}
