/**
 * The leader's dispatcher judges liveness from heartbeats: which nodes may take new tasks now, when placement
 * waits after an election, and when a silent node is marked down. Driven with a real state machine behind a
 * minimal proposer and a peer table that only records handlers; time is real but short.
 */

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Dispatcher } from '../../src/cluster/dispatcher.ts';
import type { PeerMessage, PeerNetwork } from '../../src/cluster/peers.ts';
import type { RaftProposer } from '../../src/manager/consensus/raft-proposer.ts';
import type { Command } from '../../src/manager/state/commands.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { clusterWith, node } from '../helpers/fixtures.ts';

const HEARTBEAT_MS = 100;
const DOWN_AFTER_MS = 400;

function setup() {
  const machine = clusterWith([node('leader'), node('w1'), node('w2')]);
  const proposer = {
    get state() {
      return machine.state;
    },
    propose: async (command: Command) => void machine.apply(command),
    watch: () => () => {},
  } as unknown as RaftProposer;
  const handlers = new Map<string, (message: PeerMessage, channel: unknown) => unknown>();
  const sent: Array<{ nodeId: string; type: string; digest?: unknown }> = [];
  const peers = {
    handle: (type: string, handler: (message: PeerMessage, channel: unknown) => unknown) => handlers.set(type, handler),
    onConnect: () => () => {},
    isConnected: () => false,
    send: (nodeId: string, message: PeerMessage) => {
      sent.push({ nodeId, type: message.type, digest: message.digest });
      return true;
    },
  } as unknown as PeerNetwork;
  let leader = true;
  const available: string[] = [];
  const dispatcher = new Dispatcher({
    selfId: 'leader',
    proposer,
    peers,
    isLeader: () => leader,
    leaderId: () => 'leader',
    log: silentLogger,
    heartbeatMs: HEARTBEAT_MS,
    downAfterMs: DOWN_AFTER_MS,
    onResponsive: (nodeId) => available.push(nodeId),
  });
  dispatcher.start();
  const heartbeat = (nodeId: string, have?: unknown) => handlers.get('heartbeat')!({ type: 'heartbeat', ...(have === undefined ? {} : { have }) }, { peer: { nodeId } });
  return { machine, dispatcher, heartbeat, available, sent, setLeader: (value: boolean) => (leader = value) };
}

