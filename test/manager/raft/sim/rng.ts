/** A seeded random stream for the simulator, over the project's seededRandom (mulberry32). */

import { seededRandom } from '../../../../src/util/ids.ts';
import type { RandomSource } from '../../../../src/util/ids.ts';

export class Rng {
  private readonly source: RandomSource;

  constructor(seed: number) {
    this.source = seededRandom(seed);
  }

  /** Uniform in [0, 1). */
  next(): number {
    const b = this.source(4);
    return (((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0) / 2 ** 32;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Exponentially distributed, for Poisson arrivals of faults. */
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  /** A derived seed, so each node's election timer has a stream of its own. */
  fork(): number {
    return this.int(2 ** 31);
  }
}
