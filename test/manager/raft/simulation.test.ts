/**
 * The deterministic simulation: many seeds of each fault profile must keep every invariant (sim/invariants.ts),
 * and each deliberately injected fault must be caught within the seed budget. A failure prints its seed, the
 * command that replays it, and the events that led to it.
 *
 *   SIM_PROFILE=stormy SIM_SEED=42 node --test test/manager/raft/simulation.test.ts   replay one run
 *   SIM_SCALE=100 node --test test/manager/raft/simulation.test.ts                     a longer soak
 *   SIM_BASE=1000 ...                                                                   other seeds
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RaftFaults } from '../../../src/manager/raft/config.ts';
import { CALM, HUNT_OLD_TERM, HUNT_STALE_READ, HUNT_VOTE, PROFILES, STORMY } from './sim/profiles.ts';
import type { SimProfile } from './sim/profiles.ts';
import { formatFailure, kvHistory, simulate } from './sim/simulation.ts';

const scale = Number(process.env.SIM_SCALE ?? 1);
const base = Number(process.env.SIM_BASE ?? 1);

function sweep(profile: SimProfile, seeds: number): void {
  for (let seed = base; seed < base + seeds; seed++) {
    const r = simulate({ seed, profile });
    if (!r.ok) assert.fail(formatFailure(r));
  }
}

if (process.env.SIM_SEED) {
  const profile = PROFILES[process.env.SIM_PROFILE ?? 'stormy'];
  const seed = Number(process.env.SIM_SEED);
  it(`replays ${profile.name} seed ${seed}`, () => {
    const r = simulate({ seed, profile, transcriptLines: 2_000 });
    if (!r.ok) assert.fail(formatFailure(r));
    console.log(r.transcript.join('\n'));
  });
} else {
  describe('raft simulation: every invariant holds', () => {
    const budget: [SimProfile, number][] = [
      [CALM, 30],
      [STORMY, 250],
      [HUNT_OLD_TERM, 40],
      [HUNT_VOTE, 100],
      [HUNT_STALE_READ, 60],
    ];
    for (const [profile, seeds] of budget) {
      const n = Math.ceil(seeds * scale);
      it(`${profile.name}: ${n} seeds from ${base}`, () => sweep(profile, n));
    }
  });

  describe('raft simulation: injected faults are caught', () => {
    const mutants: { fault: keyof RaftFaults; profile: SimProfile; budget: number; expect: RegExp }[] = [
      { fault: 'commitOldTermByCount', profile: HUNT_OLD_TERM, budget: 60, expect: /unsafe commit|committed entry changed|leader completeness|state-machine safety/ },
      { fault: 'voteBeforePersist', profile: HUNT_VOTE, budget: 40, expect: /double vote|election safety/ },
      { fault: 'followerReadWithoutReadIndex', profile: HUNT_STALE_READ, budget: 10, expect: /stale read/ },
    ];
    for (const { fault, profile, budget, expect } of mutants) {
      it(`${fault} is caught within ${budget} seeds of ${profile.name}`, (t) => {
        for (let seed = 1; seed <= budget; seed++) {
          const r = simulate({ seed, profile, faults: { [fault]: true } });
          if (!r.ok) {
            assert.match(r.violation!, expect);
            t.diagnostic(`caught at seed ${seed}: ${r.violation}`);
            return;
          }
        }
        assert.fail(`${fault} survived ${budget} seeds of ${profile.name}: the invariants do not see it`);
      });
    }
  });

  describe('client histories for the linearizability checker', () => {
    it('are produced in the checker format, one operation at a time per process', () => {
      const { history, ok } = kvHistory(7, STORMY);
      assert.ok(ok);
      assert.ok(history.length > 100);
      const kinds = new Set(history.map((h) => `${h.op}:${h.result}`));
      for (const k of ['read:ok', 'write:ok', 'cas:ok', 'write:unknown']) assert.ok(kinds.has(k), `no ${k} in the history`);
      const busyUntil = new Map<number, number>();
      for (const h of history) {
        assert.equal(typeof h.key, 'string');
        if (h.op === 'write') assert.equal(typeof h.value, 'string');
        if (h.op === 'cas') assert.ok('expected' in h && typeof h.new === 'string');
        if (h.result === 'unknown') assert.equal(h.completeTime, null);
        else assert.ok(h.completeTime! >= h.invokeTime);
        assert.ok((busyUntil.get(h.process) ?? -1) <= h.invokeTime, `process ${h.process} overlaps itself`);
        busyUntil.set(h.process, h.completeTime ?? Infinity);
      }
    });

    it('are a pure function of the seed', () => {
      assert.deepEqual(kvHistory(3, CALM).history, kvHistory(3, CALM).history);
    });
  });
}
