/**
 * RaftStorage on the local disk, under `<dataDir>/raft/`:
 *
 *   hardstate.json   term, vote and commit (lowdb + DurableJSONFile)
 *   snapshot.json    the newest snapshot (lowdb + DurableJSONFile)
 *   log/<first>.jsonl  the entries after (and around) the snapshot, in append-only segments
 *
 * What a save costs, because an SD card wears by the write:
 * - entries only (the steady state): one append of ~22 bytes plus each entry's JSON, and one fdatasync;
 * - nothing new (heartbeats, or only `commit` moved): no I/O at all;
 * - a new term or vote (elections): hardstate.json is rewritten first (about 140 bytes, two barriers);
 * - a snapshot: snapshot.json is rewritten; rare by design.
 *
 * `commit` is written lazily — with the next term or vote change, and at close() — because Raft does not need it
 * durable: a restarted member learns it again from the leader, and a lone one commits its log again when it
 * elects itself. Writing it on every commit would rewrite a file per committed entry. load() therefore returns a
 * commit that may be behind the last one saved, but is never ahead of what is stored and never behind the
 * snapshot. What is written is never beyond the entries already stored, so at start a commit that the snapshot
 * and log do not reach means committed entries were lost, and is refused.
 *
 * Order within a save: hard state, then snapshot, then log. Each step is safe on its own if a crash stops the
 * save after it: a term or vote made durable but never sent is harmless, and the snapshot is the commit point of
 * an install (load() finishes an interrupted one). A full disk fails the save with a clear error and leaves the
 * step that failed as it was (no half-written line, no new empty file); the next save may succeed.
 */

import path from 'node:path';
import type { PersistedRaftState, RaftStorage, RaftUpdate } from '../../manager/raft/storage.ts';
import type { Entry, HardState, Snapshot, SnapshotMetadata } from '../../manager/raft/types.ts';
import { SwarmletError } from '../../errors.ts';
import { consoleLogger, type Logger } from '../../util/logger.ts';
import { corruptRaftState, isDiskFull, isStorageFailure, storageFailed } from './errors.ts';
import { countingFs, IoStats } from './io-stats.ts';
import { nodeRaftFs, type RaftFs } from './raft-fs.ts';
import { scanLog, SegmentLog } from './segment-log.ts';
import { RaftStateFile } from './state-file.ts';
import { isHardState, isSnapshot } from './validate.ts';

/** Segments roll at this size: small enough to delete soon after a snapshot, large enough to be few. */
export const DEFAULT_SEGMENT_BYTES = 1024 * 1024;

export interface RaftPaths {
  dir: string;
  hardState: string;
  snapshot: string;
  log: string;
}

export function raftPaths(dataDir: string): RaftPaths {
  const dir = path.join(dataDir, 'raft');
  return { dir, hardState: path.join(dir, 'hardstate.json'), snapshot: path.join(dir, 'snapshot.json'), log: path.join(dir, 'log') };
}

export interface DiskRaftStorageOptions {
  /** swarmlet's data dir; the Raft state lives in its `raft/` subdirectory. */
  dataDir: string;
  log?: Logger;
  segmentBytes?: number;
  /** The file system under the log; tests inject faults here. */
  fs?: RaftFs;
}

const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };
/** The temporary files DurableJSONFile leaves when killed mid-write. */
const TEMP_FILE = /^\..+\.\d+\.tmp$/;

export class DiskRaftStorage implements RaftStorage {
  readonly paths: RaftPaths;
  /** Bytes written and barriers issued since this object was made. */
  readonly stats = new IoStats();
  private readonly fs: RaftFs;
  private readonly log: Logger;
  private readonly segmentBytes: number;
  private readonly hardStateFile: RaftStateFile<HardState>;
  private readonly snapshotFile: RaftStateFile<Snapshot>;
  private entries: SegmentLog | null = null;
  /** What hardstate.json holds. */
  private durable: HardState = EMPTY_HARD_STATE;
  /** The newest commit saved, durable or not. */
  private commit = 0;
  private snapshot: SnapshotMetadata | null = null;
  private failure: SwarmletError | null = null;
  private closed = false;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(options: DiskRaftStorageOptions) {
    this.paths = raftPaths(options.dataDir);
    this.fs = countingFs(options.fs ?? nodeRaftFs, this.stats);
    this.log = options.log ?? consoleLogger('info', 'raft-storage');
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.hardStateFile = new RaftStateFile(this.paths.hardState, isHardState, this.stats);
    this.snapshotFile = new RaftStateFile(this.paths.snapshot, isSnapshot, this.stats);
  }

