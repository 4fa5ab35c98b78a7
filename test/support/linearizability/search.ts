/**
 * The search for a linearization of one partition: Wing & Gong's backtracking search as Lowe improved it
 * ("Testing for linearizability", 2017). Rather than guessing an order and checking it, the search walks the
 * history's events in time order and linearizes an operation only when forced to, i.e. just in time:
 *
 * - at a call, it tries to linearize that operation now (the model accepts its result from the current state),
 *   lifting it out of the event list and starting over from the front;
 * - at a return, the operation returning has not been linearized, yet real time says it must already have
 *   taken effect: this path is dead, so it undoes the last linearized operation and tries the next candidate.
 *
 * Pending operations have no return, so nothing ever forces them in; they are candidates from their call on,
 * tried in a second pass once the completed candidates are exhausted, and only where pending-placement.ts
 * says they can matter.
 *
 * Configurations (linearized set, model state, trailing run of pending operations) already explored, or
 * subsumed by one explored, are skipped (memo.ts). The search succeeds once every completed operation is linearized; pending operations left over are
 * those that never took effect, or took effect after everything observed.
 */

import type { Budget } from './budget.ts';
import { callNode, END, EventList } from './event-list.ts';
import { isPending, type Entry } from './history.ts';
import { LinearizedSet } from './linearized-set.ts';
import { Memo } from './memo.ts';
import type { Model } from './model.ts';
import { PendingPlacement, type PendingRun } from './pending-placement.ts';

/** The deepest point a failed search reached: the best evidence for a human of where the history goes wrong. */
export interface DeadEnd<S> {
  /** The longest sequence of operations (indexes into the searched entries) that could be linearized. */
  prefix: number[];
  /** The model state after `prefix`. */
  state: S;
  /** The operation that returned there without being linearizable after `prefix`. */
  blockedBy: number;
}

export type SearchOutcome<S> =
  | { kind: 'linearizable'; order: number[] }
  | { kind: 'not-linearizable'; deadEnd: DeadEnd<S> }
  | { kind: 'exhausted'; deadEnd: DeadEnd<S> | undefined };

/** Searches one partition (one key's operations) for a linearization, within `budget`. */
export function searchLinearization<S>(entries: readonly Entry[], model: Model<S>, budget: Budget): SearchOutcome<S> {
  const list = new EventList(entries);
  const pending = entries.map((e) => isPending(e.op));
  const linearized = new LinearizedSet(pending);
  const memo = new Memo(model, pending);
  const placement = new PendingPlacement(entries, model);
  // The prefix: operations in order, the state before each, the run of pending operations ending at each.
  const order: number[] = [];
  const stateBefore: S[] = [];
  const runAfter: Array<PendingRun<S> | undefined> = [];
  let state = model.init();
  let run: PendingRun<S> | undefined;
  let unlinearized = pending.filter((p) => !p).length;
  let deadEnd: DeadEnd<S> | undefined;
  let node = list.first();
  // Pending operations are tried only after the completed ones have led nowhere: paths that use fewer of them
  // come first, so the memo's subsumption cuts off the paths that use more.
  let pendingPass = false;
  memo.visit(linearized, state, run); // the start, so that paths through pending operations back to it are cut off

  while (unlinearized > 0) {
    if (!budget.spend()) return { kind: 'exhausted', deadEnd };
    // A completed operation not yet linearized has its return in the list, after its call: it is reached first.
    if (node === END) throw new Error('linearizability search ran off the event list: a bug in the checker');
    if (list.isCall(node)) {
      const i = list.operation(node);
      if (pending[i] === pendingPass) {
        const next = model.step(state, entries[i].op);
        if (next.ok && placement.allows(i, linearized, state, run, next.state)) {
          const nextRun = pending[i] ? { start: run?.start ?? state, beforeLast: state } : undefined;
          linearized.add(i);
          if (memo.visit(linearized, next.state, nextRun)) {
            order.push(i);
            stateBefore.push(state);
            runAfter.push(nextRun);
            state = next.state;
            run = nextRun;
            list.lift(i);
            if (!pending[i]) unlinearized--;
            node = list.first();
            pendingPass = false;
            continue;
          }
          linearized.delete(i);
        }
      }
      node = list.after(node);
    } else if (!pendingPass) {
      pendingPass = true;
      node = list.first();
    } else {
      if (deadEnd === undefined || order.length > deadEnd.prefix.length) {
        deadEnd = { prefix: [...order], state, blockedBy: list.operation(node) };
      }
      const i = order.pop();
      if (i === undefined) return { kind: 'not-linearizable', deadEnd };
      state = stateBefore.pop() as S;
      runAfter.pop();
      run = runAfter[runAfter.length - 1];
      linearized.delete(i);
      list.restore(i);
      if (!pending[i]) unlinearized++;
      pendingPass = pending[i];
      node = list.after(callNode(i));
    }
  }
  return { kind: 'linearizable', order };
}
