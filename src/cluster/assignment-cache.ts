/**
 * The node's last assignments, kept on disk, so that a node that restarts while no manager is reachable (a power
 * cut in a field deployment, a Pi rebooted while the managers' box is off) runs its tasks again instead of
 * waiting for a manager. The cache is what the leader last pushed; once a leader answers, its assignments
 * replace it and the agent reconciles — tasks moved elsewhere meanwhile are stopped.
 *
 * Pushes come in bursts (a scale-up changes a node's assignments many times in a second) and each write is
 * fsynced on an SD card, so writes are coalesced: at most one per `delayMs`, always of the newest assignments.
 * A damaged cache is a cache: it is set aside with a warning, never a reason not to start.
 */

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Assignment } from '../agent/assignment.ts';
import { describeError } from '../errors.ts';
import { DurableJSONFile } from '../store/durable-json-file.ts';
import type { Logger } from '../util/logger.ts';

export const ASSIGNMENTS_FILE = 'assignments.json';
const DEFAULT_DELAY_MS = 1_000;

interface CachedAssignments {
  /** When the leader pushed them (ms since the epoch), for the log line that says how old they are. */
  savedAt: number;
  assignments: Assignment[];
}

export class AssignmentCache {
  readonly file: string;
  readonly #store: DurableJSONFile<CachedAssignments>;
  readonly #log: Logger;
  readonly #delayMs: number;
  #pending: Assignment[] | null = null;
  /** The newest assignments handed to save, as JSON: the same set again writes nothing. */
  #latest = '';
  #timer: NodeJS.Timeout | null = null;
  #writing: Promise<void> = Promise.resolve();

  constructor(dataDir: string, log: Logger, options: { delayMs?: number } = {}) {
    this.file = path.join(dataDir, ASSIGNMENTS_FILE);
    this.#store = new DurableJSONFile(this.file);
    this.#log = log;
    this.#delayMs = options.delayMs ?? DEFAULT_DELAY_MS;
  }

  /** The cached assignments, or null when there are none (or they could not be read). */
  async load(): Promise<{ savedAt: number; assignments: Assignment[] } | null> {
    try {
      const cached = await this.#store.read();
      if (!cached || !Array.isArray(cached.assignments)) return null;
      return cached;
    } catch (err) {
      this.#log.warn(`ignoring the cached assignments: ${describeError(err)}`);
      await fs.rename(this.file, `${this.file}.damaged`).catch(() => {});
      return null;
    }
  }

  /** Keeps `assignments` as the newest; written within `delayMs`, unless they are what was saved last. */
  save(assignments: Assignment[]): void {
    const json = JSON.stringify(assignments);
    if (json === this.#latest) return;
    this.#latest = json;
    this.#pending = assignments;
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.flush();
    }, this.#delayMs);
    this.#timer.unref();
  }

  /** Writes what is pending now; resolves when it is on disk. */
  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const assignments = this.#pending;
    this.#pending = null;
    if (assignments) {
      this.#writing = this.#writing
        .then(() => this.#store.write({ savedAt: Date.now(), assignments }))
        .catch((err: unknown) => this.#log.warn(`caching assignments: ${describeError(err)}`));
    }
    return this.#writing;
  }

  /** Forgets the cache: the node left its cluster. */
  async remove(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pending = null;
    this.#latest = '';
    await this.#writing;
    await fs.rm(this.file, { force: true });
  }
}
