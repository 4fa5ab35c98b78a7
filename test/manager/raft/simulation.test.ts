/**
 * The deterministic simulation's own checks: each deliberately injected fault is caught by the invariants
 * (sim/invariants.ts) within a small seed budget, and the client histories have the shape the linearizability
 * checker needs. The sweep over many seeds of every fault profile, invariants and linearizability together, is
 * in linearizability.test.ts (1,500 seeds in CI) and `npm run soak` (100,000).
 *
 *   SIM_PROFILE=hunt-vote SIM_SEED=2 SIM_FAULTS=voteBeforePersist node --test test/manager/raft/linearizability.test.ts
 *                                                                                  replay a run, mutant or not
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RaftFaults } from '../../../src/manager/raft/config.ts';
import { replayEnv } from './sim/check-seed.ts';
import { toCheckerHistory } from './sim/checker-history.ts';
import type { HistoryOp } from './sim/history.ts';
import { CALM, CHURN, HUNT_OLD_TERM, HUNT_STALE_READ, HUNT_VOTE, STORMY } from './sim/profiles.ts';
import type { SimProfile } from './sim/profiles.ts';
import { kvHistory, simulate } from './sim/simulation.ts';

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
          t.diagnostic(`caught at seed ${seed} (${replayEnv({ seed, profile, faults: { [fault]: true } })}): ${r.violation}`);
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

  it('reach the checker without the requests refused before Raft and the reads never answered', () => {
    const at = { invokeTime: 1, completeTime: 2 };
    const history: HistoryOp[] = [
      { process: 0, op: 'write', key: 'a', value: 'v1', ...at, result: 'ok' },
      { process: 1, op: 'write', key: 'a', value: 'v2', invokeTime: 1, completeTime: null, result: 'unknown', error: 'timeout' },
      { process: 2, op: 'write', key: 'a', value: 'v3', ...at, result: 'fail', error: 'no_leader' },
      { process: 3, op: 'cas', key: 'a', expected: 'v1', new: 'v4', ...at, result: 'fail', error: 'mismatch' },
      { process: 4, op: 'cas', key: 'a', expected: null, new: 'v5', ...at, result: 'fail', error: 'down' },
      { process: 5, op: 'cas', key: 'a', expected: 'v1', new: 'v6', invokeTime: 1, completeTime: null, result: 'unknown', error: 'crashed' },
      { process: 6, op: 'read', key: 'a', value: null, ...at, result: 'ok' },
      { process: 7, op: 'read', key: 'a', invokeTime: 1, completeTime: null, result: 'unknown', error: 'timeout' },
      { process: 8, op: 'read', key: 'a', ...at, result: 'fail', error: 'no_leader' },
    ];
    assert.deepEqual(toCheckerHistory(history), [
      { process: 0, key: 'a', invoke: 1, complete: 2, op: 'write', value: 'v1', result: 'ok' },
      { process: 1, key: 'a', invoke: 1, op: 'write', value: 'v2' },
      { process: 3, key: 'a', invoke: 1, complete: 2, op: 'cas', expected: 'v1', next: 'v4', result: 'fail' },
      { process: 5, key: 'a', invoke: 1, op: 'cas', expected: 'v1', next: 'v6' },
      { process: 6, key: 'a', invoke: 1, complete: 2, op: 'read', result: null },
    ]);
  });

  it('are a pure function of the seed', () => {
    assert.deepEqual(kvHistory(3, CALM).history, kvHistory(3, CALM).history);
  });
});

describe('raft simulation: membership churn', () => {
  it('adds, promotes and removes members, leaders included, while the faults go on', () => {
    let made = 0;
    const seen = new Set<string>();
    for (let seed = 1; seed <= 5; seed++) {
      const r = simulate({ seed, profile: CHURN, transcriptLines: Infinity });
      assert.ok(r.ok, r.violation);
      made += r.stats.confChanges - r.stats.confChangesRefused;
      for (const line of r.transcript) {
        const m = / churn: (\S+) proposes (\S+) (\S+)/.exec(line);
        if (m) seen.add(m[2] === 'remove' && m[1] === m[3] ? 'leader removes itself' : m[2]);
        if (line.endsWith('decommissioned')) seen.add('decommissioned');
      }
    }
    assert.ok(made >= 40, `only ${made} membership changes in 5 seeds`);
    assert.deepEqual([...seen].sort(), ['add-learner', 'decommissioned', 'leader removes itself', 'promote', 'remove']);
  });
});
