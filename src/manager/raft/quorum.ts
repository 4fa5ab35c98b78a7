/**
 * Majority arithmetic, kept apart so it can be checked against a naive reference: what index a quorum of voters
 * has, and whether an election is won, lost or still open.
 */

import type { MemberId } from './types.ts';

export function quorumSize(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** The largest index that a quorum of `voters` has in its log (0 when there are no voters). */
export function quorumIndex(voters: readonly MemberId[], matchOf: (id: MemberId) => number): number {
  if (voters.length === 0) return 0;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[quorumSize(voters.length) - 1];
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

/** Only voters' answers count: a learner's or a stranger's grant changes nothing. */
export function voteOutcome(voters: readonly MemberId[], answers: ReadonlyMap<MemberId, boolean>): VoteOutcome {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const answer = answers.get(id);
    if (answer === true) granted++;
    else if (answer === false) rejected++;
  }
  const needed = quorumSize(voters.length);
  if (granted >= needed) return 'won';
  if (voters.length - rejected < needed) return 'lost';
  return 'pending';
}

/** Whether the members in `active` form a quorum of `voters`. */
export function hasQuorum(voters: readonly MemberId[], active: (id: MemberId) => boolean): boolean {
  return voters.filter(active).length >= quorumSize(voters.length);
}
