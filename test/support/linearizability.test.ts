import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkLinearizability, type CheckResult } from './linearizability/checker.ts';
import { completeTime, HistoryError, isPending, type History, type Operation, type Value } from './linearizability/history.ts';
import { registerModel } from './linearizability/model.ts';
import { isLinearizableNaive, NAIVE_MAX_OPERATIONS } from './linearizability/naive.ts';
import { scriptedPick, seededPick } from './linearizability/pick.ts';
import { simulateKv, type Fault } from './linearizability/simulate.ts';

// Operation builders. Times are [invoke, complete], or [invoke] for a request that never got an answer. Each
// operation gets its own process: these tests are about the real-time order, which the times already give.
type Spec = Operation extends infer O ? (O extends Operation ? Omit<O, 'process'> : never) : never;
const span = (times: [number, number?]) => ({ invoke: times[0], complete: times[1] });
const read = (key: string, result: Value, times: [number, number?]): Spec => ({ op: 'read', key, ...span(times), ...(times[1] === undefined ? {} : { result }) });
const write = (key: string, value: Value, times: [number, number?]): Spec => ({ op: 'write', key, value, ...span(times), ...(times[1] === undefined ? {} : { result: 'ok' as const }) });
const cas = (key: string, expected: Value, next: Value, result: 'ok' | 'fail', times: [number, number?]): Spec => ({
  op: 'cas',
  key,
  expected,
  next,
  ...span(times),
  ...(times[1] === undefined ? {} : { result }),
});
const history = (...specs: Spec[]): History => specs.map((s, process) => ({ ...s, process }) as Operation);

/** The two checkers under one interface, so both run the same known histories (the etcd/hono pattern). */
const checkers: Array<{ name: string; accepts: (h: History) => boolean }> = [
  { name: 'search checker', accepts: (h) => checkLinearizability(h).ok },
  { name: 'naive checker', accepts: (h) => isLinearizableNaive(h, registerModel) },
];

const linearizable: Array<[string, History]> = [
  ['an empty history', history()],
  ['a read of a key never written sees null', history(read('x', null, [0, 1]))],
  ['a write then a read of it', history(write('x', 1, [0, 1]), read('x', 1, [2, 3]))],
  ['concurrent writes taking effect in call order', history(write('x', 1, [0, 10]), write('x', 2, [1, 11]), read('x', 2, [12, 13]))],
  ['concurrent writes taking effect in the opposite order', history(write('x', 1, [0, 10]), write('x', 2, [1, 11]), read('x', 1, [12, 13]))],
  ['reads overlapping a write see the old value, then the new', history(write('x', 1, [0, 1]), write('x', 2, [2, 10]), read('x', 1, [3, 4]), read('x', 2, [5, 6]))],
  ['a read overlapping a write may see the new value before the write returns', history(write('x', 1, [0, 10]), read('x', 1, [1, 2]), read('x', 1, [3, 4]))],
  ['a pending write that took effect', history(write('x', 1, [0]), read('x', 1, [5, 6]))],
  ['a pending write that never took effect', history(write('x', 1, [0]), read('x', null, [5, 6]), read('x', null, [7, 8]))],
  ['a pending write that took effect long after it was sent', history(write('x', 1, [0]), read('x', null, [1, 2]), read('x', 1, [3, 4]))],
  ['a pending write explains an old value coming back', history(write('x', 1, [0, 1]), write('x', 1, [2]), write('x', 2, [3, 4]), read('x', 1, [5, 6]))],
  ['a pending cas that swapped', history(write('x', 1, [0, 1]), cas('x', 1, 2, 'ok', [2]), read('x', 2, [3, 4]))],
  ['a pending cas that did not', history(write('x', 1, [0, 1]), cas('x', 1, 2, 'ok', [2]), read('x', 1, [3, 4]), read('x', 1, [5, 6]))],
  ['a run of two pending operations: a write, then a cas on what it wrote', history(write('x', 1, [0]), cas('x', 1, 2, 'ok', [1]), read('x', 2, [2, 3]))],
  ['a cas chain', history(write('x', 0, [0, 1]), cas('x', 0, 1, 'ok', [2, 3]), cas('x', 0, 2, 'fail', [4, 5]), read('x', 1, [6, 7]))],
  ['two cas racing on the same value: one wins', history(write('x', 0, [0, 1]), cas('x', 0, 1, 'fail', [2, 5]), cas('x', 0, 2, 'ok', [3, 6]), read('x', 2, [7, 8]))],
  ['keys are independent', history(write('x', 1, [0, 1]), write('y', 2, [2, 3]), read('x', 1, [4, 5]), read('y', 2, [4, 5]), read('z', null, [6, 7]))],
  ['equal times count as concurrent', history(write('x', 1, [0, 5]), read('x', null, [5, 6]))],
];

