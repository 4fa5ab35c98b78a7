/**
 * Shape checks for the documents read back from disk. Their checksums already rule out damage; these catch a
 * file that is intact but is not what it should be (a foreign file, a format from another version).
 */

import type { HardState, Snapshot } from '../../manager/raft/types.ts';

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isIdList = (value: unknown) => Array.isArray(value) && value.every((id) => typeof id === 'string');

export function isHardState(value: unknown): value is HardState {
  if (typeof value !== 'object' || value === null) return false;
  const { term, vote, commit } = value as Record<string, unknown>;
  return isCount(term) && typeof vote === 'string' && isCount(commit);
}

export function isSnapshot(value: unknown): value is Snapshot {
  if (typeof value !== 'object' || value === null) return false;
  const { metadata } = value as Record<string, unknown>;
  if (typeof metadata !== 'object' || metadata === null) return false;
  const { index, term, conf } = metadata as Record<string, unknown>;
  if (!isCount(index) || !isCount(term) || typeof conf !== 'object' || conf === null) return false;
  const { voters, learners } = conf as Record<string, unknown>;
  return isIdList(voters) && isIdList(learners);
}