  /**
   * Reads and checks everything; refuses damage (corrupt_state) before changing any file. Then finishes what a
   * crash interrupted: a torn last line is cut off, and a log that a newer snapshot supersedes is dropped.
   */
  load(): Promise<PersistedRaftState> {
    return this.exclusive(async () => {
      await this.entries?.close();
      this.entries = null;
      this.failure = null;
      this.closed = false;
      await this.fs.mkdirp(this.paths.log);
      await this.removeTempFiles();

      const hardState = await this.hardStateFile.read();
      const snapshot = await this.snapshotFile.read();
      const scan = await scanLog(this.fs, this.paths.log);
      const base = snapshot?.metadata.index ?? 0;
      if (!hardState && (snapshot || scan.entries.length > 0)) {
        throw corruptRaftState(this.paths.hardState, 'missing while a snapshot or log exists: the vote this manager cast would be forgotten');
      }
      const first = scan.entries[0];
      if (first && first.index > base + 1) {
        throw corruptRaftState(scan.segments[0].file, `the log starts at entry ${first.index} but the snapshot ends at entry ${base}: entries are missing`);
      }
      const highestTerm = newestTerm(scan.entries, snapshot?.metadata.term ?? 0);
      if (hardState && hardState.term < highestTerm) {
        throw corruptRaftState(this.paths.hardState, `its term ${hardState.term} is older than term ${highestTerm} in the log`);
      }
      // A snapshot install cut short leaves the old log behind a snapshot that it does not reach or contradicts.
      const logLast = scan.entries.length > 0 ? scan.entries[scan.entries.length - 1].index : base;
      const atBase = scan.entries.find((e) => e.index === base);
      const superseded = snapshot !== null && (logLast < base || (atBase !== undefined && atBase.term !== snapshot.metadata.term));
      const lastStored = superseded ? base : Math.max(base, logLast);
      // The hard state's commit is never written beyond what was stored (see save), so entries it names that
      // are gone were lost: a deleted snapshot or newest segment, or a disk that dropped acknowledged writes.
      if (hardState && hardState.commit > lastStored) {
        throw corruptRaftState(this.paths.dir, `entries up to ${hardState.commit} were committed, but the snapshot and the log end at ${lastStored}: committed entries are missing`);
      }

      const log = await SegmentLog.open(this.fs, scan, { segmentBytes: this.segmentBytes, emptyNext: base + 1, log: this.log });
      this.entries = log;
      let entries = scan.entries.filter((e) => e.index > base);
      if (superseded) {
        this.log.warn(`raft log ${this.paths.log}: dropping entries that the snapshot at ${base} supersedes (a snapshot install cut short)`);
        await log.reset(base + 1);
        entries = [];
      } else if (log.firstIndex === null && log.nextIndex !== base + 1) {
        await log.reset(base + 1); // only empty segment files: nothing to lose
      }

      this.durable = hardState ?? EMPTY_HARD_STATE;
      this.snapshot = snapshot?.metadata ?? null;
      this.commit = Math.min(Math.max(this.durable.commit, base), log.nextIndex - 1);
      return { hardState: { ...this.durable, commit: this.commit }, snapshot, entries };
    });
  }

