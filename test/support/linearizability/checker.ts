/**
 * The linearizability checker for key-value histories: is there one order of all operations, consistent with
 * real time (an operation answered before another was sent comes first), in which every answer is what a single
 * register per key would give? This is the guarantee the API promises for reads through any manager, so it is
 * what the Raft tests check, on histories recorded from the simulator.
 *
 * Pipeline: validate the history, split it by key (partition.ts: linearizability is local), search each key
 * (search.ts), and explain the first violation (explain.ts). One budget bounds the whole check.
 *
 * Cost, for whoever designs a workload: near-linear in the history when few operations overlap, which is what a
 * linearizable history costs. A violation costs more, because the search must exhaust every configuration before
 * it, and most of that grows with the pending writes and compare-and-sets on the key (requests that never got an
 * answer; pending reads cost nothing). Spread operations over keys, write distinct values (each value then
 * has one explanation), and keep pending mutations per key in the tens. Past the budget the answer is
 * "unknown", never a guess.
 */

import { Budget, type BudgetOptions } from './budget.ts';
import { validateHistory, type History } from './history.ts';
import { explainViolation } from './explain.ts';
import { registerModel, type Model } from './model.ts';
import { partitionByKey } from './partition.ts';
import { searchLinearization } from './search.ts';

export interface CheckOptions extends BudgetOptions {
  /** The sequential specification of one key. Default: a read/write/cas register starting at null. */
  model?: Model<unknown>;
}

export interface CheckStats {
  keys: number;
  operations: number;
  /** Search steps spent, the explanation's included: a measure of how hard the history was. */
  steps: number;
}

/**
 * The verdict. `ok` is true only when the history is proven linearizable, so `assert.ok(result.ok, ...)` fails on
 * "unknown" too: a check that could not decide has not shown anything.
 */
export type CheckResult =
  | { ok: true; verdict: 'linearizable'; stats: CheckStats }
  | {
      ok: false;
      verdict: 'not-linearizable';
      key: string;
      /** Readable report: the first unexplainable answer, what was concurrent with it, the longest linearization. */
      explanation: string;
      /** Ids (indexes in the history) of the operations whose answers first make the key unexplainable. */
      culprits: number[];
      /** Ids of the longest linearizable prefix the search found before the culprits, in order. */
      prefix: number[];
      stats: CheckStats;
    }
  | { ok: false; verdict: 'unknown'; key: string; explanation: string; stats: CheckStats };

/**
 * Checks a history. A definite violation on any key wins over "unknown" on another: it is reported as soon as it
 * is found, and keys are checked in sorted order so the same history always gives the same report.
 */
export function checkLinearizability(history: History, options: CheckOptions = {}): CheckResult {
  validateHistory(history);
  const model = options.model ?? registerModel;
  const budget = new Budget(options);
  const partitions = partitionByKey(history);
  const stats = () => ({ keys: partitions.size, operations: history.length, steps: budget.steps });
  let undecided: string | undefined;
  for (const [key, entries] of partitions) {
    if (budget.exhaustedBy !== undefined) break;
    const outcome = searchLinearization(entries, model, budget);
    if (outcome.kind === 'exhausted') undecided ??= key;
    if (outcome.kind !== 'not-linearizable') continue;
    const report = explainViolation(key, entries, outcome.deadEnd, model, budget);
    return { ok: false, verdict: 'not-linearizable', key, explanation: report.text, culprits: report.culprits, prefix: report.prefix, stats: stats() };
  }
  if (undecided === undefined) return { ok: true, verdict: 'linearizable', stats: stats() };
  const unchecked = [...partitions.keys()].filter((k) => k > undecided);
  const explanation =
    `unknown: ${budget.exhaustedBy} ran out while checking key ${JSON.stringify(undecided)}` +
    `${unchecked.length > 0 ? `; ${unchecked.length} later key(s) not checked` : ''}. ` +
    `The history has too many concurrent operations per key for this budget: raise it, or record shorter or less concurrent histories.`;
  return { ok: false, verdict: 'unknown', key: undecided, explanation, stats: stats() };
}
