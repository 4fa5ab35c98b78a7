/**
 * Splitting a history by key. Linearizability is local (Herlihy & Wing's locality theorem): a history is
 * linearizable exactly when its restriction to each object is. So each key is checked on its own, and the search,
 * exponential in the number of concurrent operations at worst, runs on histories a tenth or a hundredth the size.
 */

import type { Entry, History } from './history.ts';

/** The operations of each key, keys in sorted order so reports are deterministic. Ids stay the history's indexes. */
export function partitionByKey(history: History): Map<string, Entry[]> {
  const byKey = new Map<string, Entry[]>();
  history.forEach((op, id) => {
    const entries = byKey.get(op.key) ?? [];
    entries.push({ id, op });
    byKey.set(op.key, entries);
  });
  return new Map([...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
