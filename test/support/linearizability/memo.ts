/**
 * Lowe's memoisation, with subsumption for pending operations. Two search paths that have linearized the same
 * operations and reached the same model state have the same future, so the second is cut off: without this,
 * n concurrent writes of the same value are explored in n! orders; with it, in 2^n sets at most, and far fewer on
 * real histories.
 *
 * Pending operations widen the cut. Nothing forces a pending operation into the linearization, so a path that
 * used fewer of them, with the same completed operations linearized and the same state, can do anything the path
 * that used more can. A configuration is therefore cut off when one seen before has the same state, the same
 * completed operations and a subset of its pending ones (and the same trailing run of pending operations, which
 * limits what may follow: pending-placement.ts). This matters: each pending operation stays a candidate until
 * the end of the history, and the search tries them last, so the paths that use fewest come first and cut off
 * the rest.
 */

import type { LinearizedSet } from './linearized-set.ts';
import type { Model } from './model.ts';
import type { PendingRun } from './pending-placement.ts';

interface Configuration<S> {
  words: Uint32Array;
  state: S;
  run: PendingRun<S> | undefined;
}

export class Memo<S> {
  private readonly seen = new Map<number, Configuration<S>[]>();
  private readonly model: Model<S>;
  private readonly pendingWords: Uint32Array;

  /** `pending[i]` says operation i never returned. */
  constructor(model: Model<S>, pending: readonly boolean[]) {
    this.model = model;
    this.pendingWords = new Uint32Array(Math.ceil(pending.length / 32));
    pending.forEach((p, i) => {
      if (p) this.pendingWords[i >>> 5] |= 1 << (i & 31);
    });
  }

  /**
   * Records the configuration and says whether it is new, i.e. not subsumed by one already explored. The run of
   * pending operations the prefix ends with is part of the configuration, because it limits what may follow
   * (pending-placement.ts).
   */
  visit(linearized: LinearizedSet, state: S, run: PendingRun<S> | undefined): boolean {
    const { model } = this;
    let key = linearized.hash ^ Math.imul(model.hash(state), 0x27d4eb2d);
    if (run !== undefined) key ^= Math.imul(model.hash(run.start), 0x165667b1) ^ Math.imul(model.hash(run.beforeLast), 0x61c88647);
    key >>>= 0;
    const bucket = this.seen.get(key);
    if (bucket !== undefined) {
      for (const seen of bucket) {
        if (this.subsumes(seen.words, linearized.words) && model.equal(seen.state, state) && this.sameRun(seen.run, run)) return false;
      }
    }
    const configuration = { words: linearized.snapshot(), state, run };
    if (bucket === undefined) this.seen.set(key, [configuration]);
    else bucket.push(configuration);
    return true;
  }

  private sameRun(a: PendingRun<S> | undefined, b: PendingRun<S> | undefined): boolean {
    if (a === undefined || b === undefined) return a === b;
    return this.model.equal(a.start, b.start) && this.model.equal(a.beforeLast, b.beforeLast);
  }

  /** Whether `seen` ⊆ `current` with only pending operations in the difference. */
  private subsumes(seen: Uint32Array, current: Uint32Array): boolean {
    for (let w = 0; w < seen.length; w++) {
      const s = seen[w];
      const c = current[w];
      if ((s & ~c) !== 0 || (c & ~s & ~this.pendingWords[w]) !== 0) return false;
    }
    return true;
  }
}