const notLinearizable: Array<[string, History]> = [
  ['a stale read after a completed write', history(write('x', 1, [0, 1]), write('x', 2, [2, 3]), read('x', 1, [4, 5]))],
  ['two reads seeing values in an order contradicting real time', history(write('x', 1, [0, 1]), write('x', 2, [2, 20]), read('x', 2, [3, 4]), read('x', 1, [5, 6]))],
  ['a cas succeeding against a value already overwritten', history(write('x', 1, [0, 1]), write('x', 2, [2, 3]), cas('x', 1, 3, 'ok', [4, 5]))],
  ['a lost acknowledged write', history(write('x', 1, [0, 1]), write('x', 2, [2, 3]), read('x', 1, [4, 5]), read('x', 1, [6, 7]))],
  ['a value rolled back after being read', history(write('x', 1, [0, 1]), write('x', 2, [2, 3]), read('x', 2, [4, 5]), read('x', 1, [6, 7]))],
  ['a read of a value nobody wrote', history(write('x', 1, [0, 1]), read('x', 7, [2, 3]))],
  ['a cas failing although the register held its expected value', history(write('x', 1, [0, 1]), cas('x', 1, 2, 'fail', [2, 3]))],
  ['a read explained only by a pending write sent after it returned', history(read('x', 1, [0, 1]), write('x', 1, [2]))],
  ['a pending write seen, then unseen', history(write('x', 1, [0]), read('x', 1, [1, 2]), read('x', null, [3, 4]))],
  ['a violation on one key among healthy ones', history(write('a', 1, [0, 1]), read('a', 1, [2, 3]), write('x', 1, [0, 1]), write('x', 2, [2, 3]), read('x', 1, [4, 5]), read('b', null, [6, 7]))],
];

for (const { name, accepts } of checkers) {
  describe(`${name}: known histories`, () => {
    for (const [what, h] of linearizable) it(`accepts ${what}`, () => assert.equal(accepts(h), true));
    for (const [what, h] of notLinearizable) it(`rejects ${what}`, () => assert.equal(accepts(h), false));
  });
}

