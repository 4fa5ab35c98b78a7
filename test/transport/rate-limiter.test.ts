import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBuckets } from '../../src/transport/rate-limiter.ts';

describe('handshake token buckets', () => {
  it('allows a burst, then the steady rate, per address', () => {
    const buckets = new TokenBuckets({ ratePerSecond: 2, burst: 3 });
    const takes = (key: string, at: number, n: number) => Array.from({ length: n }, () => buckets.take(key, at));
    assert.deepEqual(takes('10.0.0.1', 0, 4), [true, true, true, false]);
    assert.deepEqual(takes('10.0.0.2', 0, 3), [true, true, true], 'another address has its own bucket');
    assert.deepEqual(takes('10.0.0.1', 499, 1), [false]);
    assert.deepEqual(takes('10.0.0.1', 500, 2), [true, false], 'one token per 500 ms at 2/s');
    assert.deepEqual(takes('10.0.0.1', 60_000, 4), [true, true, true, false], 'refills to the burst, no more');
  });

  it('never limits at an infinite rate', () => {
    const buckets = new TokenBuckets({ ratePerSecond: Infinity, burst: 1 });
    for (let i = 0; i < 1000; i++) assert.equal(buckets.take('a', 0), true);
    assert.equal(buckets.size, 0);
  });

  it('stays bounded under a sweep of addresses, forgetting refilled buckets first', () => {
    const buckets = new TokenBuckets({ ratePerSecond: 1, burst: 2, maxKeys: 100 });
    buckets.take('busy', 0);
    buckets.take('busy', 0);
    for (let i = 0; i < 10_000; i++) buckets.take(`10.1.${i >> 8}.${i & 255}`, 0);
    assert.ok(buckets.size <= 101, `${buckets.size} buckets`);
  });
});
