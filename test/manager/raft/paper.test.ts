/**
 * Scenario tests that read like the Raft paper (sections 5.2–5.4 and figures 7 and 8), plus the extensions
 * swarmlet relies on: pre-vote, check-quorum, leadership transfer, snapshots, learners and membership changes.
 * Driven by the synchronous test network: nothing fires unless a test ticks it.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bootstrapState } from '../../../src/manager/raft/bootstrap.ts';
import { RaftError } from '../../../src/manager/raft/errors.ts';
import type { Message } from '../../../src/manager/raft/types.ts';
import { cluster, stateWithLog, TestNetwork } from './support/network.ts';

const ids3 = ['a', 'b', 'c'];
const boot = (ids: string[], config = {}) => cluster(ids, () => bootstrapState(ids), config);
const raftError = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RaftError, `expected a RaftError, got ${err}`);
    return err.reason;
  }
  assert.fail('expected a RaftError');
};

describe('leader election (§5.2)', () => {
  it('a follower whose timer fires becomes a candidate for the next term, votes for itself, and wins a majority', () => {
    const net = boot(ids3, { preVote: false });
    const a = net.node('a');
    const term = a.term;
    for (let i = 0; i < a.randomizedElectionTimeout; i++) a.tick();
    assert.equal(a.role, 'candidate');
    assert.equal(a.term, term + 1);
    assert.equal(a.vote, 'a');
    net.settle();
    assert.equal(a.role, 'leader');
    assert.equal(net.node('b').leader, 'a');
    assert.equal(net.node('c').term, term + 1);
  });

  it('election timeouts are randomized within [electionTick, 2·electionTick) from the injected random source', () => {
    const net = boot(['a', 'b', 'c', 'd', 'e']);
    const timeouts = new Set<number>();
    for (const node of net.nodes.values()) {
      for (let i = 0; i < 20; i++) {
        node.becomeFollower(node.term + 1, '');
        timeouts.add(node.randomizedElectionTimeout);
      }
    }
    for (const t of timeouts) assert.ok(t >= 10 && t < 20, `timeout ${t}`);
    assert.ok(timeouts.size > 5);
  });

  it('a member grants one vote per term, first come first served', () => {
    const net = boot(ids3, { preVote: false, checkQuorum: false });
    net.cutLink('a', 'c');
    net.elect('a');
    assert.equal(net.node('b').vote, 'a');
    net.heal();
    // c campaigns in a later term and b, now a follower of a in the earlier term, moves on and may vote again;
    // but a second candidate in the *same* term gets nothing from b.
    const b = net.node('b');
    b.step({ type: 'vote', from: 'c', to: 'b', term: b.term, index: 100, logTerm: 100 });
    net.flush('b');
    const answer = net.delivered.length;
    net.settle();
    const reply = net.delivered.slice(answer).find((m) => m.type === 'vote-response' && m.from === 'b' && m.to === 'c');
    assert.equal(reply?.reject, true);
  });

  it("a candidate whose log is less up to date than a voter's is refused (§5.4.1)", () => {
    const voters = ['a', 'b', 'c'];
    const net = new TestNetwork(
      [
        { id: 'a', storage: stateWithLog(voters, [1, 1]) },
        { id: 'b', storage: stateWithLog(voters, [1, 1, 2]) },
        { id: 'c', storage: stateWithLog(voters, [1, 1, 2]) },
      ],
      { preVote: false },
    );
    net.elect('a');
    assert.notEqual(net.node('a').role, 'leader');
    net.elect('b');
    assert.equal(net.node('b').role, 'leader');
  });

  it('a split vote ends with a new election in a later term', () => {
    const net = boot(['a', 'b', 'c', 'd'], { preVote: false });
    // a and c campaign at once; b answers a first, d answers c first: two votes each, no majority of four.
    net.cutLink('c', 'b');
    net.cutLink('a', 'd');
    net.node('a').campaign();
    net.node('c').campaign();
    net.settle();
    assert.equal(net.leaders().length, 0);
    net.heal();
    net.tickAll(40);
    assert.equal(net.leaders().length, 1);
    assert.ok(net.leaders()[0].term >= 3);
  });
});

describe('log replication (§5.3)', () => {
  it('commits an entry once a majority stores it, and followers apply it after learning the commit index', () => {
    const net = boot(ids3);
    net.elect('a');
    net.cutLink('a', 'c');
    const { index } = net.node('a').propose('x') as { index: number };
    net.settle();
    assert.equal(net.node('a').log.committed, index);
    assert.equal(net.applied.get('b')!.at(-1)?.data, 'x');
    assert.equal(net.node('c').log.lastIndex() < index, true);
    net.heal();
    net.tickAll(2);
    assert.equal(net.applied.get('c')!.at(-1)?.data, 'x');
  });

  it('log matching: figure 7 — a new leader brings every divergent follower in line, backtracking by term', () => {
    const voters = ['L', 'a', 'b', 'c', 'd', 'e', 'f'];
    const logs: Record<string, number[]> = {
      L: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
      a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
      b: [1, 1, 1, 4],
      c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
      d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
      e: [1, 1, 1, 4, 4, 4, 4],
      f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    };
    const net = new TestNetwork(
      voters.map((id) => ({ id, storage: stateWithLog(voters, logs[id], { term: id === 'd' || id === 'L' ? 7 : logs[id].at(-1)! }) })),
      { preVote: false },
    );
    // L campaigns for term 8; c and d (more up-to-date logs) refuse, the other five elect it.
    net.elect('L');
    const leader = net.node('L');
    assert.equal(leader.role, 'leader');
    assert.equal(leader.term, 8);
    leader.propose('x');
    net.settle();
    const expected = net.logOf('L');
    assert.deepEqual(expected.map((e) => e.term), [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 8, 8]);
    for (const id of voters) assert.deepEqual(net.logOf(id), expected, `log of ${id}`);
    // Fast backtracking: no follower needs more than two rejected appends (one per index would be up to eight).
    for (const id of voters) {
      const rejections = net.delivered.filter((m) => m.type === 'append-response' && m.from === id && m.reject).length;
      assert.ok(rejections <= 2, `${id} rejected ${rejections} appends`);
    }
    assert.equal(leader.log.committed, 12);
  });

  /**
   * Figure 8: S1 leads term 4 and copies its term-2 entry to S3. That entry is now on a majority, but must not be
   * committed by counting: S5 (whose last entry is from term 3) can still be elected by S2, S3 and S4 and
   * overwrite it. Only once S1's own term-4 entry is on a majority are both committed.
   */
  const figure8 = (faults = {}) => {
    const voters = ['s1', 's2', 's3', 's4', 's5'];
    const logs: Record<string, number[]> = { s1: [1, 2], s2: [1, 2], s3: [1], s4: [1], s5: [1, 3] };
    const net = new TestNetwork(
      voters.map((id) => ({ id, storage: stateWithLog(voters, logs[id], { term: id === 's5' ? 4 : 3, commit: 1 }) })),
      { preVote: false, checkQuorum: false, maxMessageBytes: 1, faults },
    );
    net.cutLink('s1', 's5');
    net.cutLink('s1', 's4');
    // S3 catches up to index 2, but S1's term-4 entry (index 3) does not reach it.
    net.filter = (m) => !(m.to === 's3' && m.type === 'append' && m.entries!.some((e) => e.index === 3) && net.node('s3').log.lastIndex() >= 2);
    net.elect('s1');
    assert.equal(net.node('s1').role, 'leader');
    assert.equal(net.node('s1').term, 4);
    assert.equal(net.node('s3').log.term(2), 2, 'index 2 (term 2) is now on s1, s2, s3');
    assert.equal(net.node('s3').log.lastIndex(), 2);
    return net;
  };

  it('figure 8: an old-term entry on a majority is not committed by counting, so S5 may safely replace it', () => {
    const net = figure8();
    assert.equal(net.node('s1').log.committed, 1);
    // S1 crashes; S5 wins term 5 with S2, S3, S4 and overwrites index 2 — which nobody had committed.
    net.isolate('s1');
    net.filter = null;
    net.elect('s5');
    assert.equal(net.node('s5').role, 'leader');
    net.settle();
    assert.equal(net.node('s3').log.term(2), 3);
    assert.ok(net.node('s3').log.committed >= 2);
  });

  it('figure 8 with the fault injected: counting commits the old entry, which S5 then overwrites', () => {
    const net = figure8({ commitOldTermByCount: true });
    assert.equal(net.node('s1').log.committed, 2, 'the mutant commits index 2 by counting replicas');
    net.isolate('s1');
    net.filter = null;
    net.node('s5').campaign();
    // Safety is gone, and liveness with it: s2 holds the wrongly committed entry and cannot be brought in line.
    net.run(20);
    assert.equal(net.node('s5').role, 'leader', 'elected without the committed entry');
    assert.equal(net.node('s3').log.term(2), 3, 'the entry s1 committed at index 2 is gone');
  });

  it("figure 8 (e): once the leader's own entry is on a majority, both entries commit and S5 cannot win", () => {
    const net = figure8();
    net.filter = null;
    net.node('s1').tick();
    net.settle();
    assert.equal(net.node('s1').log.committed, 3);
    net.isolate('s1');
    net.elect('s5');
    assert.notEqual(net.node('s5').role, 'leader');
  });
});

