/**
 * RaftStorage in memory, with a page cache: write() is what a process has handed to the OS, sync() is fsync.
 * crash() forgets everything not yet synced — the power-loss case that kill -9 cannot show, since kill -9 keeps
 * the page cache. The simulator uses the synchronous methods; the async interface is there so the fake passes
 * the same contract as the on-disk storage.
 */

import type { PersistedRaftState, RaftStorage, RaftUpdate } from '../../../../src/manager/raft/storage.ts';

export class MemoryRaftStorage implements RaftStorage {
  private durable: PersistedRaftState;
  private unsynced: { update?: RaftUpdate; compact?: number }[] = [];
  /** Durable writes (syncs that carried something), for write-amplification checks. */
  syncs = 0;

  constructor(initial: PersistedRaftState) {
    this.durable = copyState(initial);
  }

  write(update: RaftUpdate): void {
    this.unsynced.push({ update });
  }

  writeCompact(index: number): void {
    this.unsynced.push({ compact: index });
  }

  /**
   * fsync. A write that cannot be applied (entries leaving a gap, a compaction beyond the snapshot) is refused
   * here, as the disk storage refuses it in save(): the writes before it are durable, and it is dropped with
   * those after it, leaving nothing of itself behind, so the next sync or load does not meet it again.
   */
  sync(): void {
    const ops = this.unsynced;
    if (ops.length === 0) return;
    this.unsynced = [];
    this.syncs++;
    for (const op of ops) {
      if (op.update) applyUpdate(this.durable, op.update);
      if (op.compact !== undefined) compactState(this.durable, op.compact);
    }
  }

  /** Power loss: the page cache is gone. */
  crash(): void {
    this.unsynced = [];
  }

  /** What survives a crash now. */
  durableState(): PersistedRaftState {
    return copyState(this.durable);
  }

  /** The durable state itself, without copying: callers must not change it. */
  durableView(): Readonly<PersistedRaftState> {
    return this.durable;
  }

  async load(): Promise<PersistedRaftState> {
    this.sync();
    return this.durableState();
  }

  async save(update: RaftUpdate): Promise<void> {
    this.write(update);
    this.sync();
  }

  async compact(index: number): Promise<void> {
    this.writeCompact(index);
    this.sync();
  }

  async close(): Promise<void> {}
}

function copyState(s: PersistedRaftState): PersistedRaftState {
  return { hardState: { ...s.hardState }, snapshot: s.snapshot, entries: s.entries.slice() };
}

/** Applies an update whole or, when it cannot be applied, throws before changing anything. */
function applyUpdate(state: PersistedRaftState, update: RaftUpdate): void {
  let snapshot = state.snapshot;
  let log = state.entries;
  if (update.snapshot) {
    const snap = update.snapshot;
    const before = snapshot?.metadata.index ?? 0;
    if (snap.metadata.index > before || !snapshot) {
      const at = log.find((e) => e.index === snap.metadata.index);
      // Entries after the snapshot survive only if the log agrees with it at its index.
      log = at && at.term === snap.metadata.term ? log.filter((e) => e.index > snap.metadata.index) : [];
      snapshot = snap;
    }
  }
  const first = update.entries[0];
  if (first) {
    const base = snapshot?.metadata.index ?? 0;
    const last = base + log.length;
    if (first.index > last + 1 || first.index <= base) {
      throw new Error(`storage: append at ${first.index} does not follow the log (${base + 1}..${last})`);
    }
    // Nothing is changed before this point, so a refused update leaves the state as it was.
    log.length = first.index - base - 1;
    log.push(...update.entries);
  }
  state.snapshot = snapshot;
  state.entries = log;
  if (update.hardState) state.hardState = { ...update.hardState };
}

function compactState(state: PersistedRaftState, index: number): void {
  if (!state.snapshot || state.snapshot.metadata.index < index) throw new Error(`storage: compact(${index}) beyond the saved snapshot`);
  state.entries = state.entries.filter((e) => e.index > index);
}
