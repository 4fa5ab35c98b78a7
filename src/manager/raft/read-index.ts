/**
 * Linearizable reads without writing to the log (the Raft thesis, §6.4). The leader notes its commit index when a
 * read arrives, then confirms it is still the leader by a heartbeat round: once a quorum answers a heartbeat sent
 * after the read arrived, no other leader can have committed anything newer, so any member that has applied up to
 * the noted index can serve the read. One confirmed heartbeat confirms every read queued before it.
 */

import { hasQuorum } from './quorum.ts';
import type { RaftNode } from './raft.ts';
import { broadcastHeartbeat } from './replication.ts';
import type { MemberId } from './types.ts';

export interface PendingRead {
  /** The commit index when the read arrived: the state the read must at least see. */
  index: number;
  /** The requester's context, returned with the ReadState. */
  context: string;
  /** Who asked: the leader itself or a follower that forwarded the read. */
  from: MemberId;
  /** The leader-side id carried by heartbeats; unique per leader process, so contexts may repeat safely. */
  seq: number;
  acks: Set<MemberId>;
}

export class ReadIndexQueue {
  private pending: PendingRead[] = [];
  private seq = 0;

  /** Queues a read and returns the heartbeat context that confirms it. */
  add(index: number, context: string, from: MemberId, self: MemberId): string {
    this.seq += 1;
    this.pending.push({ index, context, from, seq: this.seq, acks: new Set([self]) });
    return String(this.seq);
  }

  /** The context for a heartbeat that confirms every queued read, or undefined when none waits. */
  latestContext(): string | undefined {
    const last = this.pending.at(-1);
    return last ? String(last.seq) : undefined;
  }

  /**
   * A member answered the heartbeat carrying `ctx`: it acknowledges that read and every older one. Returns the
   * reads now confirmed by a quorum of `voters`, oldest first.
   */
  ack(ctx: string, from: MemberId, voters: readonly MemberId[]): PendingRead[] {
    const seq = Number(ctx);
    if (!Number.isSafeInteger(seq)) return [];
    let confirmed = -1;
    for (let i = 0; i < this.pending.length && this.pending[i].seq <= seq; i++) {
      const read = this.pending[i];
      read.acks.add(from);
      if (hasQuorum(voters, (id) => read.acks.has(id))) confirmed = i;
    }
    return confirmed < 0 ? [] : this.pending.splice(0, confirmed + 1);
  }

  /** Releases reads that a shrunken voter set now confirms (after a member is removed). */
  confirmedBy(voters: readonly MemberId[]): PendingRead[] {
    let confirmed = -1;
    for (let i = 0; i < this.pending.length; i++) {
      const read = this.pending[i];
      if (hasQuorum(voters, (id) => read.acks.has(id))) confirmed = i;
    }
    return confirmed < 0 ? [] : this.pending.splice(0, confirmed + 1);
  }

  /** Leadership lost: the queued reads can no longer be confirmed (their requesters time out and retry). */
  clear(): void {
    this.pending = [];
  }

  get size(): number {
    return this.pending.length;
  }
}

/** Leader side: a read asked by `from` (itself or a follower). */
export function requestRead(r: RaftNode, from: MemberId, context: string): void {
  // Until an entry of its own term is committed, a new leader's commit index may lag what the previous leader
  // committed (and acknowledged to clients): the read waits.
  if (r.log.term(r.log.committed) !== r.term) {
    r.readsAwaitingCommit.push({ from, context });
    return;
  }
  const seq = r.reads.add(r.log.committed, context, from, r.id);
  const confirmed = r.reads.confirmedBy(r.conf.voters);
  if (confirmed.length > 0) deliverReads(r, confirmed);
  else broadcastHeartbeat(r, seq);
}

/** A heartbeat answer carrying `ctx` arrived from `from`. */
export function confirmReads(r: RaftNode, ctx: string, from: MemberId): void {
  deliverReads(r, r.reads.ack(ctx, from, r.conf.voters));
}

/** The leader's first entry of its term is committed, or the voters changed: serve what can now be served. */
export function releaseReads(r: RaftNode): void {
  if (r.role !== 'leader' || r.log.term(r.log.committed) !== r.term) return;
  const waiting = r.readsAwaitingCommit;
  r.readsAwaitingCommit = [];
  for (const { from, context } of waiting) requestRead(r, from, context);
  deliverReads(r, r.reads.confirmedBy(r.conf.voters));
}

function deliverReads(r: RaftNode, reads: PendingRead[]): void {
  for (const read of reads) {
    if (read.from === r.id) r.readStates.push({ index: read.index, context: read.context });
    else r.send({ type: 'read-index-response', to: read.from, index: read.index, context: read.context });
  }
}
