/**
 * Linearizability checking for key-value client histories, used by the Raft tests to judge what clients saw
 * through leaders and followers. Record a `History` (history.ts), call `checkLinearizability`, and on failure
 * print `result.explanation` with the seed.
 */

export { checkLinearizability, type CheckOptions, type CheckResult, type CheckStats } from './checker.ts';
export { formatOperation, HistoryError, isPending, type CasOperation, type History, type Operation, type ProcessId, type ReadOperation, type Value, type WriteOperation } from './history.ts';
export { registerModel, type Model, type StepResult } from './model.ts';
