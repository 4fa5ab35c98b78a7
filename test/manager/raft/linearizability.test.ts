/**
 * What clients see through a Raft cluster under faults is linearizable. Each seed runs the simulator's
 * key-value workload (reads, writes and compare-and-sets sent to leaders and followers alike, while the network
 * drops, delays, duplicates, reorders and partitions and members crash), checks the invariants after every event,
 * then gives the client history to the linearizability checker. A history the checker cannot decide within its
 * budget fails like a violation: it has shown nothing. A failure prints the command that replays it:
 *
 *   SIM_PROFILE=stormy SIM_SEED=42 node --test test/manager/raft/linearizability.test.ts        replay one seed
 *   ... SIM_FAULTS=followerReadWithoutReadIndex SIM_CHECK_READS=0 ...                          with a mutant
 *   SIM_BASE=5000 node --test test/manager/raft/linearizability.test.ts                         other seeds
 *   npm run soak                                                                                100,000 seeds
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RaftFaults } from '../../../src/manager/raft/config.ts';
import { checkSeed, formatSeedFailure, replayEnv, type SeedRun } from './sim/check-seed.ts';
import { CALM, HUNT_STALE_READ, PROFILES, SEED_MIX, STORMY } from './sim/profiles.ts';
import type { SimProfile } from './sim/profiles.ts';

const base = Number(process.env.SIM_BASE ?? 1);

if (process.env.SIM_SEED) {
  const name = process.env.SIM_PROFILE ?? 'stormy';
  const profile = PROFILES[name];
  if (!profile) throw new Error(`SIM_PROFILE=${name} is not a profile; one of: ${Object.keys(PROFILES).join(', ')}`);
  const faults: RaftFaults = Object.fromEntries((process.env.SIM_FAULTS ?? '').split(',').filter(Boolean).map((f) => [f, true]));
  const run: SeedRun = { seed: Number(process.env.SIM_SEED), profile, faults, checkReads: process.env.SIM_CHECK_READS !== '0', transcriptLines: Infinity };
  it(`replays ${replayEnv(run)}`, () => {
    const verdict = checkSeed(run);
    if (!verdict.ok) assert.fail(formatSeedFailure(run, verdict));
    console.log(verdict.sim.transcript.join('\n'));
    console.log(`linearizable: ${verdict.checkedOps} operations checked; stats ${JSON.stringify(verdict.sim.stats)}`);
  });
} else {
  describe('raft simulation: client histories are linearizable', () => {
    // Seeds the soak found, kept so the bugs they found stay fixed. churn 6393: a learner promoted while its log
    // was empty, which then ignored every vote request as coming from unknown members — no quorum, ever.
    const regressions: Array<[string, number]> = [['churn', 6393]];
    for (const [name, seed] of regressions) {
      it(`regression: ${name} seed ${seed}`, () => {
        const run: SeedRun = { seed, profile: PROFILES[name]! };
        const verdict = checkSeed(run);
        if (!verdict.ok) assert.fail(formatSeedFailure(run, verdict));
      });
    }
    for (const [profile, seeds] of SEED_MIX) {
      it(`${profile.name}: ${seeds} seeds from ${base}`, (t) => {
        let ops = 0;
        for (let seed = base; seed < base + seeds; seed++) {
          const run: SeedRun = { seed, profile };
          const verdict = checkSeed(run);
          if (!verdict.ok) assert.fail(formatSeedFailure(run, verdict));
          ops += verdict.checkedOps;
        }
        t.diagnostic(`${ops} client operations judged linearizable`);
      });
    }
  });

  describe('raft simulation: a stale follower read is caught by the linearizability check alone', () => {
    // The stale-read invariant is switched off, so only the client history can give the mutant away.
    const hunts: [SimProfile, number][] = [
      [HUNT_STALE_READ, 20],
      [STORMY, 20],
      [CALM, 20],
    ];
    for (const [profile, budget] of hunts) {
      it(`followerReadWithoutReadIndex is rejected within ${budget} seeds of ${profile.name}`, (t) => {
        for (let seed = base; seed < base + budget; seed++) {
          const run: SeedRun = { seed, profile, faults: { followerReadWithoutReadIndex: true }, checkReads: false };
          const verdict = checkSeed(run);
          if (verdict.ok) continue;
          assert.equal(verdict.failure, 'not-linearizable', formatSeedFailure(run, verdict));
          assert.ok(verdict.check && !verdict.check.ok);
          t.diagnostic(`rejected at seed ${seed} (${replayEnv(run)}): ${verdict.check.explanation.split('\n').slice(1, 3).join(' ').trim()}`);
          return;
        }
        assert.fail(`followerReadWithoutReadIndex survived ${budget} seeds of ${profile.name}: the linearizability check does not see it`);
      });
    }
  });
}