describe('search checker: reports', () => {
  it('names the key, the first unexplainable answer and the longest linearization', () => {
    const h = notLinearizable[9][1]; // a violation on key x among healthy keys a and b
    const result = checkLinearizability(h);
    assert.equal(result.verdict, 'not-linearizable');
    assert.ok(result.verdict === 'not-linearizable');
    assert.equal(result.key, 'x');
    assert.deepEqual(result.culprits, [4]); // the read of 1 at [4, 5]
    assert.deepEqual(result.prefix, [2, 3]); // write 1, write 2
    assert.match(result.explanation, /^key "x" is not linearizable/);
    assert.match(result.explanation, /#4 p4 read → 1 \[4, 5\]/);
    assert.match(result.explanation, /cannot take effect in state 2/);
  });

  it('pins a stale read in a long history to the read itself, with only its concurrent operations around it', () => {
    const { history: h } = simulateKv(seededPick(7), { operations: 2000, processes: 5, keys: 5, values: 5, abandonPercent: 1 });
    const end = Math.max(...h.map((op) => completeTime(op)).filter(Number.isFinite));
    const stale: Operation[] = [
      { process: 'w', key: 'k1', op: 'write', value: 'new', invoke: end + 1, complete: end + 2, result: 'ok' },
      { process: 'r', key: 'k1', op: 'read', invoke: end + 3, complete: end + 4, result: 'old' },
    ];
    const withStale = [...h.slice(0, 1000), ...stale, ...h.slice(1000)];
    const result = checkLinearizability(withStale);
    assert.ok(result.verdict === 'not-linearizable', JSON.stringify(result));
    assert.equal(result.key, 'k1');
    assert.deepEqual(result.culprits, [1001]);
    assert.match(result.explanation, /#1001 pr read → "old"/);
    assert.ok(result.explanation.split('\n').length < 40, result.explanation);
  });

  it('reports "unknown", not ok, when the step budget runs out', () => {
    const { history: h } = simulateKv(seededPick(1), { operations: 500, processes: 5, keys: 2, values: 3 });
    const result = checkLinearizability(h, { maxSteps: 100 });
    assert.equal(result.ok, false);
    assert.equal(result.verdict, 'unknown');
    assert.match(result.ok ? '' : result.explanation, /step budget/);
  });

  it('reports "unknown" when the time budget runs out, on an injected clock', () => {
    const { history: h } = simulateKv(seededPick(1), { operations: 5000, processes: 5, keys: 1, values: 3 });
    let now = 0;
    const result = checkLinearizability(h, { timeoutMs: 1000, now: () => (now += 600) });
    assert.equal(result.verdict, 'unknown');
    assert.match(result.ok ? '' : result.explanation, /time budget/);
  });

  it('refuses histories no correct recorder produces, naming the operation', () => {
    const bad: Array<[History, RegExp]> = [
      [[{ process: 1, key: 'x', op: 'write', value: 1, invoke: 5, complete: 4, result: 'ok' }], /#0 .*complete must be at or after invoke/],
      [[{ process: 1, key: 'x', op: 'read', invoke: 0, complete: 1 }], /#0 .*needs a result/],
      [
        [
          { process: 1, key: 'x', op: 'read', invoke: 0, complete: 3, result: null },
          { process: 1, key: 'x', op: 'read', invoke: 2, complete: 4, result: null },
        ],
        /process 1 has #0 and #1 outstanding at once/,
      ],
      [
        [
          { process: 1, key: 'x', op: 'write', value: 1, invoke: 0 },
          { process: 1, key: 'x', op: 'read', invoke: 2, complete: 4, result: null },
        ],
        /new process id/,
      ],
    ];
    for (const [h, message] of bad) {
      assert.throws(() => checkLinearizability(h), (err: unknown) => err instanceof HistoryError && err.code === 'invalid_history' && message.test(err.message));
    }
  });
});

/** The history as it stood at time t: what was sent by then, with answers not yet given made pending. */
function cutAt(h: History, t: number): History {
  return h.filter((op) => op.invoke <= t).map((op) => (completeTime(op) <= t ? op : ({ ...op, complete: undefined, result: undefined } as Operation)));
}

describe('search checker: properties', () => {
  const faults: Fault[] = ['stale-read', 'lost-write', 'stale-cas'];
  const small = fc.record({
    // Unbiased: fast-check's bias towards small numbers would make mostly choice 0, a sequential history.
    script: fc.noBias(fc.array(fc.nat(), { minLength: 10, maxLength: 80 })),
    operations: fc.integer({ min: 3, max: NAIVE_MAX_OPERATIONS }),
    processes: fc.integer({ min: 1, max: 4 }),
    keys: fc.integer({ min: 1, max: 2 }),
    values: fc.integer({ min: 1, max: 3 }),
    abandonPercent: fc.constantFrom(0, 20, 40),
    faults: fc.subarray(faults, { minLength: 1 }),
    faultPercent: fc.constantFrom(50, 100),
  });

  it('agrees with the naive checker on small random histories, faults injected or not', () => {
    let rejected = 0;
    let runs = 0;
    fc.assert(
      fc.property(small, ({ script, ...options }) => {
        const { history: h, faults: injected } = simulateKv(scriptedPick(script), options);
        const naive = isLinearizableNaive(h, registerModel);
        const result = checkLinearizability(h);
        runs++;
        if (!naive) rejected++;
        if (injected === 0) assert.equal(naive, true, 'a fault-free simulation is linearizable by construction');
        assert.equal(result.ok, naive, `naive says ${naive}, search says ${result.verdict}\n${JSON.stringify(h)}`);
      }),
      { numRuns: 5000 },
    );
    // The comparison means something only if both verdicts occur often.
    assert.ok(rejected > runs / 20, `only ${rejected} of ${runs} histories were not linearizable`);
  });

  it('accepts every fault-free simulation of hundreds of operations', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.constantFrom(0, 10, 30), (seed, processes, values, abandonPercent) => {
        const { history: h } = simulateKv(seededPick(seed), { operations: 300, processes, keys: 2, values, abandonPercent });
        const result = checkLinearizability(h);
        assert.ok(result.ok, result.ok ? '' : result.explanation);
      }),
      { numRuns: 200 },
    );
  });

  it('blames the first unexplainable answer: the history cut just before it is linearizable, cut at it is not', () => {
    let rejected = 0;
    fc.assert(
      fc.property(fc.integer(), fc.constantFrom<Fault>(...faults), (seed, fault) => {
        const { history: h } = simulateKv(seededPick(seed), { operations: 60, processes: 3, keys: 1, values: 3, abandonPercent: 10, faults: [fault], faultPercent: 20 });
        const result = checkLinearizability(h);
        if (result.verdict !== 'not-linearizable') return;
        rejected++;
        const t = h[result.culprits[0]].complete as number;
        assert.equal(checkLinearizability(cutAt(h, t)).ok, false);
        assert.equal(checkLinearizability(cutAt(h, t - 1)).ok, true);
        // The reported prefix is itself a valid start of a linearization of the cut.
        let state: Value = registerModel.init();
        for (const id of result.prefix) {
          const op = completeTime(h[id]) <= t ? h[id] : ({ ...h[id], complete: undefined, result: undefined } as Operation);
          const step = registerModel.step(state, op);
          assert.ok(step.ok || isPending(op), `prefix operation #${id} does not replay`);
          state = step.state;
        }
      }),
      { numRuns: 200 },
    );
    assert.ok(rejected > 50, `only ${rejected} faulty histories were rejected`);
  });
});

describe('search checker: performance', () => {
  const timed = (h: History): [CheckResult, number] => {
    const start = performance.now();
    const result = checkLinearizability(h);
    return [result, performance.now() - start];
  };

  it('checks 5,000 operations over 10 keys from 5 clients in well under a second', (t) => {
    const { history: h } = simulateKv(seededPick(42), { operations: 5000, processes: 5, keys: 10, values: 5, abandonPercent: 2 });
    const [result, ms] = timed(h);
    assert.ok(result.ok, result.ok ? '' : result.explanation);
    t.diagnostic(`linearizable: 5000 ops, 10 keys, 5 clients: ${ms.toFixed(1)} ms, ${result.stats.steps} steps`);
    assert.ok(ms < 3000, `took ${ms} ms`);
  });

  it('rejects and explains a faulty history of 5,000 operations as fast', (t) => {
    const { history: h } = simulateKv(seededPick(43), { operations: 5000, processes: 5, keys: 10, values: 5, abandonPercent: 2, faults: ['stale-read'], faultPercent: 1 });
    const [result, ms] = timed(h);
    assert.equal(result.verdict, 'not-linearizable');
    t.diagnostic(`not linearizable: 5000 ops, 10 keys, 5 clients: ${ms.toFixed(1)} ms, ${result.stats.steps} steps`);
    assert.ok(ms < 3000, `took ${ms} ms`);
  });
});
