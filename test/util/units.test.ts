import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SwarmletError } from '../../src/errors.ts';
import { formatBytes, formatNanoCpus, parseMemorySize, parseNanoCpus } from '../../src/util/units.ts';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe('parseMemorySize', () => {
  // Docker's RAMInBytes: every unit is binary, with or without b / ib, any case, an optional space.
  const accepted: Array<[string, number]> = [
    ['0', 0],
    ['1024', 1024],
    ['64b', 64],
    ['64B', 64],
    ['512k', 512 * KiB],
    ['512K', 512 * KiB],
    ['512kb', 512 * KiB],
    ['64m', 64 * MiB],
    ['64M', 64 * MiB],
    ['64MB', 64 * MiB],
    ['64MiB', 64 * MiB],
    ['64mib', 64 * MiB],
    ['64 M', 64 * MiB],
    ['1.5G', 1.5 * GiB],
    ['1.5g', 1.5 * GiB],
    ['2t', 2 * 1024 ** 4],
    ['1p', 1024 ** 5],
    ['0.5k', 512],
    ['.5k', 512],
    ['1.0001k', 1024], // fractions of a byte are dropped
    [' 64M ', 64 * MiB],
  ];
  for (const [text, bytes] of accepted) {
    it(`accepts ${JSON.stringify(text)} as ${bytes} bytes`, () => assert.equal(parseMemorySize(text), bytes));
  }

  const rejected = ['', ' ', '64X', 'M', '-64M', '64MM', '64 MB B', '1.5.5G', '64i', 'sixty', '0x40', '1e3', '64M!', '64  M', '99999999999p'];
  for (const text of rejected) {
    it(`rejects ${JSON.stringify(text)} with a message naming the value and the accepted units`, () => {
      assert.throws(
        () => parseMemorySize(text),
        (err: unknown) => err instanceof SwarmletError && err.code === 'invalid_argument' && err.message.startsWith(`invalid memory size "${text}"`),
      );
    });
  }

  it('says how to write a size', () => {
    assert.throws(() => parseMemorySize('64X'), {
      message: 'invalid memory size "64X": use a number with an optional unit b, k, m, g, t (e.g. 64M, 1.5G)',
    });
  });

  it('reads any whole number of bytes as itself', () => {
    fc.assert(fc.property(fc.maxSafeNat(), (n) => parseMemorySize(String(n)) === n));
  });

  it('reads N<unit> as N times the binary multiplier', () => {
    const units = fc.constantFrom<[string, number]>(['k', KiB], ['m', MiB], ['g', GiB]);
    fc.assert(fc.property(fc.nat(1 << 20), units, (n, [unit, factor]) => parseMemorySize(`${n}${unit}`) === n * factor));
  });
});

describe('formatBytes', () => {
  // What `docker service inspect --pretty` / `docker node inspect --pretty` print for these values.
  const cases: Array<[number, string]> = [
    [0, '0B'],
    [512, '512B'],
    [1023, '1023B'],
    [1024, '1KiB'],
    [64 * MiB, '64MiB'],
    [1.5 * GiB, '1.5GiB'],
    [2 * GiB, '2GiB'],
    [25_274_130_432, '23.54GiB'],
    [1024 ** 4, '1TiB'],
  ];
  for (const [bytes, text] of cases) {
    it(`formats ${bytes} as ${text}`, () => assert.equal(formatBytes(bytes), text));
  }

  it('round-trips exactly through parseMemorySize when the value has at most 4 significant digits in its unit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1023 }), fc.integer({ min: 0, max: 4 }), (mantissa, power) => {
        const bytes = mantissa * 1024 ** power;
        return parseMemorySize(formatBytes(bytes)) === bytes;
      }),
    );
  });

  it('round-trips any size to within the 4 significant digits it prints', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 50 }), (bytes) => {
        const back = parseMemorySize(formatBytes(bytes));
        return Math.abs(back - bytes) / bytes <= 0.0005 + 1 / bytes;
      }),
    );
  });
});

describe('NanoCPUs', () => {
  const accepted: Array<[string, number]> = [
    ['0.5', 500_000_000],
    ['2', 2_000_000_000],
    ['1.25', 1_250_000_000],
    ['.5', 500_000_000],
    ['0.000000001', 1],
    ['1.500000000', 1_500_000_000],
  ];
  for (const [text, nano] of accepted) {
    it(`parses ${text} as ${nano}`, () => assert.equal(parseNanoCpus(text), nano));
  }
  for (const text of ['', '.', 'x', '-1', '1/2', '0.0000000001', '1,5']) {
    it(`rejects ${JSON.stringify(text)}`, () => assert.throws(() => parseNanoCpus(text), SwarmletError));
  }
  it('formats as a CPU count', () => {
    assert.equal(formatNanoCpus(500_000_000), '0.5');
    assert.equal(formatNanoCpus(2_000_000_000), '2');
  });
});