describe('pre-vote and check-quorum', () => {
  it('pre-vote: a member cut off for a long time rejoins without raising its term or deposing the leader', () => {
    const net = boot(ids3);
    net.elect('a');
    const term = net.node('a').term;
    net.isolate('c');
    net.tick('c', 100);
    net.settle();
    assert.equal(net.node('c').term, term, 'pre-votes never raise the term');
    net.heal();
    net.tickAll(3);
    assert.equal(net.node('a').role, 'leader');
    assert.equal(net.node('a').term, term);
    assert.equal(net.node('c').leader, 'a');
  });

  it('without pre-vote or check-quorum, the same member deposes the healthy leader (what pre-vote prevents)', () => {
    const net = boot(ids3, { preVote: false, checkQuorum: false });
    net.elect('a');
    const term = net.node('a').term;
    net.isolate('c');
    net.tick('c', 100);
    net.heal();
    net.tickAll(1);
    assert.ok(net.node('a').term > term);
  });

  it('check-quorum: a leader that stops hearing from a quorum steps down within an election timeout', () => {
    const net = boot(ids3);
    net.elect('a');
    net.isolate('a');
    net.tick('a', 2 * net.node('a').config.electionTick);
    assert.equal(net.node('a').role, 'follower');
    assert.equal(net.node('a').leader, '');
  });

  it('leader lease: followers that hear from their leader ignore vote requests from a flaky member', () => {
    const net = boot(ids3, { preVote: false });
    net.elect('a');
    const term = net.node('a').term;
    // c's link to a is down one way: it misses heartbeats, times out and campaigns at a higher term.
    net.cutLink('a', 'c', false);
    net.tick('c', 25);
    net.settle();
    assert.ok(net.node('c').term > term);
    assert.equal(net.node('a').role, 'leader');
    assert.equal(net.node('a').term, term);
    assert.ok(net.node('b').counters.lease > 0);
  });
});

