/**
 * The in-memory Raft log since the last snapshot, with the three positions the core reasons about: what is
 * persisted (stable), what is known committed, and what the driver has applied. Invariant:
 * snapshotIndex ≤ applied ≤ committed ≤ lastIndex, and entries are contiguous after snapshotIndex.
 */

import type { Entry } from './types.ts';

export type AppendOutcome =
  | { ok: true; lastNewIndex: number }
  /** The entry at prevIndex is missing or has another term: the leader must back up. */
  | { ok: false; reason: 'mismatch' }
  /** The message would overwrite a committed entry: only a broken or malicious sender does that. */
  | { ok: false; reason: 'committed-conflict' };

const sizes = new WeakMap<Entry, number>();

/** An entry's size as it travels and is stored (JSON), cached because entries are measured more than once. */
export function entryBytes(entry: Entry): number {
  let size = sizes.get(entry);
  if (size === undefined) {
    size = (JSON.stringify(entry.data) ?? 'null').length + 48;
    sizes.set(entry, size);
  }
  return size;
}

export class RaftLog {
  /** The last index and term the snapshot covers (0, 0 before the first snapshot). */
  snapshotIndex: number;
  snapshotTerm: number;
  committed: number;
  applied: number;
  /** The last index handed to storage and acknowledged through advance(). */
  stableIndex: number;
  private entries: Entry[];

  constructor(snapshotIndex: number, snapshotTerm: number, entries: Entry[], committed: number, applied: number) {
    this.snapshotIndex = snapshotIndex;
    this.snapshotTerm = snapshotTerm;
    this.entries = entries.slice();
    this.committed = committed;
    this.applied = applied;
    this.stableIndex = this.lastIndex();
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }

  /** The term of the entry at `index`, or undefined when it was compacted away or does not exist yet. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    return this.entry(index)?.term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.snapshotIndex) return undefined;
    return this.entries[index - this.snapshotIndex - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** The election restriction (§5.4.1): a candidate's log must be at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries [lo, hi], at least one when lo ≤ hi, and no more than `maxBytes` beyond the first. */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = Math.max(lo, this.firstIndex()); i <= Math.min(hi, this.lastIndex()); i++) {
      const entry = this.entry(i)!;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  /**
   * The largest index ≤ `index` whose term is ≤ `term` (never below the snapshot). Used on both sides of fast
   * backtracking: every entry after it has a newer term than the other side's entry there, so it cannot match.
   */
  lastIndexWithTermAtMost(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i > this.snapshotIndex && this.term(i)! > term) i--;
    return Math.max(i, this.snapshotIndex);
  }

  /** Leader side: appends its own new entries (which always follow the last one). */
  append(entries: readonly Entry[]): void {
    for (const entry of entries) this.entries.push(entry);
  }

  /**
   * Follower side of AppendEntries: keeps entries that already match, truncates at the first conflict and appends
   * the rest. `entries` must be contiguous from prevIndex + 1 (the caller validates the message).
   */
  tryAppend(prevIndex: number, prevTerm: number, entries: readonly Entry[]): AppendOutcome {
    if (!this.matchTerm(prevIndex, prevTerm)) return { ok: false, reason: 'mismatch' };
    let i = 0;
    while (i < entries.length && this.matchTerm(entries[i].index, entries[i].term)) i++;
    if (i < entries.length) {
      const conflict = entries[i].index;
      if (conflict <= this.committed) return { ok: false, reason: 'committed-conflict' };
      this.truncateFrom(conflict);
      for (; i < entries.length; i++) this.entries.push(entries[i]);
    }
    return { ok: true, lastNewIndex: prevIndex + entries.length };
  }

  private truncateFrom(index: number): void {
    this.entries.length = index - this.snapshotIndex - 1;
    if (this.stableIndex >= index) this.stableIndex = index - 1;
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    this.committed = Math.min(index, this.lastIndex());
    return true;
  }

  /** Entries not yet handed to storage. */
  unstableEntries(): Entry[] {
    return this.entries.slice(this.stableIndex - this.snapshotIndex);
  }

  /** Storage has `index` (with `term`): ignored when that entry was replaced meanwhile. */
  stableTo(index: number, term: number): void {
    if (this.matchTerm(index, term) && index > this.stableIndex) this.stableIndex = index;
  }

  /** Committed entries the driver has not applied yet. */
  committedUnapplied(): Entry[] {
    return this.slice(this.applied + 1, this.committed);
  }

  appliedTo(index: number): void {
    if (index > this.applied) this.applied = Math.min(index, this.committed);
  }

  /** Replaces everything with a snapshot received from the leader. */
  restore(index: number, term: number): void {
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    this.entries = [];
    this.committed = index;
    // The snapshot itself is persisted through the Ready that carries it; nothing after it exists yet.
    this.stableIndex = index;
  }

  /** Drops entries up to `index` (≤ applied), which a snapshot now covers. */
  compactTo(index: number): void {
    const term = this.term(index)!;
    this.entries = this.entries.slice(index - this.snapshotIndex);
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    if (this.stableIndex < index) this.stableIndex = index;
  }
}
