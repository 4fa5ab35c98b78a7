/**
 * Single-server membership changes as pure functions over a ConfState. A change is applied when its entry is
 * committed (never when merely appended), and a leader proposes the next one only after the previous one is
 * applied, so at most one member differs between any two configurations in use: every quorum of the old and of
 * the new configuration overlap, which is what makes one-at-a-time changes safe without joint consensus.
 */

import type { ConfChange, ConfState, MemberId } from './types.ts';

/** Why a change cannot apply to `conf`, or null when it can. */
export function confChangeProblem(conf: ConfState, cc: ConfChange): string | null {
  const voter = conf.voters.includes(cc.member);
  const learner = conf.learners.includes(cc.member);
  switch (cc.type) {
    case 'add-learner':
      return voter || learner ? `${cc.member} is already a member` : null;
    case 'promote':
      return learner ? null : `${cc.member} is not a learner`;
    case 'remove':
      if (!voter && !learner) return `${cc.member} is not a member`;
      if (voter && conf.voters.length === 1) return `${cc.member} is the last voter; removing it would leave no quorum`;
      return null;
  }
}

/** The configuration after `cc`, or null when it does not apply (see confChangeProblem). Never mutates `conf`. */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState | null {
  if (confChangeProblem(conf, cc) !== null) return null;
  const without = (ids: MemberId[]) => ids.filter((id) => id !== cc.member);
  switch (cc.type) {
    case 'add-learner':
      return { voters: [...conf.voters], learners: [...conf.learners, cc.member] };
    case 'promote':
      return { voters: [...conf.voters, cc.member], learners: without(conf.learners) };
    case 'remove':
      return { voters: without(conf.voters), learners: without(conf.learners) };
  }
}

export function isMember(conf: ConfState, id: MemberId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

export function emptyConf(): ConfState {
  return { voters: [], learners: [] };
}

export function isConfChange(value: unknown): value is ConfChange {
  if (typeof value !== 'object' || value === null) return false;
  const cc = value as Record<string, unknown>;
  return (cc.type === 'add-learner' || cc.type === 'promote' || cc.type === 'remove') && typeof cc.member === 'string' && cc.member !== '';
}
