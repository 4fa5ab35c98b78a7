/**
 * The history as a time-ordered list of call and return events, from which the search lifts an operation's two
 * events when it linearizes the operation and puts them back, in the reverse order, when it backtracks (the
 * "dancing links" trick: a removed node keeps its neighbours, so restoring is O(1)). Walking the list from the
 * front then yields exactly the operations that may be linearized next: those whose call comes before the first
 * return still in the list.
 */

import { isPending, type Entry } from './history.ts';

/** No node: the end of the list. */
export const END = -1;
const HEAD = 0;

/**
 * Nodes are numbered: 0 is the head sentinel, `1 + 2i` the call of operation i, `2 + 2i` its return. Pending
 * operations have no return node: nothing forces them into the linearization, so the search may leave them out,
 * which is the case where they never took effect (or took effect after everything else).
 */
export class EventList {
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly pending: Uint8Array;

  constructor(entries: readonly Entry[]) {
    const n = entries.length;
    this.next = new Int32Array(2 * n + 1).fill(END);
    this.prev = new Int32Array(2 * n + 1).fill(END);
    this.pending = new Uint8Array(n);
    const events: Array<{ node: number; time: number; call: boolean }> = [];
    entries.forEach(({ op }, i) => {
      events.push({ node: callNode(i), time: op.invoke, call: true });
      if (isPending(op)) this.pending[i] = 1;
      else events.push({ node: 1 + callNode(i), time: op.complete as number, call: false });
    });
    // At equal times calls go first, which makes the operations concurrent (see `precedes` in history.ts).
    events.sort((a, b) => a.time - b.time || Number(b.call) - Number(a.call) || a.node - b.node);
    let last = HEAD;
    for (const { node } of events) {
      this.next[last] = node;
      this.prev[node] = last;
      last = node;
    }
  }

  first(): number {
    return this.next[HEAD];
  }

  after(node: number): number {
    return this.next[node];
  }

  isCall(node: number): boolean {
    return (node & 1) === 1;
  }

  /** The operation (index into the entries) a call or return node belongs to. */
  operation(node: number): number {
    return (node - 1) >>> 1;
  }

  /** Removes operation i's call and return. Must be undone by `restore(i)` in last-in, first-out order. */
  lift(i: number): void {
    this.unlink(callNode(i));
    if (!this.pending[i]) this.unlink(callNode(i) + 1);
  }

  restore(i: number): void {
    if (!this.pending[i]) this.relink(callNode(i) + 1);
    this.relink(callNode(i));
  }

  private unlink(node: number): void {
    const { next, prev } = this;
    next[prev[node]] = next[node];
    if (next[node] !== END) prev[next[node]] = prev[node];
  }

  private relink(node: number): void {
    const { next, prev } = this;
    next[prev[node]] = node;
    if (next[node] !== END) prev[next[node]] = node;
  }
}

/** The node of operation i's call; its return, if any, is the next number. */
export function callNode(i: number): number {
  return 1 + 2 * i;
}
