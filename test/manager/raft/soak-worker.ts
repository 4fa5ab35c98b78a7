/**
 * A soak worker (see soak.ts): runs the chunks of seeds it is sent through checkSeed and answers each with a
 * tally and the report of every seed that failed.
 */

import type { RaftFaults } from '../../../src/manager/raft/config.ts';
import { checkSeed, formatSeedFailure, type SeedRun } from './sim/check-seed.ts';
import { PROFILES } from './sim/profiles.ts';

export interface Chunk {
  profile: string;
  /** Injected faults, for showing that the soak catches them; none in a real soak. */
  faults: RaftFaults;
  checkReads: boolean;
  /** Seeds from..to-1. */
  from: number;
  to: number;
}

export interface ChunkResult {
  chunk: Chunk;
  seeds: number;
  operations: number;
  failures: { seed: number; failure: string; report: string }[];
}

process.on('message', (chunk: Chunk) => {
  const profile = PROFILES[chunk.profile];
  const result: ChunkResult = { chunk, seeds: 0, operations: 0, failures: [] };
  for (let seed = chunk.from; seed < chunk.to; seed++) {
    const run: SeedRun = { seed, profile, faults: chunk.faults, checkReads: chunk.checkReads };
    const verdict = checkSeed(run);
    result.seeds++;
    result.operations += verdict.checkedOps;
    if (!verdict.ok) result.failures.push({ seed, failure: verdict.failure!, report: formatSeedFailure(run, verdict) });
  }
  process.send!(result);
});
