/**
 * Messages come from other machines: whatever arrives, step() must not throw, must not change safety-relevant
 * state on garbage, and must count what it refused.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bootstrapState } from '../../../src/manager/raft/bootstrap.ts';
import type { Message } from '../../../src/manager/raft/types.ts';
import { cluster } from './support/network.ts';

const ids = ['a', 'b', 'c'];

function leaderAndFollower() {
  const net = cluster(ids, () => bootstrapState(ids));
  net.elect('a');
  net.node('a').propose('x');
  net.settle();
  return net;
}

describe('bad input', () => {
  it('arbitrary JSON values never throw out of step() and are counted as malformed', () => {
    const net = leaderAndFollower();
    const node = net.node('b');
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const before = node.counters.malformed;
        node.step(value);
        assert.equal(node.counters.malformed, before + 1);
      }),
    );
    assert.equal(node.counters.internal, 0);
  });

  it('valid-looking messages with random fields never throw, never raise an internal error, and never break the log', () => {
    const types = ['pre-vote', 'pre-vote-response', 'vote', 'vote-response', 'append', 'append-response', 'heartbeat', 'heartbeat-response', 'snapshot', 'timeout-now', 'read-index', 'read-index-response', 'propose'];
    const count = fc.oneof(fc.nat(20), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(-1), fc.constant(1.5));
    const entry = fc.record({ term: count, index: count, type: fc.constantFrom('normal', 'conf-change', 'bogus'), data: fc.jsonValue() });
    const message = fc.record(
      {
        type: fc.constantFrom(...types),
        from: fc.constantFrom('a', 'b', 'c', 'z', ''),
        to: fc.constantFrom('a', 'b', 'c'),
        term: count,
        index: count,
        logTerm: count,
        commit: count,
        reject: fc.boolean(),
        rejectHint: count,
        rejectTerm: count,
        context: fc.string(),
        entries: fc.array(entry, { maxLength: 3 }),
      },
      { requiredKeys: ['type', 'from', 'to', 'term'] },
    );
    fc.assert(
      fc.property(fc.array(message, { maxLength: 20 }), (messages) => {
        const net = leaderAndFollower();
        const committed = net.logOf('a').slice(0, net.node('a').log.committed);
        for (const m of messages) {
          const node = net.nodes.get(m.to)!;
          node.step(m);
          assert.equal(node.counters.internal, 0, String(node.lastInternalError));
          net.flush(m.to);
        }
        // Whatever was accepted, entries committed before the garbage are still there on the leader.
        const a = net.node('a');
        for (const e of committed) assert.equal(a.log.term(e.index) ?? e.term, e.term);
      }),
      { numRuns: 200 },
    );
  });

  it('counts messages from unknown members, older terms, out-of-range indexes and oversized entries', () => {
    const net = leaderAndFollower();
    const a = net.node('a');
    const b = net.node('b');
    const term = a.term;
    const at = (m: Partial<Message>) => ({ from: 'b', to: 'a', term, ...m }) as Message;
    b.step({ type: 'vote', from: 'stranger', to: 'b', term: term + 5, index: 99, logTerm: 99 });
    assert.equal(b.counters['unknown-member'], 1);
    assert.equal(b.term, term, 'a stranger cannot move the term');
    a.step(at({ type: 'append-response', term: term - 1, index: 1 }));
    assert.equal(a.counters['stale-term'], 1);
    a.step(at({ type: 'append-response', index: 10_000 }));
    assert.equal(a.counters['out-of-range'], 1);
    const big = { term, index: 0, type: 'normal' as const, data: 'x'.repeat(2 * 1024 * 1024) };
    a.step(at({ type: 'propose', entries: [big] }));
    assert.equal(a.counters.oversized, 1);
    b.step({ type: 'append', from: 'a', to: 'b', term, index: b.log.lastIndex(), logTerm: b.log.lastTerm(), commit: 0, entries: [{ ...big, index: b.log.lastIndex() + 1 }] });
    assert.equal(b.counters.oversized, 1);
    b.step({ type: 'append', from: 'a', to: 'b', term, index: b.log.lastIndex(), logTerm: b.log.lastTerm(), commit: 0, entries: [{ term, index: 999, type: 'normal', data: null }] });
    assert.equal(b.counters['out-of-range'], 1);
    b.step({ type: 'heartbeat', from: 'b', to: 'b', term, commit: 0 });
    b.step({ type: 'heartbeat', from: 'a', to: 'c', term, commit: 0 });
    assert.equal(b.counters.misaddressed, 2);
    for (const node of net.nodes.values()) assert.equal(node.counters.internal, 0);
  });
});