describe('leadership transfer', () => {
  it('hands over to an up-to-date voter at once; the new leader takes the next term', () => {
    const net = boot(ids3);
    net.elect('a');
    const term = net.node('a').term;
    net.node('a').transferLeadership('b');
    net.settle();
    assert.equal(net.node('b').role, 'leader');
    assert.equal(net.node('b').term, term + 1);
    assert.equal(net.node('a').leader, 'b');
  });

  it('brings a lagging target up to date first, and refuses proposals meanwhile', () => {
    const net = boot(ids3);
    net.elect('a');
    net.cutLink('a', 'c');
    for (let i = 0; i < 5; i++) net.node('a').propose(`x${i}`);
    net.settle();
    net.heal();
    net.node('a').transferLeadership('c');
    assert.equal(raftError(() => net.node('a').propose('during')), 'transfer_in_progress');
    net.settle();
    assert.equal(net.node('c').role, 'leader');
    assert.equal(net.applied.get('c')!.filter((e) => typeof e.data === 'string').length, 5);
  });

  it('gives up after an election timeout when the target does not answer, and takes proposals again', () => {
    const net = boot(ids3);
    net.elect('a');
    net.isolate('c');
    net.node('a').transferLeadership('c');
    net.tick('a', net.node('a').config.electionTick);
    net.settle();
    assert.equal(net.node('a').role, 'leader');
    assert.equal(net.node('a').leadTransferee, '');
    assert.equal(net.node('a').propose('after').status, 'appended');
  });
});

