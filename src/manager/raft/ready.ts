/**
 * A Ready is everything the core needs done outside itself since the last one. The driver handles it in this
 * fixed order, then calls advance(ready):
 *
 *   1. persist — save `hardState`, `entries` and `snapshot` to RaftStorage in one durable write (when
 *      `mustSync`). Nothing else may happen first: a vote or an acknowledgement sent before its state is durable
 *      can be forgotten by a crash, and Raft's safety rests on members keeping their promises.
 *   2. send — hand `messages` to the transport (they may be lost; Raft retries).
 *   3. apply — restore the state machine from `snapshot` if there is one, then apply `committedEntries` in
 *      order; serve each ReadState once the state machine has applied its index.
 *   4. advance — core.advance(ready): the core learns what is now stable and applied.
 *
 * The driver may keep calling step() and tick() while it handles a Ready, but must advance one Ready before
 * asking for the next.
 */

import type { Entry, HardState, Message, ReadState, Snapshot, SoftState } from './types.ts';

export interface Ready {
  /** Set when the role or the known leader changed: informational, never persisted. */
  softState?: SoftState;
  /** Set when term, vote or commit changed. */
  hardState?: HardState;
  /** Entries to append to storage; one at an index already stored replaces it and every entry after it. */
  entries: Entry[];
  /** A snapshot received from the leader: persist it, then restore the state machine from it. */
  snapshot?: Snapshot;
  /** To send once the above is durable. */
  messages: Message[];
  /** Committed entries to apply, in order, after the snapshot if any. */
  committedEntries: Entry[];
  /** Linearizable reads confirmed since the last Ready. */
  readStates: ReadState[];
  /**
   * Whether the write must be durable before the messages go out. False when only the commit index changed:
   * a lost commit index is learned again from the leader, so storage may batch it with the next write.
   */
  mustSync: boolean;
}

export function isEmptyReady(rd: Ready): boolean {
  return (
    rd.softState === undefined &&
    rd.hardState === undefined &&
    rd.snapshot === undefined &&
    rd.entries.length === 0 &&
    rd.messages.length === 0 &&
    rd.committedEntries.length === 0 &&
    rd.readStates.length === 0
  );
}

export function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
