import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SwarmletError } from '../../src/errors.ts';
import { formatDuration, parseDuration } from '../../src/util/duration.ts';

const S = 1_000_000_000;

describe('parseDuration (Go time.ParseDuration forms, in nanoseconds)', () => {
  const accepted: Array<[string, number]> = [
    ['0', 0],
    ['0s', 0],
    ['10s', 10 * S],
    ['1m30s', 90 * S],
    ['500ms', S / 2],
    ['1h', 3600 * S],
    ['1.5h', 5400 * S],
    ['1h2m3s4ms5us6ns', 3723 * S + 4_005_006],
    ['1µs', 1000],
    ['1μs', 1000],
    ['100ns', 100],
    ['.5s', S / 2],
    ['1.s', S],
    ['+5s', 5 * S],
    ['1.0000000009s', S], // Go truncates below a nanosecond
  ];
  for (const [text, nanos] of accepted) {
    it(`parses ${JSON.stringify(text)} as ${nanos}`, () => assert.equal(parseDuration(text), nanos));
  }

  const rejected = ['', '10', '1x', 's', '.s', '1m30', '-5s', '5 s', '1d', 'h1', '1.5.5s'];
  for (const text of rejected) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseDuration(text),
        (err: unknown) => err instanceof SwarmletError && err.code === 'invalid_argument' && err.message.startsWith(`invalid duration "${text}"`),
      );
    });
  }
});

describe('formatDuration (Go time.Duration.String)', () => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [1, '1ns'],
    [1500, '1.5µs'],
    [S / 2, '500ms'],
    [5 * S, '5s'],
    [90 * S, '1m30s'],
    [60 * S, '1m0s'],
    [3600 * S, '1h0m0s'],
    [3723 * S + 500_000_000, '1h2m3.5s'],
    [1_500_000_001, '1.500000001s'],
    [-5 * S, '-5s'],
  ];
  for (const [nanos, text] of cases) {
    it(`formats ${nanos} as ${text}`, () => assert.equal(formatDuration(nanos), text));
  }

  it('round-trips every non-negative duration through parseDuration', () => {
    fc.assert(fc.property(fc.maxSafeNat(), (nanos) => parseDuration(formatDuration(nanos)) === nanos));
  });
});