describe('snapshots and compaction', () => {
  it("a follower behind the leader's first log index receives the snapshot, then the entries after it", () => {
    const net = boot(ids3);
    net.elect('a');
    net.isolate('c');
    for (let i = 0; i < 20; i++) net.node('a').propose(`x${i}`);
    net.settle();
    const a = net.node('a');
    const snap = a.compact(a.log.applied - 2, { state: 'at', index: a.log.applied - 2 });
    assert.equal(a.log.firstIndex(), snap.metadata.index + 1);
    assert.deepEqual(snap.metadata.conf.voters, ids3);
    a.propose('after');
    net.heal();
    net.tickAll(3);
    const snapshots = net.delivered.filter((m) => m.type === 'snapshot' && m.to === 'c');
    assert.equal(snapshots.length, 1);
    const c = net.node('c');
    assert.equal(c.log.committed, a.log.committed);
    assert.equal(c.log.snapshotIndex, snap.metadata.index);
    assert.equal(net.applied.get('c')!.at(-1)?.data, 'after');
    // c restarts from what it persisted: the snapshot, and the entries after it.
    const restarted = net.restart('c');
    assert.equal(restarted.log.snapshotIndex, snap.metadata.index);
    assert.equal(restarted.log.committed, a.log.committed);
    assert.deepEqual(restarted.conf.voters, ids3);
  });

  it('refuses to compact what is not applied yet', () => {
    const net = boot(ids3);
    net.elect('a');
    assert.equal(raftError(() => net.node('a').compact(net.node('a').log.applied + 1, null)), 'invalid_argument');
  });
});

describe('membership changes', () => {
  it('a learner receives the log but does not vote or campaign, and is promoted only once caught up', () => {
    const net = boot(ids3, { promotionLag: 2 });
    net.elect('a');
    const a = net.node('a');
    net.add('d', { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] });
    net.isolate('d');
    a.proposeConfChange({ type: 'add-learner', member: 'd' });
    for (let i = 0; i < 5; i++) a.propose(`x${i}`);
    net.settle();
    assert.deepEqual(a.conf.learners, ['d']);
    net.tick('d', 100);
    assert.equal(net.node('d').role, 'follower', 'a learner never campaigns');
    assert.equal(raftError(() => a.proposeConfChange({ type: 'promote', member: 'd' })), 'learner_behind');
    net.heal();
    net.tickAll(2);
    assert.equal(net.node('d').log.lastIndex(), a.log.lastIndex());
    assert.deepEqual(net.node('d').conf.learners, ['d'], 'the learner learned the membership from the log');
    a.proposeConfChange({ type: 'promote', member: 'd' });
    net.tickAll(2);
    for (const id of ['a', 'b', 'c', 'd']) assert.deepEqual(net.node(id).conf.voters, ['a', 'b', 'c', 'd'], id);
    // d now counts: with two of four voters cut off, nothing commits.
    net.isolate('c');
    net.isolate('d');
    const { index } = a.propose('needs three') as { index: number };
    net.settle();
    assert.ok(a.log.committed < index);
  });

  it('one change at a time: a second is refused until the first is committed', () => {
    const net = boot(ids3);
    net.elect('a');
    net.isolate('a');
    net.node('a').proposeConfChange({ type: 'add-learner', member: 'd' });
    assert.equal(raftError(() => net.node('a').proposeConfChange({ type: 'add-learner', member: 'e' })), 'conf_change_pending');
    assert.equal(raftError(() => net.node('b').proposeConfChange({ type: 'add-learner', member: 'e' })), 'not_leader');
  });

  it('removing a member cut off by a partition: the majority commits it, and the removed member cannot disrupt', () => {
    const net = boot(ids3);
    net.elect('a');
    net.isolate('c');
    net.node('a').proposeConfChange({ type: 'remove', member: 'c' });
    net.settle();
    assert.deepEqual(net.node('a').conf.voters, ['a', 'b']);
    assert.deepEqual(net.node('b').conf.voters, ['a', 'b']);
    // c never learned: it keeps campaigning for a cluster that no longer counts it.
    net.tick('c', 50);
    net.heal();
    net.node('c').campaign();
    net.settle();
    net.tickAll(3);
    assert.equal(net.node('a').role, 'leader');
    assert.ok(net.node('b').counters['unknown-member'] + net.node('a').counters['unknown-member'] > 0);
    // The two remaining voters still commit.
    const { index } = net.node('a').propose('two voters') as { index: number };
    net.settle();
    assert.equal(net.node('a').log.committed, index);
  });

  it('a leader that removes itself steps down once the change is committed, and the rest elect a leader', () => {
    const net = boot(ids3);
    net.elect('a');
    net.node('a').proposeConfChange({ type: 'remove', member: 'a' });
    net.settle();
    assert.equal(net.node('a').role, 'follower');
    assert.deepEqual(net.node('b').conf.voters, ['b', 'c']);
    net.tickAll(40);
    const leaders = net.leaders();
    assert.equal(leaders.length, 1);
    assert.notEqual(leaders[0].id, 'a');
  });
});

