/**
 * Initial persisted states. A new cluster's log starts with the membership changes that make its first voters
 * voters, already committed at term 1 — rather than a configuration outside the log — so a member that joins later
 * learns the whole membership by replaying the log like everything else.
 */

import type { PersistedRaftState } from './storage.ts';
import type { Entry, MemberId } from './types.ts';

/** The state every first member of a new cluster starts from (identical on all of them). */
export function bootstrapState(voters: readonly MemberId[]): PersistedRaftState {
  const entries: Entry[] = [];
  for (const member of voters) {
    entries.push({ term: 1, index: entries.length + 1, type: 'conf-change', data: { type: 'add-learner', member } });
    entries.push({ term: 1, index: entries.length + 1, type: 'conf-change', data: { type: 'promote', member } });
  }
  return { hardState: { term: 1, vote: '', commit: entries.length }, snapshot: null, entries };
}

/** The state of a member about to join an existing cluster: it learns everything from the leader. */
export function emptyState(): PersistedRaftState {
  return { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] };
}
