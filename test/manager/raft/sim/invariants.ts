/**
 * The safety properties of Raft (figure 3 of the paper), checked by the simulator after every event, plus two of
 * the system around it: no committed entry is lost across crashes, and a linearizable read never misses a write
 * committed before it began. Each check is incremental so that it can run after every step of long simulations.
 */

import type { RaftNode } from '../../../../src/manager/raft/raft.ts';
import { quorumSize } from '../../../../src/manager/raft/quorum.ts';
import type { PersistedRaftState } from '../../../../src/manager/raft/storage.ts';
import type { Entry, MemberId } from '../../../../src/manager/raft/types.ts';

/** A member as the checks see it: its live core (null while crashed) and what would survive a crash now. */
export interface MemberView {
  id: MemberId;
  raft: RaftNode | null;
  durable: Readonly<PersistedRaftState>;
}

/** One of the logs a member may campaign or vote with: the one in memory, or the one it would restart with. */
interface LogState {
  lastIndex: number;
  lastTerm: number;
  /** Whether it holds the entry `fp` at `index` (a snapshot holds everything up to its index). */
  holds(index: number, fp: string): boolean;
}

function memoryLog(raft: RaftNode): LogState {
  const log = raft.log;
  return {
    lastIndex: log.lastIndex(),
    lastTerm: log.lastTerm(),
    holds: (i, fp) => i <= log.snapshotIndex || (log.entry(i) !== undefined && fingerprint(log.entry(i)!) === fp),
  };
}

function durableLog(s: Readonly<PersistedRaftState>): LogState {
  const base = s.snapshot?.metadata.index ?? 0;
  const last = s.entries.at(-1);
  return {
    lastIndex: base + s.entries.length,
    lastTerm: last ? last.term : (s.snapshot?.metadata.term ?? 0),
    holds: (i, fp) => i <= base || (s.entries[i - base - 1] !== undefined && fingerprint(s.entries[i - base - 1]) === fp),
  };
}

const atLeastAsUpToDate = (a: LogState, b: LogState) => a.lastTerm > b.lastTerm || (a.lastTerm === b.lastTerm && a.lastIndex >= b.lastIndex);

export class InvariantViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantViolation';
  }
}

const fingerprints = new WeakMap<Entry, string>();

/** What makes an entry that entry: its term, type and content. */
export function fingerprint(e: Entry): string {
  let fp = fingerprints.get(e);
  if (fp === undefined) {
    fp = `${e.term}|${e.type}|${JSON.stringify(e.data)}`;
    fingerprints.set(e, fp);
  }
  return fp;
}

export class Invariants {
  private readonly leaderOfTerm = new Map<number, MemberId>();
  /** "index:term" → the entry's fingerprint and the term of the entry before it. */
  private readonly logEntries = new Map<string, { fp: string; prevTerm: number }>();
  /** index → fingerprint of the entry committed there, as any member learned it. */
  private readonly committed: string[] = [];
  /**
   * index → an upper bound of the term in which it was committed (the term of the first member seen knowing it).
   * Leader completeness only speaks of later terms: a candidate of an older term may still win late.
   */
  private readonly commitTerm: number[] = [];
  /** index → fingerprint of the entry applied there. */
  private readonly applied: string[] = [];
  /** The highest index any member knows committed. */
  maxCommit = 0;
  private readonly checkedCommit = new Map<MemberId, number>();
  private readonly leaderTermSeen = new Map<MemberId, number>();
  /** "voter:term" → the candidate it voted for, from the votes that left it. */
  private readonly votes = new Map<string, MemberId>();

  private fail(message: string): never {
    throw new InvariantViolation(message);
  }

  /**
   * Log matching: two logs holding an entry with the same index and term hold the same entry there and agree on
   * the term before it — so, by induction, on everything before it.
   */
  onPersist(id: MemberId, entries: readonly Entry[], raft: RaftNode): void {
    for (const e of entries) {
      const prevTerm = raft.log.term(e.index - 1);
      if (prevTerm === undefined) this.fail(`${id} persists entry ${e.index} with no entry before it`);
      const key = `${e.index}:${e.term}`;
      const seen = this.logEntries.get(key);
      const fp = fingerprint(e);
      if (!seen) this.logEntries.set(key, { fp, prevTerm });
      else if (seen.fp !== fp || seen.prevTerm !== prevTerm) {
        this.fail(`log matching: ${id} has ${key} = ${fp} after term ${prevTerm}; another member has ${seen.fp} after term ${seen.prevTerm}`);
      }
    }
  }

  /** State-machine safety: no two members apply different entries at one index. */
  onApply(id: MemberId, e: Entry): void {
    const fp = fingerprint(e);
    const seen = this.applied[e.index];
    if (seen === undefined) this.applied[e.index] = fp;
    else if (seen !== fp) this.fail(`state-machine safety: ${id} applies ${fp} at ${e.index}, another member applied ${seen}`);
  }

  /** A restarted member's committed prefix is checked again: what it persisted must not have lost anything. */
  onRestart(id: MemberId, raft: RaftNode): void {
    this.checkedCommit.set(id, raft.log.snapshotIndex);
    this.leaderTermSeen.delete(id);
  }

