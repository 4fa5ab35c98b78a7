/**
 * What a message means to this node: membership and term checks first (a higher term always wins, except the
 * hypothetical term of a pre-vote and vote requests under a leader lease), then dispatch by role.
 */

import { isMember } from './confchange.ts';
import { campaign, handleVoteRequest, handleVoteResponse, TRANSFER_CONTEXT } from './election.ts';
import { entryBytes } from './log.ts';
import type { RaftNode } from './raft.ts';
import { requestRead } from './read-index.ts';
import { broadcastAppend, handleAppend, handleAppendResponse, handleHeartbeat, handleHeartbeatResponse, handleSnapshot } from './replication.ts';
import type { Message } from './types.ts';

/** Messages that only a leader of the message's term sends. */
const LEADER_MESSAGES = new Set(['append', 'heartbeat', 'snapshot']);

/** Heard from a live leader within an election timeout: vote requests would only disrupt it. */
function inLease(r: RaftNode): boolean {
  return r.config.checkQuorum && r.leader !== '' && r.electionElapsed < r.config.electionTick;
}

function acceptsSender(r: RaftNode, m: Message): boolean {
  // A leader's messages are accepted from a member this node has not heard of yet: a new learner knows nobody
  // until it has caught up, and a lagging follower may not have applied the leader's own addition. The leader
  // was elected by a quorum that knew it. Everything else (votes, answers, requests) needs a known member.
  return isMember(r.conf, m.from) || LEADER_MESSAGES.has(m.type);
}

/** Dispatches a well-formed message addressed to this node (step() has checked both). */
export function stepMessage(r: RaftNode, m: Message): void {
  if (!acceptsSender(r, m)) return r.drop('unknown-member');
  if (m.term > r.term) {
    if ((m.type === 'vote' || m.type === 'pre-vote') && !(m.type === 'vote' && m.context === TRANSFER_CONTEXT) && inLease(r)) {
      return r.drop('lease');
    }
    // A pre-vote's term is hypothetical, and so is a granted answer's: neither moves this node's term.
    const hypothetical = m.type === 'pre-vote' || (m.type === 'pre-vote-response' && !m.reject);
    if (!hypothetical) r.becomeFollower(m.term, LEADER_MESSAGES.has(m.type) ? m.from : '');
  } else if (m.term < r.term) {
    if (m.type === 'append' || m.type === 'heartbeat') {
      // A deposed leader that did not notice: the answer carries our term and makes it step down.
      r.send({ type: 'append-response', to: m.from, index: 0, reject: true });
    } else if (m.type === 'pre-vote') {
      r.send({ type: 'pre-vote-response', to: m.from, reject: true });
    }
    return r.drop('stale-term');
  }
  if (m.type === 'vote' || m.type === 'pre-vote') return handleVoteRequest(r, m);
  switch (r.role) {
    case 'leader':
      return stepLeader(r, m);
    case 'follower':
      return stepFollower(r, m);
    default:
      return stepCandidate(r, m);
  }
}

function stepLeader(r: RaftNode, m: Message): void {
  switch (m.type) {
    case 'append-response':
      return handleAppendResponse(r, m);
    case 'heartbeat-response':
      return handleHeartbeatResponse(r, m);
    case 'propose':
      return acceptForwarded(r, m);
    case 'read-index':
      return requestRead(r, m.from, m.context!);
    case 'append':
    case 'heartbeat':
    case 'snapshot':
      return r.drop('conflict');
    default:
      return r.drop('stale-response');
  }
}

function stepCandidate(r: RaftNode, m: Message): void {
  switch (m.type) {
    case 'append':
    case 'heartbeat':
    case 'snapshot':
      // Someone won this term.
      r.becomeFollower(m.term, m.from);
      return stepFollower(r, m);
    case 'vote-response':
    case 'pre-vote-response':
      return handleVoteResponse(r, m);
    case 'propose':
    case 'read-index':
      return r.drop('not-leader');
    default:
      return r.drop('stale-response');
  }
}

function stepFollower(r: RaftNode, m: Message): void {
  switch (m.type) {
    case 'append':
    case 'heartbeat':
    case 'snapshot':
      if (r.leader !== '' && r.leader !== m.from) return r.drop('conflict');
      r.leader = m.from;
      r.electionElapsed = 0;
      if (m.type === 'append') return handleAppend(r, m);
      if (m.type === 'heartbeat') return handleHeartbeat(r, m);
      return handleSnapshot(r, m);
    case 'timeout-now':
      if (!r.isPromotable()) return r.drop('not-leader');
      return campaign(r, 'transfer');
    case 'read-index-response':
      r.readStates.push({ index: m.index!, context: m.context! });
      return;
    case 'propose':
    case 'read-index':
      return r.drop('not-leader');
    default:
      return r.drop('stale-response');
  }
}

/** A proposal a follower forwarded. Refusals are counted; the follower's caller times out. */
function acceptForwarded(r: RaftNode, m: Message): void {
  if (r.leadTransferee !== '') return r.drop('proposal-refused');
  for (const e of m.entries!) {
    if (entryBytes(e) > r.config.maxEntryBytes) return r.drop('oversized');
    // Membership changes go through proposeConfChange on the leader, where they are checked.
    if (e.type !== 'normal') return r.drop('proposal-refused');
  }
  for (const e of m.entries!) r.appendNew('normal', e.data);
  broadcastAppend(r);
}
