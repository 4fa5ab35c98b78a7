/**
 * The sequential specification a history is judged against: what one operation does to the state when
 * operations run one at a time. Linearizability asks whether some order of the operations, respecting real time,
 * makes every result match this specification.
 */

import { isPending, type Operation, type Value } from './history.ts';

export interface StepResult<S> {
  /** Whether the operation's recorded result is what the specification gives in `state`. */
  ok: boolean;
  state: S;
}

/**
 * A sequential model of one partition (one key). States must be immutable values: the search keeps many of them
 * and compares them. `equal` and `hash` let it remember which (linearized set, state) pairs it already explored,
 * Lowe's memoisation that makes the search polynomial on the histories real systems produce.
 */
export interface Model<S> {
  init(): S;
  /**
   * Applies `op`. A pending operation (see `isPending`) has no result to match: it is applied as it would have
   * taken effect, and `ok` is true. Leaving it out entirely, the case where it never took effect, is the
   * checker's business.
   */
  step(state: S, op: Operation): StepResult<S>;
  equal(a: S, b: S): boolean;
  /** A 32-bit hash consistent with `equal`. */
  hash(state: S): number;
  /** The state as a human reads it in a failure report. */
  describe(state: S): string;
}

/**
 * One key of the key-value store: a register with read, write and compare-and-set. Keys are independent, so the
 * whole store is this model once per key (see partition.ts).
 */
export const registerModel: Model<Value> = {
  init: () => null,

  step(state, op) {
    switch (op.op) {
      case 'read':
        return { ok: isPending(op) || op.result === state, state };
      case 'write':
        return { ok: true, state: op.value };
      case 'cas': {
        const matches = state === op.expected;
        // A pending cas that took effect either swapped (register held `expected`) or failed, changing nothing.
        if (isPending(op)) return { ok: true, state: matches ? op.next : state };
        if (op.result === 'ok') return { ok: matches, state: matches ? op.next : state };
        return { ok: !matches, state };
      }
    }
  },

  equal: (a, b) => a === b,

  hash(state) {
    // Strings and numbers must not collide systematically (1 vs "1"), hence the type seeds.
    if (state === null) return 0x6e756c6c;
    const text = typeof state === 'string' ? `s${state}` : `n${state}`;
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return h >>> 0;
  },

  describe: (state) => JSON.stringify(state),
};
