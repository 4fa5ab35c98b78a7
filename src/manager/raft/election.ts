/**
 * Leader election (§5.2) with pre-vote (thesis §9.6): a member whose election timer fires first asks whether it
 * could win, without raising its term; only if a quorum says yes does it raise the term and ask for real votes.
 * A member cut off from the cluster therefore keeps its term, and cannot force a healthy leader to step down by
 * coming back with a higher one.
 */

import type { RaftNode } from './raft.ts';
import { voteOutcome } from './quorum.ts';
import type { Message } from './types.ts';

/**
 * Carried in the `context` of the vote requests a leadership transfer triggers: those bypass the leader lease,
 * since the leader itself asked for the election.
 */
export const TRANSFER_CONTEXT = 'transfer';

export type CampaignKind = 'pre-vote' | 'election' | 'transfer';

export function campaign(r: RaftNode, kind: CampaignKind): void {
  if (!r.isPromotable()) return;
  if (kind === 'pre-vote') r.becomePreCandidate();
  else r.becomeCandidate();
  r.votes.set(r.id, true);
  if (voteOutcome(r.conf.voters, r.votes) === 'won') {
    // A single voter wins at once.
    if (kind === 'pre-vote') campaign(r, 'election');
    else r.becomeLeader();
    return;
  }
  const term = kind === 'pre-vote' ? r.term + 1 : r.term;
  for (const to of r.conf.voters) {
    if (to === r.id) continue;
    r.send({
      type: kind === 'pre-vote' ? 'pre-vote' : 'vote',
      to,
      term,
      index: r.log.lastIndex(),
      logTerm: r.log.lastTerm(),
      ...(kind === 'transfer' ? { context: TRANSFER_CONTEXT } : {}),
    });
  }
}

/**
 * A vote is granted at most once per term (the vote is persisted before the answer leaves, see ready.ts), and only
 * to a candidate whose log is at least as up to date as ours (§5.4.1), so every leader holds every committed entry.
 * A pre-vote changes nothing here: it only predicts whether the real vote would be granted.
 */
export function handleVoteRequest(r: RaftNode, m: Message): void {
  const pre = m.type === 'pre-vote';
  const free = r.vote === m.from || (r.vote === '' && r.leader === '') || (pre && m.term > r.term);
  const responseType = pre ? 'pre-vote-response' : 'vote-response';
  if (free && r.log.isUpToDate(m.index!, m.logTerm!)) {
    r.send({ type: responseType, to: m.from, term: m.term, reject: false });
    if (!pre) {
      r.electionElapsed = 0;
      r.vote = m.from;
      r.noteVoteGranted();
    }
  } else {
    r.send({ type: responseType, to: m.from, term: r.term, reject: true });
  }
}

export function handleVoteResponse(r: RaftNode, m: Message): void {
  const pre = r.role === 'pre-candidate';
  const expected = pre ? 'pre-vote-response' : 'vote-response';
  // A grant from an earlier pre-vote round carries an older hypothetical term.
  if (m.type !== expected || (pre && !m.reject && m.term !== r.term + 1)) return r.drop('stale-response');
  r.votes.set(m.from, m.reject !== true);
  switch (voteOutcome(r.conf.voters, r.votes)) {
    case 'won':
      if (pre) campaign(r, 'election');
      else r.becomeLeader();
      return;
    case 'lost':
      r.becomeFollower(r.term, '');
      return;
    case 'pending':
      return;
  }
}
