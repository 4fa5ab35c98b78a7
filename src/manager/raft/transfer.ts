/**
 * Leadership transfer (thesis §3.10), used on graceful shutdown and demotion so the cluster does not wait an
 * election timeout for a leader that is leaving. The leader stops taking proposals, brings the target's log up to
 * date, then tells it to campaign at once (timeout-now); the target's vote requests bypass the leader lease. If the
 * target has not taken over within an election timeout, the leader resumes.
 */

import { RaftError } from './errors.ts';
import type { RaftNode } from './raft.ts';
import { sendAppend } from './replication.ts';
import type { MemberId } from './types.ts';

export function transferLeadership(r: RaftNode, to: MemberId): void {
  if (r.role !== 'leader') throw new RaftError('not_leader', 'Only the leader can hand over leadership; ask the current leader.');
  if (to === r.id) return;
  if (!r.conf.voters.includes(to)) throw new RaftError('invalid_argument', `${to} is not a voting manager; leadership can only go to a voter.`);
  if (r.leadTransferee === to) return;
  r.leadTransferee = to;
  // The transfer gets one full election timeout (see tickLeader).
  r.electionElapsed = 0;
  const pr = r.progress.get(to)!;
  if (pr.match === r.log.lastIndex()) sendTimeoutNow(r, to);
  else sendAppend(r, to, true);
}

export function maybeFinishTransfer(r: RaftNode, from: MemberId): void {
  if (r.leadTransferee === from && r.progress.get(from)!.match === r.log.lastIndex()) sendTimeoutNow(r, from);
}

function sendTimeoutNow(r: RaftNode, to: MemberId): void {
  r.send({ type: 'timeout-now', to });
}