  /**
   * One vote per term (§5.2): checked on the votes that actually left a member — a vote request is a vote for
   * oneself — since a vote held only in memory and lost in a crash was never cast.
   */
  onVote(voter: MemberId, term: number, candidate: MemberId): void {
    const key = `${voter}:${term}`;
    const earlier = this.votes.get(key);
    if (earlier === undefined) this.votes.set(key, candidate);
    else if (earlier !== candidate) this.fail(`double vote: ${voter} voted for ${earlier} and then ${candidate} in term ${term} (was its vote persisted?)`);
  }

  /**
   * A committed entry must be in every log that could still win an election — the fact leader completeness
   * rests on. Checked when an index is first seen committed, against every member's log in memory and on disk,
   * with every voter voting as generously as either of its own logs allows. This catches an unsafe commit at once,
   * without waiting for the schedule that would overwrite it.
   */
  private checkCommitIsSafe(index: number, fp: string, views: readonly MemberView[], voters: readonly MemberId[]): void {
    const states = new Map<MemberId, LogState[]>();
    for (const v of views) states.set(v.id, [...(v.raft ? [memoryLog(v.raft)] : []), durableLog(v.durable)]);
    for (const x of views) {
      if (!voters.includes(x.id)) continue;
      for (const candidate of states.get(x.id)!) {
        if (candidate.holds(index, fp)) continue;
        const granted = voters.filter((v) => v === x.id || (states.get(v) ?? []).some((s) => atLeastAsUpToDate(candidate, s)));
        if (granted.length >= quorumSize(voters.length)) {
          this.fail(`unsafe commit: entry ${index} (${fp}) is committed, yet ${x.id} could be elected without it by ${granted.join(',')}`);
        }
      }
    }
  }

  /** Election safety, agreement on committed entries, and leader completeness. */
  afterEvent(nodes: readonly MemberView[]): void {
    const fresh: { index: number; fp: string; voters: readonly MemberId[] }[] = [];
    for (const { id, raft } of nodes) {
      if (!raft) continue;
      if (raft.counters.internal > 0) this.fail(`${id} caught an internal error: ${String(raft.lastInternalError)}`);
      const log = raft.log;
      const from = Math.max(this.checkedCommit.get(id) ?? 0, log.snapshotIndex);
      for (let i = from + 1; i <= log.committed; i++) {
        const e = log.entry(i);
        if (!e) this.fail(`${id} claims commit ${log.committed} but has no entry ${i}`);
        const fp = fingerprint(e);
        const seen = this.committed[i];
        if (seen === undefined) {
          this.committed[i] = fp;
          this.commitTerm[i] = raft.term;
          fresh.push({ index: i, fp, voters: raft.conf.voters });
        } else if (seen !== fp) this.fail(`committed entry changed: ${id} has ${fp} committed at ${i}, it was ${seen} (a committed entry was lost or overwritten)`);
      }
      this.checkedCommit.set(id, log.committed);
      if (log.committed > this.maxCommit) this.maxCommit = log.committed;
    }
    for (const c of fresh) this.checkCommitIsSafe(c.index, c.fp, nodes, c.voters);
    for (const { id, raft } of nodes) {
      if (!raft || raft.role !== 'leader') continue;
      const holder = this.leaderOfTerm.get(raft.term);
      if (holder === undefined) this.leaderOfTerm.set(raft.term, id);
      else if (holder !== id) this.fail(`election safety: ${holder} and ${id} both lead term ${raft.term}`);
      if (this.leaderTermSeen.get(id) !== raft.term) {
        this.leaderTermSeen.set(id, raft.term);
        this.checkLeaderCompleteness(id, raft);
      }
    }
  }

  /** Leader completeness: a leader's log holds every entry committed in an earlier term. */
  private checkLeaderCompleteness(id: MemberId, raft: RaftNode): void {
    for (let i = raft.log.snapshotIndex + 1; i <= this.maxCommit; i++) {
      const seen = this.committed[i];
      if (seen === undefined || this.commitTerm[i] >= raft.term) continue;
      const e = raft.log.entry(i);
      if (!e || fingerprint(e) !== seen) {
        this.fail(`leader completeness: ${id} leads term ${raft.term} without committed entry ${i} (${seen}); it has ${e ? fingerprint(e) : 'nothing'}`);
      }
    }
  }

  /** A read served at `index` began when `commitAtInvoke` was already committed somewhere. */
  onRead(id: MemberId, context: string, index: number, commitAtInvoke: number): void {
    if (index < commitAtInvoke) {
      this.fail(`stale read: ${id} served read ${context} at index ${index}, but ${commitAtInvoke} was committed before the read began`);
    }
  }

  /** Every entry ever committed is applied everywhere at the end. */
  checkConverged(nodes: readonly { id: MemberId; applied: number; digest: string }[]): void {
    const digests = new Set(nodes.map((n) => n.digest));
    for (const n of nodes) {
      if (n.applied < this.maxCommit) this.fail(`liveness: ${n.id} applied only ${n.applied} of ${this.maxCommit} after the cluster healed`);
    }
    if (digests.size > 1) this.fail(`replicas differ after healing: ${[...digests].join(' / ')}`);
  }
}
