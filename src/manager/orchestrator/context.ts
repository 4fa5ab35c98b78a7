/** What every orchestrator pass is given: time and randomness are inputs, never read from the environment. */

import type { RandomSource } from '../../util/ids.ts';

export interface PassContext {
  /** Milliseconds since the epoch. */
  now: number;
  random: RandomSource;
}

export const isoTime = (ms: number) => new Date(ms).toISOString();
