/**
 * The balancer: least connections, ties round robin, draining and removed backends never picked, a table
 * replaced whole keeping the counts of the tasks that stay, a backend that refused a connection rested.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Balancer, type Backend } from '../../src/mesh/balancer.ts';

const backend = (taskId: string, nodeId = 'n1'): Backend => ({ taskId, nodeId, address: nodeId === 'n1' ? '10.0.0.1' : null });
const table = (...ids: string[]) => ids.map((id) => backend(id));
const picks = (balancer: Balancer, n: number, now = 0) => Array.from({ length: n }, () => balancer.pick(now)?.taskId ?? null);

describe('balancer', () => {
  it('goes round robin among backends with equal counts', () => {
    const balancer = new Balancer();
    balancer.replace(table('a', 'b', 'c'));
    const first = picks(balancer, 3);
    for (const id of first) balancer.release(id!);
    assert.deepEqual(first, ['a', 'b', 'c']);
    const second = picks(balancer, 1);
    balancer.release(second[0]!);
    assert.deepEqual(second, ['a']);
    assert.deepEqual(picks(balancer, 1), ['b'], 'the turn moves on after each pick, counts being equal');
  });

  it('prefers the backend with the fewest open connections', () => {
    const balancer = new Balancer();
    balancer.replace(table('a', 'b', 'c'));
    assert.deepEqual(picks(balancer, 3), ['a', 'b', 'c']);
    balancer.release('b');
    assert.equal(balancer.pick(0)?.taskId, 'b');
    balancer.release('c');
    balancer.release('a');
    assert.deepEqual(picks(balancer, 2).sort(), ['a', 'c']);
  });

  it('gives a draining backend nothing new, but keeps counting its open connections', () => {
    const balancer = new Balancer();
    balancer.replace(table('a', 'b'));
    picks(balancer, 2);
    balancer.drain('a');
    assert.deepEqual(picks(balancer, 3), ['b', 'b', 'b']);
    assert.equal(balancer.active('a'), 1);
    balancer.replace(table('a', 'b'));
    assert.equal(balancer.isDraining('a'), true, 'a replacement that still lists the task does not undrain it');
    balancer.drain('b');
    assert.equal(balancer.pick(0), null);
  });

  it('keeps the counts of tasks that stay when the table is replaced, and forgets removed ones', () => {
    const balancer = new Balancer();
    balancer.replace(table('a', 'b'));
    picks(balancer, 4);
    balancer.replace(table('b', 'c'));
    assert.equal(balancer.active('b'), 2);
    assert.equal(balancer.active('c'), 0);
    assert.deepEqual(picks(balancer, 2), ['c', 'c']);
    balancer.release('a');
    assert.deepEqual(balancer.snapshot().map((b) => [b.taskId, b.active]), [['b', 2], ['c', 2]]);
  });

  it('rests a backend that refused, using it only when nothing else is left, and skips tried ones', () => {
    const balancer = new Balancer(1_000);
    balancer.replace(table('a', 'b'));
    balancer.failed('a', 100);
    assert.deepEqual(picks(balancer, 3, 500), ['b', 'b', 'b']);
    assert.equal(balancer.pick(500, new Set(['b']))?.taskId, 'a', 'a resting backend beats no backend');
    assert.equal(balancer.pick(1_100)?.taskId, 'a', 'the rest is over');
    assert.equal(balancer.pick(1_100, new Set(['a', 'b'])), null);
  });

  it('property: never picks a draining, removed or excluded backend', () => {
    const ops = fc.array(
      fc.oneof(
        fc.record({ op: fc.constant('pick' as const), exclude: fc.subarray(['a', 'b', 'c', 'd', 'e']) }),
        fc.record({ op: fc.constant('release' as const), id: fc.constantFrom('a', 'b', 'c', 'd', 'e') }),
        fc.record({ op: fc.constant('drain' as const), id: fc.constantFrom('a', 'b', 'c', 'd', 'e') }),
        fc.record({ op: fc.constant('replace' as const), ids: fc.subarray(['a', 'b', 'c', 'd', 'e']) }),
      ),
      { maxLength: 60 },
    );
    fc.assert(
      fc.property(ops, (steps) => {
        const balancer = new Balancer();
        let present = new Set<string>();
        const draining = new Set<string>();
        for (const step of steps) {
          if (step.op === 'replace') {
            balancer.replace(table(...step.ids));
            present = new Set(step.ids);
            for (const id of [...draining]) if (!present.has(id)) draining.delete(id);
          } else if (step.op === 'drain') {
            balancer.drain(step.id);
            if (present.has(step.id)) draining.add(step.id);
          } else if (step.op === 'release') {
            balancer.release(step.id);
          } else {
            const picked = balancer.pick(0, new Set(step.exclude));
            const eligible = [...present].filter((id) => !draining.has(id) && !step.exclude.includes(id));
            if (eligible.length === 0) assert.equal(picked, null);
            else assert.ok(picked && eligible.includes(picked.taskId), `picked ${picked?.taskId} of ${eligible}`);
          }
        }
      }),
      { seed: 20_260_301, numRuns: 300 },
    );
  });

  it('property: connections of equal duration leave counts within one of each other, taking turns among ties', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 20 }), (n, total, duration) => {
        const balancer = new Balancer();
        const ids = Array.from({ length: n }, (_, i) => `t${i}`);
        balancer.replace(table(...ids));
        // Each connection lasts `duration` picks: the oldest ends as a new one starts once that many are open.
        const open: string[] = [];
        const served = new Map<string, number>();
        for (let i = 0; i < total; i++) {
          if (open.length >= duration) balancer.release(open.shift()!);
          const picked = balancer.pick(0)!.taskId;
          open.push(picked);
          served.set(picked, (served.get(picked) ?? 0) + 1);
          const counts = ids.map((id) => balancer.active(id));
          assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `open counts ${counts}`);
        }
        const totals = ids.map((id) => served.get(id) ?? 0);
        assert.ok(Math.max(...totals) - Math.min(...totals) <= 1, `served ${totals}`);
      }),
      { seed: 20_260_302, numRuns: 200 },
    );
  });
});
