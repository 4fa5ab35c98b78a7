/** The side-effect-free pieces, checked against naive references and by hand: quorum, log, membership. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { applyConfChange, confChangeProblem } from '../../../src/manager/raft/confchange.ts';
import { RaftLog } from '../../../src/manager/raft/log.ts';
import { quorumIndex, quorumSize, voteOutcome } from '../../../src/manager/raft/quorum.ts';
import type { Entry } from '../../../src/manager/raft/types.ts';

const log = (terms: number[], committed = 0) =>
  new RaftLog(0, 0, terms.map((term, i): Entry => ({ term, index: i + 1, type: 'normal', data: i })), committed, 0);
const ents = (from: number, terms: number[]): Entry[] => terms.map((term, i) => ({ term, index: from + i, type: 'normal', data: `n${from + i}` }));

describe('quorum', () => {
  it('quorumIndex is the largest index held by a majority (checked against counting)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(50), { minLength: 1, maxLength: 7 }), (matches) => {
        const voters = matches.map((_, i) => `v${i}`);
        const got = quorumIndex(voters, (id) => matches[Number(id.slice(1))]);
        const naive = Math.max(...[0, ...matches].filter((idx) => matches.filter((m) => m >= idx).length >= quorumSize(voters.length)));
        assert.equal(got, naive);
      }),
    );
  });

  it('voteOutcome counts only voters, and decides as soon as the answer is certain', () => {
    const voters = ['a', 'b', 'c'];
    assert.equal(voteOutcome(voters, new Map([['a', true]])), 'pending');
    assert.equal(voteOutcome(voters, new Map([['a', true], ['learner', true], ['x', true]])), 'pending');
    assert.equal(voteOutcome(voters, new Map([['a', true], ['b', true]])), 'won');
    assert.equal(voteOutcome(voters, new Map([['a', true], ['b', false], ['c', false]])), 'lost');
    assert.equal(voteOutcome(['a', 'b', 'c', 'd'], new Map([['a', true], ['b', true], ['c', false]])), 'pending');
  });
});

describe('log', () => {
  it('appends after a matching entry, truncates at the first conflict, and keeps matching entries', () => {
    const l = log([1, 1, 2, 2]);
    assert.deepEqual(l.tryAppend(2, 1, ents(3, [2, 3])), { ok: true, lastNewIndex: 4 });
    assert.deepEqual([3, 4].map((i) => l.term(i)), [2, 3]);
    assert.equal(l.lastIndex(), 4);
    assert.deepEqual(l.tryAppend(4, 2, ents(5, [3])), { ok: false, reason: 'mismatch' });
    // A stale, shorter append must not truncate what follows it.
    assert.deepEqual(l.tryAppend(1, 1, ents(2, [1])), { ok: true, lastNewIndex: 2 });
    assert.equal(l.lastIndex(), 4);
  });

  it('refuses to overwrite a committed entry', () => {
    const l = log([1, 1, 2], 3);
    assert.deepEqual(l.tryAppend(1, 1, ents(2, [3])), { ok: false, reason: 'committed-conflict' });
  });

  it('finds the last index whose term is at most a given term (fast backtracking)', () => {
    const l = log([1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);
    assert.equal(l.lastIndexWithTermAtMost(10, 6), 10);
    assert.equal(l.lastIndexWithTermAtMost(10, 3), 3);
    assert.equal(l.lastIndexWithTermAtMost(10, 0), 0);
    assert.equal(l.lastIndexWithTermAtMost(99, 4), 5);
  });

  it('tracks what is stable across truncation, and compacts behind a snapshot', () => {
    const l = log([1, 1]);
    l.tryAppend(2, 1, ents(3, [2, 2]));
    assert.deepEqual(l.unstableEntries().map((e) => e.index), [3, 4]);
    l.stableTo(4, 2);
    l.tryAppend(2, 1, ents(3, [3]));
    assert.equal(l.stableIndex, 2, 'a replaced entry is not stable any more');
    l.stableTo(4, 2);
    assert.equal(l.stableIndex, 2, 'an acknowledgement for a replaced entry is ignored');
    l.stableTo(3, 3);
    l.commitTo(3);
    l.appliedTo(3);
    l.compactTo(2);
    assert.equal(l.firstIndex(), 3);
    assert.equal(l.term(2), 1);
    assert.equal(l.term(1), undefined);
    assert.deepEqual(l.slice(1, 3).map((e) => e.index), [3]);
  });

  it('the up-to-date rule compares last terms first, then lengths', () => {
    const l = log([1, 2, 2]);
    assert.equal(l.isUpToDate(1, 3), true);
    assert.equal(l.isUpToDate(3, 2), true);
    assert.equal(l.isUpToDate(2, 2), false);
    assert.equal(l.isUpToDate(9, 1), false);
  });
});

describe('membership changes', () => {
  const conf = { voters: ['a', 'b'], learners: ['c'] };
  it('adds learners, promotes them, removes members', () => {
    assert.deepEqual(applyConfChange(conf, { type: 'add-learner', member: 'd' }), { voters: ['a', 'b'], learners: ['c', 'd'] });
    assert.deepEqual(applyConfChange(conf, { type: 'promote', member: 'c' }), { voters: ['a', 'b', 'c'], learners: [] });
    assert.deepEqual(applyConfChange(conf, { type: 'remove', member: 'a' }), { voters: ['b'], learners: ['c'] });
    assert.deepEqual(conf, { voters: ['a', 'b'], learners: ['c'] }, 'never mutates its input');
  });

  it('refuses changes that do not apply, including removing the last voter', () => {
    assert.match(confChangeProblem(conf, { type: 'add-learner', member: 'a' })!, /already/);
    assert.match(confChangeProblem(conf, { type: 'promote', member: 'a' })!, /not a learner/);
    assert.match(confChangeProblem(conf, { type: 'remove', member: 'z' })!, /not a member/);
    assert.match(confChangeProblem({ voters: ['a'], learners: [] }, { type: 'remove', member: 'a' })!, /last voter/);
  });
});
