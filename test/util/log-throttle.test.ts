import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LogThrottle } from '../../src/util/logger.ts';

describe('log throttle', () => {
  it('lets the first line about a key through, then one per interval with the count left out, each key on its own', () => {
    let now = 0;
    const throttle = new LogThrottle(10_000, () => now);
    assert.equal(throttle.admit('rate_limited 10.0.0.1'), 0);
    for (let i = 0; i < 500; i++) assert.equal(throttle.admit('rate_limited 10.0.0.1'), null);
    assert.equal(throttle.admit('rate_limited 10.0.0.2'), 0, 'another address is said at once');
    now = 9_999;
    assert.equal(throttle.admit('rate_limited 10.0.0.1'), null);
    now = 10_000;
    assert.equal(throttle.admit('rate_limited 10.0.0.1'), 501, 'the next line says how many were left out');
    assert.equal(throttle.admit('rate_limited 10.0.0.1'), null);
  });
});
