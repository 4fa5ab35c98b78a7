/**
 * Where the history simulator's choices come from. A seed gives long reproducible runs; a script (a list of
 * numbers fast-check generates) lets fast-check shrink a failing case to a shorter list, hence a simpler history.
 */

import { seededRandom } from '../../../src/util/ids.ts';

/** Returns an integer in [0, n). Choice 0 must always be a valid way to make progress. */
export type Pick = (n: number) => number;

export function seededPick(seed: number): Pick {
  const random = seededRandom(seed);
  return (n) => {
    const [a, b, c, d] = random(4);
    return Math.floor((((a << 24) | (b << 16) | (c << 8) | d) >>> 0) / 2 ** 32 * n);
  };
}

/** Replays `script` (each number modulo n), then picks 0 forever, so every script ends in a finite history. */
export function scriptedPick(script: readonly number[]): Pick {
  let next = 0;
  return (n) => (next < script.length ? script[next++] % n : 0);
}
