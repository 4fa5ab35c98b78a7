/**
 * The reference RaftStorage: what the on-disk one must be indistinguishable from, written as plainly as
 * possible (an array and three fields). The property test runs both side by side; the contract suite runs on
 * both.
 *
 * `lazyCommit` mirrors DiskRaftStorage's policy (commit is durable only with a term or vote change, or at
 * close, and never beyond what was stored before), so that the property test can check the loaded commit
 * exactly rather than within bounds.
 */

import type { PersistedRaftState, RaftStorage, RaftUpdate } from '../../../src/manager/raft/storage.ts';
import type { Entry, HardState, Snapshot } from '../../../src/manager/raft/types.ts';

const copy = <T>(value: T): T => structuredClone(value);

export class ModelRaftStorage implements RaftStorage {
  /** Every stored entry, covered by the snapshot or not, contiguous from log[0].index. */
  log: Entry[] = [];
  /** Where the next entry goes when `log` is empty. */
  private emptyNext = 1;
  hardState: HardState = { term: 0, vote: '', commit: 0 };
  /** The commit a restart would find. */
  private durableCommit = 0;
  snapshot: Snapshot | null = null;
  private readonly lazyCommit: boolean;

  constructor(options: { lazyCommit?: boolean } = {}) {
    this.lazyCommit = options.lazyCommit ?? false;
  }

  /** A model holding what a storage loaded: a restarted member's view. */
  static fromPersisted(state: PersistedRaftState): ModelRaftStorage {
    const model = new ModelRaftStorage();
    model.hardState = { ...state.hardState };
    model.durableCommit = state.hardState.commit;
    model.snapshot = copy(state.snapshot);
    model.log = copy(state.entries);
    model.emptyNext = model.base + 1;
    return model;
  }

  clone(): ModelRaftStorage {
    const twin = new ModelRaftStorage({ lazyCommit: this.lazyCommit });
    twin.log = copy(this.log);
    twin.emptyNext = this.emptyNext;
    twin.hardState = { ...this.hardState };
    twin.durableCommit = this.durableCommit;
    twin.snapshot = copy(this.snapshot);
    return twin;
  }

  /** Drops `index` and everything after it: the state halfway through replacing a conflicting suffix. */
  truncateFrom(index: number): void {
    this.log = this.log.filter((e) => e.index < index);
    if (this.log.length === 0) this.emptyNext = index;
  }

  get base(): number {
    return this.snapshot?.metadata.index ?? 0;
  }

  get nextIndex(): number {
    return this.log.length ? this.log[this.log.length - 1].index + 1 : this.emptyNext;
  }

  get lastIndex(): number {
    return this.nextIndex - 1;
  }

  get lastStored(): number {
    return Math.max(this.base, this.lastIndex);
  }

  termAt(index: number): number | undefined {
    return this.log.find((e) => e.index === index)?.term;
  }

  async load(): Promise<PersistedRaftState> {
    const commit = Math.min(Math.max(this.lazyCommit ? this.durableCommit : this.hardState.commit, this.base), this.lastIndex);
    this.hardState = { ...this.hardState, commit };
    this.durableCommit = this.lazyCommit ? this.durableCommit : commit;
    return { hardState: { ...this.hardState }, snapshot: copy(this.snapshot), entries: copy(this.log.filter((e) => e.index > this.base)) };
  }

  async save(update: RaftUpdate): Promise<void> {
    if (update.hardState) {
      const changed = update.hardState.term !== this.hardState.term || update.hardState.vote !== this.hardState.vote;
      this.hardState = { ...update.hardState };
      if (!this.lazyCommit) this.durableCommit = update.hardState.commit;
      else if (changed) this.durableCommit = Math.min(update.hardState.commit, this.lastStored);
    }
    const snapshot = update.snapshot;
    if (snapshot && snapshot.metadata.index > this.base) {
      if (this.termAt(snapshot.metadata.index) !== snapshot.metadata.term) {
        this.log = [];
        this.emptyNext = snapshot.metadata.index + 1;
      }
      this.snapshot = copy(snapshot);
    }
    const entries = update.entries.filter((e) => e.index > this.base);
    if (entries.length === 0) return;
    if (entries[0].index > this.nextIndex) throw new Error('gap');
    this.log = this.log.filter((e) => e.index < entries[0].index);
    if (this.log.length === 0) this.emptyNext = entries[0].index;
    this.log.push(...copy(entries));
  }

  async compact(index: number): Promise<void> {
    if (index > this.base) throw new Error('beyond the snapshot');
    const next = this.nextIndex;
    this.log = this.log.filter((e) => e.index > index);
    if (this.log.length === 0) this.emptyNext = Math.max(next, this.base + 1);
  }

  async close(): Promise<void> {
    if (this.lazyCommit) this.durableCommit = Math.max(this.durableCommit, Math.min(this.hardState.commit, this.lastStored));
  }
}
