/**
 * Log replication (§5.3): the leader's side (what to send each follower, what its answers mean, when an entry is
 * committed) and the follower's side (accepting appends, heartbeats and snapshots).
 */

import { entryBytes } from './log.ts';
import type { RaftNode } from './raft.ts';
import { quorumIndex } from './quorum.ts';
import { confirmReads } from './read-index.ts';
import { maybeFinishTransfer } from './transfer.ts';
import type { Message } from './types.ts';
import { appendRangeProblem } from './validate.ts';

/**
 * Sends `to` what it is missing: entries after its `next`, or the snapshot when they were compacted away.
 * Returns whether entries went out, so callers can keep filling a follower's window.
 */
export function sendAppend(r: RaftNode, to: string, sendIfEmpty: boolean): boolean {
  const pr = r.progress.get(to);
  if (!pr || pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.term(prevIndex);
  if (prevTerm === undefined) {
    if (prevIndex < r.log.snapshotIndex && r.snapshot) {
      r.send({ type: 'snapshot', to, snapshot: r.snapshot });
      pr.becomeSnapshot(r.snapshot.metadata.index);
    } else {
      pr.next = Math.min(pr.next, r.log.lastIndex() + 1);
    }
    return false;
  }
  const entries = r.log.slice(pr.next, r.log.lastIndex(), r.config.maxMessageBytes);
  if (entries.length === 0 && !sendIfEmpty) return false;
  r.send({ type: 'append', to, index: prevIndex, logTerm: prevTerm, entries, commit: r.log.committed });
  pr.sent(entries.at(-1)?.index ?? prevIndex, entries.length > 0);
  return entries.length > 0;
}

export function broadcastAppend(r: RaftNode): void {
  for (const id of r.progress.keys()) sendAppend(r, id, true);
}

/** Heartbeats carry no entries and never touch a follower's disk, only a commit index it is known to hold. */
export function broadcastHeartbeat(r: RaftNode, context?: string): void {
  for (const [to, pr] of r.progress) {
    r.send({ type: 'heartbeat', to, commit: Math.min(pr.match, r.log.committed), ...(context === undefined ? {} : { context }) });
  }
}

/**
 * Commits what a quorum of voters holds — but only by counting replicas of an entry from the leader's own term
 * (§5.4.2, figure 8): an older entry on a majority can still be overwritten by a leader that never saw it. Older
 * entries are committed indirectly, with the first entry of the new term (the empty entry a leader appends).
 */
export function maybeCommit(r: RaftNode): boolean {
  let advanced = false;
  while (r.role === 'leader') {
    // The leader counts only what it has persisted itself: "committed" means durable on a quorum, so that even
    // a single-member cluster never reports as committed an entry a crash could still erase.
    const index = quorumIndex(r.conf.voters, (id) => (id === r.id ? r.log.stableIndex : (r.progress.get(id)?.match ?? 0)));
    if (index <= r.log.committed) break;
    if (r.log.term(index) !== r.term && !r.config.faults.commitOldTermByCount) break;
    r.commitTo(index);
    advanced = true;
  }
  return advanced;
}

export function handleAppendResponse(r: RaftNode, m: Message): void {
  const pr = r.progress.get(m.from);
  if (!pr) return r.drop('unknown-member');
  pr.recentActive = true;
  if (m.index! > r.log.lastIndex()) return r.drop('out-of-range');
  if (m.reject) {
    const stale =
      pr.state === 'snapshot' || (pr.state === 'replicate' && m.index! <= pr.match) || (pr.state === 'probe' && m.index! !== pr.next - 1);
    if (stale) return r.drop('stale-response');
    // Fast backtracking: skip every entry whose term shows it cannot match, instead of one index per round trip.
    let next = m.index!;
    if (m.rejectHint !== undefined) {
      const hint = Math.min(m.rejectHint, m.index!);
      next = (m.rejectTerm === undefined ? hint : r.log.lastIndexWithTermAtMost(hint, m.rejectTerm)) + 1;
    }
    pr.becomeProbe();
    pr.next = Math.max(pr.match + 1, Math.min(m.index!, next));
    sendAppend(r, m.from, true);
    return;
  }
  if (!pr.maybeUpdate(m.index!)) return;
  if (pr.state === 'probe' || (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot)) pr.becomeReplicate();
  else if (pr.state === 'replicate') pr.freeTo(m.index!);
  if (maybeCommit(r)) broadcastAppend(r);
  while (sendAppend(r, m.from, false));
  maybeFinishTransfer(r, m.from);
}

export function handleHeartbeatResponse(r: RaftNode, m: Message): void {
  const pr = r.progress.get(m.from);
  if (!pr) return r.drop('unknown-member');
  pr.recentActive = true;
  pr.probeSent = false;
  if (pr.state === 'replicate' && pr.isPaused()) pr.freeFirst();
  if (pr.state === 'snapshot' && pr.snapshotElapsed >= r.config.electionTick) pr.becomeProbe();
  if (pr.match < r.log.lastIndex()) sendAppend(r, m.from, true);
  if (m.context !== undefined) confirmReads(r, m.context, m.from);
}

export function handleAppend(r: RaftNode, m: Message): void {
  if (m.index! < r.log.committed) {
    // Everything up to our commit index matches any leader's log: say where to continue.
    r.send({ type: 'append-response', to: m.from, index: r.log.committed });
    return;
  }
  if (appendRangeProblem(m) !== null) return r.drop('out-of-range');
  if (m.entries!.some((e) => entryBytes(e) > r.config.maxEntryBytes)) return r.drop('oversized');
  const outcome = r.log.tryAppend(m.index!, m.logTerm!, m.entries!);
  if (outcome.ok) {
    r.commitTo(Math.min(m.commit!, outcome.lastNewIndex));
    r.send({ type: 'append-response', to: m.from, index: outcome.lastNewIndex });
  } else if (outcome.reason === 'mismatch') {
    const hint = r.log.lastIndexWithTermAtMost(Math.min(m.index!, r.log.lastIndex()), m.logTerm!);
    r.send({ type: 'append-response', to: m.from, index: m.index!, reject: true, rejectHint: hint, rejectTerm: r.log.term(hint) });
  } else {
    r.drop('conflict');
  }
}

export function handleHeartbeat(r: RaftNode, m: Message): void {
  // The leader sends only a commit index we are known to hold; clamp anyway against a broken peer.
  r.commitTo(Math.min(m.commit!, r.log.lastIndex()));
  r.send({ type: 'heartbeat-response', to: m.from, ...(m.context === undefined ? {} : { context: m.context }) });
}

export function handleSnapshot(r: RaftNode, m: Message): void {
  const { index, term } = m.snapshot!.metadata;
  if (index > r.log.committed) {
    if (r.log.matchTerm(index, term)) r.commitTo(index);
    else r.restoreSnapshot(m.snapshot!);
  }
  r.send({ type: 'append-response', to: m.from, index: r.log.committed });
}