describe('reads and forwarding', () => {
  it('the leader answers a read after a heartbeat round confirms it still leads', () => {
    const net = boot(ids3);
    net.elect('a');
    net.node('a').propose('x');
    net.settle();
    net.isolate('a');
    net.node('a').readIndex('r1');
    net.settle();
    assert.deepEqual(net.readStates.get('a'), [], 'no quorum answered: no read');
    net.heal();
    net.node('a').readIndex('r2');
    net.settle();
    assert.deepEqual(
      net.readStates.get('a')!.map((r) => r.context),
      ['r1', 'r2'],
    );
    assert.equal(net.readStates.get('a')![1].index, net.node('a').log.committed);
  });

  it("a follower forwards reads to the leader and gets the leader's commit index back", () => {
    const net = boot(ids3);
    net.elect('a');
    net.cutLink('a', 'c');
    net.node('a').propose('x');
    net.settle();
    net.heal();
    net.node('c').readIndex('rc');
    // Deliver only the read round, not the append that would bring c up to date.
    net.filter = (m: Message) => m.type !== 'append';
    net.settle();
    const [rs] = net.readStates.get('c')!;
    assert.equal(rs.context, 'rc');
    assert.equal(rs.index, net.node('a').log.committed);
    assert.ok(net.node('c').log.committed < rs.index, 'c must wait until it has applied the index before serving');
  });

  it('a new leader serves reads only after committing an entry of its term', () => {
    const net = boot(ids3, { checkQuorum: false });
    net.elect('a');
    net.filter = (m: Message) => m.type !== 'append-response';
    net.node('b').campaign();
    net.settle();
    const b = net.node('b');
    assert.equal(b.role, 'leader');
    b.readIndex('early');
    net.settle();
    assert.deepEqual(net.readStates.get('b'), []);
    net.filter = null;
    b.tick();
    net.settle();
    assert.deepEqual(net.readStates.get('b')!.map((r) => r.context), ['early']);
  });

  it('followers forward proposals to the leader; with no leader known, proposals and reads fail with no_leader', () => {
    const net = boot(ids3);
    const lonely = net.node('c');
    assert.equal(raftError(() => lonely.propose('x')), 'no_leader');
    assert.equal(raftError(() => lonely.readIndex('r')), 'no_leader');
    net.elect('a');
    assert.deepEqual(net.node('c').propose('via c'), { status: 'forwarded', leader: 'a' });
    net.settle();
    assert.equal(net.applied.get('c')!.at(-1)?.data, 'via c');
  });

  it('refuses entries larger than maxEntryBytes', () => {
    const net = boot(ids3, { maxEntryBytes: 100 });
    net.elect('a');
    assert.equal(raftError(() => net.node('a').propose('x'.repeat(200))), 'entry_too_large');
  });
});
