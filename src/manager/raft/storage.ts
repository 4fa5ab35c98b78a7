/**
 * What the Raft driver needs from durable storage. The pure core keeps the log since its last snapshot in
 * memory; storage makes each Ready batch durable before its messages are sent, and gives everything back at
 * start. Implementations: the on-disk one in src/store/raft/ and an in-memory one for simulations, which can
 * also model a crash that loses every write not yet made durable.
 */

import type { Entry, HardState, Snapshot } from './types.ts';

export interface PersistedRaftState {
  hardState: HardState;
  /** The newest snapshot, or null before the first one. */
  snapshot: Snapshot | null;
  /** Entries after the snapshot, in index order, contiguous. */
  entries: Entry[];
}

export interface RaftUpdate {
  hardState?: HardState;
  /**
   * Entries to append. An entry whose index is already stored replaces it and every entry after it (a follower
   * truncating a conflicting suffix).
   */
  entries: Entry[];
  /** A snapshot received from the leader or taken locally; entries it covers may be dropped. */
  snapshot?: Snapshot;
  /**
   * Make the commit index durable now, not lazily: set when a membership change was committed. A member restarted
   * from a commit index older than the change would otherwise rebuild the older membership — after a cluster grew
   * from one manager, a lone voter that elects itself.
   */
  durableCommit?: boolean;
}

export interface RaftStorage {
  load(): Promise<PersistedRaftState>;
  /** Durable when it resolves: one write barrier per call, however many entries it holds. */
  save(update: RaftUpdate): Promise<void>;
  /** Forgets entries up to and including `index`, which a saved snapshot covers. */
  compact(index: number): Promise<void>;
  close(): Promise<void>;
}
