import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Limiter } from '../../src/util/limiter.ts';

describe('Limiter', () => {
  it('runs at most its slots at once, in arrival order, and frees a slot when work fails', async () => {
    const limiter = new Limiter(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const job = (n: number) => limiter.run(async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(10);
      order.push(n);
      running--;
      if (n === 1) throw new Error('job 1 fails');
      return n;
    });
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map(job));
    assert.equal(peak, 2);
    assert.deepEqual(order, [1, 2, 3, 4, 5]);
    assert.equal(results[0]!.status, 'rejected');
    assert.deepEqual(results.slice(1).map((r) => (r.status === 'fulfilled' ? r.value : null)), [2, 3, 4, 5]);
  });

  it('refuses a limiter without slots', () => {
    assert.throws(() => new Limiter(0), /at least one slot/);
  });
});
