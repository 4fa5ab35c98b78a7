/**
 * Where the search may place pending operations. A pending operation may take effect at any time after it was
 * sent, or never, so each one stays a candidate to the end of the history, and a search that tried each
 * everywhere would explore every subset of them at every point: a history with twenty abandoned writes on a key
 * would never finish failing. But most placements are redundant, and a linearization can always be rewritten
 * so they do not occur, because a pending operation can always be moved later or dropped (it has no answer that
 * real time must precede). The search only builds linearizations in that rewritten form:
 *
 * 0. A pending operation must change the state (one that does not is dropped).
 * 1. Twins (same call: kind and arguments) are used in the order they were sent: the earlier one is available
 *    wherever the later one is, with the same effect.
 * 2. In a run of pending operations, each must matter to the next: if the next one leaves the same state with or
 *    without it (a write overwriting an earlier pending write), it is dropped.
 * 3. A run of pending operations must matter to the completed operation that ends it: if that operation is
 *    accepted from the state before the run, and leaves the same state as after it, the run is dropped. For a
 *    register, this means pending operations are placed only just before an operation whose answer needs them.
 *
 * Each rewrite drops a pending operation or swaps twins, so rewriting ends, and the result is a linearization
 * obeying the rules. What is left is still exponential in the worst case (deciding linearizability is
 * NP-complete): many pending writes of few distinct values on one key remain the hard case, because each is a
 * different way to explain the same reads.
 */

import { isPending, type Entry } from './history.ts';
import type { LinearizedSet } from './linearized-set.ts';
import type { Model } from './model.ts';

/** The run of pending operations at the end of the search's current prefix. */
export interface PendingRun<S> {
  /** The state before the run. */
  start: S;
  /** The state before the run's last operation. */
  beforeLast: S;
}

const NONE = -1;

export class PendingPlacement<S> {
  private readonly entries: readonly Entry[];
  private readonly model: Model<S>;
  private readonly twinBefore: Int32Array;

  constructor(entries: readonly Entry[], model: Model<S>) {
    this.entries = entries;
    this.model = model;
    this.twinBefore = pendingTwins(entries);
  }

  /** Whether operation i may be linearized after the current prefix, reaching `next` (from an accepted step). */
  allows(i: number, linearized: LinearizedSet, state: S, run: PendingRun<S> | undefined, next: S): boolean {
    const { op } = this.entries[i];
    const twin = this.twinBefore[i];
    if (twin !== NONE && !linearized.has(twin)) return false; // rule 1
    if (isPending(op) && this.model.equal(state, next)) return false; // rule 0
    if (run === undefined) return true;
    if (isPending(op)) return !this.model.equal(this.model.step(run.beforeLast, op).state, next); // rule 2
    const without = this.model.step(run.start, op); // rule 3
    return !(without.ok && this.model.equal(without.state, next));
  }
}

/** For each pending operation, the pending operation with the same call sent just before it, or NONE. */
function pendingTwins(entries: readonly Entry[]): Int32Array {
  const twinBefore = new Int32Array(entries.length).fill(NONE);
  const lastByCall = new Map<string, number>();
  const bySendTime = entries.map((e, i) => ({ op: e.op, i })).sort((a, b) => a.op.invoke - b.op.invoke || a.i - b.i);
  for (const { op, i } of bySendTime) {
    if (!isPending(op)) continue;
    const call = JSON.stringify(op.op === 'read' ? [op.op] : op.op === 'write' ? [op.op, op.value] : [op.op, op.expected, op.next]);
    twinBefore[i] = lastByCall.get(call) ?? NONE;
    lastByCall.set(call, i);
  }
  return twinBefore;
}
