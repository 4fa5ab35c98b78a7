/**
 * The reference the fast checker is tested against: the definition of linearizability, executed literally. Try
 * every order of every operation of the whole history (no partitioning, no memo, no just-in-time trick); keep
 * those consistent with real time; accept if one of them replays on a register per key with every answer
 * matching. Pending operations are in the orders too: one placed last is one that never took effect.
 * Factorial, so only for tiny histories.
 */

import { precedes, type History } from './history.ts';
import type { Model } from './model.ts';

/** 7! = 5040 orders: enough for the interleavings that matter, cheap enough for thousands of property runs. */
export const NAIVE_MAX_OPERATIONS = 7;

export function isLinearizableNaive<S>(history: History, model: Model<S>): boolean {
  if (history.length > NAIVE_MAX_OPERATIONS) {
    throw new RangeError(`the naive checker takes at most ${NAIVE_MAX_OPERATIONS} operations, got ${history.length}`);
  }
  const used = new Array<boolean>(history.length).fill(false);
  const order: number[] = [];

  const replays = (): boolean => {
    const states = new Map<string, S>();
    for (const i of order) {
      const op = history[i];
      const { ok, state } = model.step(states.has(op.key) ? (states.get(op.key) as S) : model.init(), op);
      if (!ok) return false;
      states.set(op.key, state);
    }
    return true;
  };

  const extend = (): boolean => {
    if (order.length === history.length) return replays();
    for (let i = 0; i < history.length; i++) {
      if (used[i]) continue;
      // Real time: nothing still unplaced may have returned before operation i was sent.
      if (history.some((other, j) => !used[j] && j !== i && precedes(other, history[i]))) continue;
      used[i] = true;
      order.push(i);
      const found = extend();
      order.pop();
      used[i] = false;
      if (found) return true;
    }
    return false;
  };

  return extend();
}