  save(update: RaftUpdate): Promise<void> {
    return this.exclusive(async () => {
      const log = this.ready();
      const base = this.snapshot?.index ?? 0;
      const snapshot = update.snapshot && update.snapshot.metadata.index > base ? update.snapshot : undefined;
      const newBase = snapshot?.metadata.index ?? base;
      const keepsLog = !snapshot || log.termAt(newBase) === snapshot.metadata.term;
      const entries = update.entries.filter((e) => e.index > newBase);
      checkAppendable(entries, keepsLog ? log.nextIndex : newBase + 1);
      const term = update.hardState?.term ?? this.durable.term;
      if (newestTerm(entries, snapshot?.metadata.term ?? 0) > term) {
        throw new SwarmletError('internal', `raft storage: an entry or snapshot is newer than term ${term}: persist the term with it or before it`);
      }

      await this.guard(async () => {
        if (update.hardState) {
          const { term, vote, commit } = update.hardState;
          this.commit = commit;
          if (term !== this.durable.term || vote !== this.durable.vote) {
            // Never beyond what is already stored, so that load() can tell committed entries that were lost.
            const next = { term, vote, commit: Math.min(commit, this.lastStored()) };
            await this.hardStateFile.write(next);
            this.durable = next;
          }
        }
        if (snapshot) {
          await this.snapshotFile.write(snapshot);
          this.snapshot = snapshot.metadata;
          if (!keepsLog) await log.reset(newBase + 1);
        }
        await log.append(entries);
        // After the entries, so the commit written can cover a membership change that arrived with them.
        const commit = Math.min(this.commit, this.lastStored());
        if (update.durableCommit && commit > this.durable.commit) {
          const next = { ...this.durable, commit };
          await this.hardStateFile.write(next);
          this.durable = next;
        }
      });
    });
  }

  /**
   * Deletes the log segments that hold only entries at or below `index`. The segment being appended to is
   * kept until it is fully covered too, so up to one segment of covered entries may stay on disk.
   */
  compact(index: number): Promise<void> {
    return this.exclusive(async () => {
      const log = this.ready();
      const base = this.snapshot?.index ?? 0;
      if (index > base) throw new SwarmletError('internal', `raft storage: cannot compact to entry ${index}, the snapshot only covers up to ${base}`);
      await log.compact(index);
      if (log.firstIndex === null && log.nextIndex < base + 1) await log.reset(base + 1);
    });
  }

  /**
   * Writes the latest commit if it moved since the hard state was last written — one small write at shutdown,
   * so that a restarted manager applies its committed entries at once — and closes the log. Idempotent.
   */
  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      const commit = this.entries ? Math.min(this.commit, this.lastStored()) : 0;
      if (this.entries && !this.failure && commit > this.durable.commit) {
        const next = { ...this.durable, commit };
        try {
          await this.hardStateFile.write(next);
          this.durable = next;
        } catch (err) {
          this.log.warn(`raft storage: could not record the commit index at shutdown (${(err as Error).message}); it is learned again at start`);
        }
      }
      await this.entries?.close();
      this.entries = null;
    });
  }

  /** The newest index held, in the log or the snapshot. */
  private lastStored(): number {
    return Math.max(this.snapshot?.index ?? 0, (this.entries?.nextIndex ?? 1) - 1);
  }

  private ready(): SegmentLog {
    if (this.failure) throw this.failure;
    if (this.closed || !this.entries) throw new SwarmletError('internal', 'raft storage: load() it before saving (and not after close())');
    return this.entries;
  }

  /** A full disk leaves the storage usable; any other I/O failure stops it until the next load(). */
  private async guard(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      if (isDiskFull(err) && !isStorageFailure(err)) throw err;
      this.failure = storageFailed(err);
      throw this.failure;
    }
  }

  /** One operation at a time, in call order: a save must not interleave with a compaction or another save. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async removeTempFiles(): Promise<void> {
    for (const name of await this.fs.list(this.paths.dir)) {
      if (TEMP_FILE.test(name)) await this.fs.unlink(path.join(this.paths.dir, name));
    }
  }
}

function newestTerm(entries: readonly Entry[], floor: number): number {
  let newest = floor;
  for (const entry of entries) if (entry.term > newest) newest = entry.term;
  return newest;
}

/** Entries must be contiguous and continue (or overwrite) the log; anything else is a bug in the caller. */
function checkAppendable(entries: readonly Entry[], next: number): void {
  if (entries.length === 0) return;
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].index !== entries[0].index + i) {
      throw new SwarmletError('internal', `raft storage: entries to save are not contiguous (entry ${entries[i].index} after ${entries[i - 1].index})`);
    }
  }
  if (entries[0].index > next) {
    throw new SwarmletError('internal', `raft storage: entry ${entries[0].index} would leave a gap after entry ${next - 1}`);
  }
}