describe('dispatcher liveness', () => {
  it('places nothing after an election until the ready nodes check in', async () => {
    const { dispatcher, heartbeat, available } = setup();
    try {
      assert.deepEqual(dispatcher.liveness(), { settling: true, unresponsive: new Set(['w1', 'w2']) });
      heartbeat('w1');
      assert.deepEqual(available, ['w1'], 'a node heard for the first time lets placement go on');
      assert.deepEqual(dispatcher.liveness(), { settling: true, unresponsive: new Set(['w2']) });
      heartbeat('w2');
      assert.deepEqual(dispatcher.liveness(), { settling: false, unresponsive: new Set() });
    } finally {
      dispatcher.stop();
    }
  });

  it('stops settling after the down timeout even if a node never checks in, and marks it down', async () => {
    const { machine, dispatcher, heartbeat } = setup();
    try {
      const keepAlive = setInterval(() => heartbeat('w1'), HEARTBEAT_MS);
      await sleep(DOWN_AFTER_MS + 4 * HEARTBEAT_MS);
      clearInterval(keepAlive);
      const view = dispatcher.liveness()!;
      assert.equal(view.settling, false);
      assert.equal(machine.state.nodes.w2!.Status.State, 'down');
      assert.equal(machine.state.nodes.w1!.Status.State, 'ready');
      assert.ok(!view.unresponsive.has('w2'), 'a down node is left to the recorded state');
    } finally {
      dispatcher.stop();
    }
  });

  it('takes a node that missed two heartbeats out of placement before it is marked down', async () => {
    const { machine, dispatcher, heartbeat, available } = setup();
    try {
      heartbeat('w1');
      heartbeat('w2');
      assert.equal(dispatcher.liveness()!.unresponsive.size, 0);
      // w2 keeps its beat; w1 falls silent.
      await sleep(HEARTBEAT_MS + 10);
      heartbeat('w2');
      await sleep(HEARTBEAT_MS + 30);
      heartbeat('w2');
      const view = dispatcher.liveness()!;
      assert.deepEqual([...view.unresponsive], ['w1']);
      assert.equal(machine.state.nodes.w1!.Status.State, 'ready', 'not down yet');
      heartbeat('w1');
      assert.equal(dispatcher.liveness()!.unresponsive.size, 0);
      assert.deepEqual(available.filter((id) => id === 'w1'), ['w1', 'w1'], 'w1 came back');
    } finally {
      dispatcher.stop();
    }
  });

  it('has no view on a manager that does not lead, and a new term starts unheard', () => {
    const { dispatcher, heartbeat, setLeader } = setup();
    try {
      heartbeat('w1');
      heartbeat('w2');
      setLeader(false);
      assert.equal(dispatcher.liveness(), undefined);
      setLeader(true);
      assert.deepEqual(dispatcher.liveness()!.unresponsive, new Set(['w1', 'w2']));
    } finally {
      dispatcher.stop();
    }
  });

  it('pushes a node its assignments and the mesh table after answering its heartbeat, once each while unchanged', async () => {
    const { dispatcher, heartbeat, sent } = setup();
    try {
      heartbeat('w1');
      // The answer names the leader; a node takes pushes only from the leader it knows, so they must come after.
      assert.deepEqual(sent, [], 'nothing is pushed before the answer');
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(sent.map(({ nodeId, type }) => ({ nodeId, type })), [{ nodeId: 'w1', type: 'assignments' }, { nodeId: 'w1', type: 'mesh' }]);
      heartbeat('w1');
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(sent.length, 2, 'unchanged: not pushed again');
    } finally {
      dispatcher.stop();
    }
  });

  it('pushes again what a node says it has not taken, and nothing to a node that has it', async () => {
    const { dispatcher, heartbeat, sent } = setup();
    const pushes = () => new Promise((resolve) => setImmediate(resolve));
    try {
      heartbeat('w1', {});
      await pushes();
      assert.deepEqual(sent.map((s) => s.type), ['assignments', 'mesh']);
      const [assignments, mesh] = sent.map((s) => s.digest);
      assert.equal(typeof assignments, 'string');
      assert.equal(typeof mesh, 'string');
      // A heartbeat within a period of the pushes may have crossed them on the way: nothing again yet.
      heartbeat('w1', {});
      await pushes();
      assert.equal(sent.length, 2, 'not doubled while the pushes may still be on their way');
      // A period later the node still has nothing: both pushes were lost, and both go again, the same content.
      await sleep(HEARTBEAT_MS + 20); // a period and a margin: timers may fire a little early against performance.now()
      heartbeat('w1', {});
      await pushes();
      assert.deepEqual(sent.slice(2), [{ nodeId: 'w1', type: 'assignments', digest: assignments }, { nodeId: 'w1', type: 'mesh', digest: mesh }]);
      // The mesh table lost again, the assignments taken: only the table.
      await sleep(HEARTBEAT_MS + 20);
      heartbeat('w1', { assignments });
      await pushes();
      assert.deepEqual(sent.slice(4), [{ nodeId: 'w1', type: 'mesh', digest: mesh }]);
      // Both taken: nothing, heartbeat after heartbeat.
      await sleep(HEARTBEAT_MS + 20);
      heartbeat('w1', { assignments, mesh });
      heartbeat('w1', { assignments, mesh });
      await pushes();
      assert.equal(sent.length, 5);
      // Nonsense in place of digests is taken as not saying: nothing pushed again.
      heartbeat('w1', { assignments: 7 });
      await pushes();
      assert.equal(sent.length, 5);
    } finally {
      dispatcher.stop();
    }
  });
});
