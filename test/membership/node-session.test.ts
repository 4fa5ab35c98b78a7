/**
 * The session with the leader after a manager restarts: the other managers may still name it leader (no one new
 * was elected yet), and that stale answer must not send it to heartbeat itself over a channel to its own port. And
 * a node whose certificate the managers refuse says why and what to do, once. Pushes from the leader are taken
 * even when they come before the answer that names it, and each heartbeat says what the node has taken.
 */

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { PeerMessage, PeerNetwork } from '../../src/cluster/peers.ts';
import { TransportError } from '../../src/transport/errors.ts';
import type { Logger } from '../../src/util/logger.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { testSession } from '../helpers/node-session.ts';

describe('node session', () => {
  it('ignores an answer that names this node leader when it does not lead, and asks the other managers', async () => {
    const asked: string[] = [];
    let named = 'm1';
    const peers = {
      on: () => {},
      request: async (nodeId: string, message: PeerMessage) => {
        asked.push(nodeId);
        if (nodeId === 'm1') throw new Error('m1 was just restarted: it is this node');
        if (message.type !== 'heartbeat') return { ok: true };
        return { leader: named, now: Date.now(), role: 'manager', managers: [], roots: [], heartbeatMs: 20 };
      },
    } as unknown as PeerNetwork;
    const session = testSession(peers, {
      selfId: 'm1',
      managers: () => [{ nodeId: 'm1', addr: '10.0.0.1:4377' }, { nodeId: 'm2', addr: '10.0.0.2:4377' }, { nodeId: 'm3', addr: '10.0.0.3:4377' }],
      advertiseAddr: () => '10.0.0.1:4377',
    });
    const leader = (): string => session.leader;
    session.start();
    try {
      await sleep(120);
      assert.ok(!asked.includes('m1'), `asked ${asked.join(', ')}`);
      assert.equal(leader(), '');
      // Once m2 and m3 elect m3, the session follows it.
      named = 'm3';
      const deadline = performance.now() + 2_000;
      while (leader() !== 'm3' && performance.now() < deadline) await sleep(10);
      assert.equal(leader(), 'm3');
      assert.ok(!asked.includes('m1'), `asked ${asked.join(', ')}`);
    } finally {
      session.stop();
    }
  });

  it('says once, as an error with the remedy, that its certificate expired or was revoked', async () => {
    let refusal = 'the peer\'s certificate was refused: the certificate of node w1 expired at 2026-01-01T00:00:00.000Z';
    const peers = {
      on: () => {},
      request: async () => {
        throw new TransportError('peer_rejected', refusal);
      },
    } as unknown as PeerNetwork;
    const errors: string[] = [];
    const log: Logger = { ...silentLogger, error: (line: string) => errors.push(line) };
    const session = testSession(peers, { log });
    session.start();
    try {
      await sleep(150);
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0]!, /certificate expired .*swarmlet leave --force.*swarmlet join-token worker/);
      refusal = 'the peer\'s certificate was refused: node w1 was removed from the cluster; its certificate is revoked';
      await sleep(100);
      assert.equal(errors.length, 2);
      assert.match(errors[1]!, /removed from the cluster/);
    } finally {
      session.stop();
    }
  });

  it('takes a push that came before the answer naming its sender leader, drops others, and says what it took', async () => {
    const handlers = new Map<string, (message: PeerMessage, channel: unknown) => void>();
    const beats: PeerMessage[] = [];
    const push = (from: string, message: PeerMessage) => handlers.get(message.type)!(message, { peer: { nodeId: from } });
    const peers = {
      on: (type: string, handler: (message: PeerMessage, channel: unknown) => void) => handlers.set(type, handler),
      request: async (nodeId: string, message: PeerMessage) => {
        if (message.type !== 'heartbeat') return { ok: true };
        beats.push(message);
        if (beats.length === 1) {
          // The leader's pushes arrive in the same read as its answer, and are handled before it.
          push('m1', { type: 'assignments', assignments: [{ taskId: 't1' }], digest: 'a1' });
          push('m1', { type: 'mesh', table: { services: [] }, digest: 'm1' });
          // A manager that does not lead pushes too (a stale leader): not taken.
          push('m2', { type: 'assignments', assignments: [{ taskId: 'stale' }], digest: 'x' });
        }
        return { leader: nodeId, now: Date.now(), role: 'worker', managers: [], roots: [], heartbeatMs: 20 };
      },
    } as unknown as PeerNetwork;
    const tables: unknown[] = [];
    const session = testSession(peers, { onMesh: (table) => tables.push(table) });
    session.start();
    try {
      const deadline = performance.now() + 2_000;
      while (beats.length < 2 && performance.now() < deadline) await sleep(5);
      assert.equal(session.leader, 'm1');
      assert.deepEqual(session.assignments(), [{ taskId: 't1' }], 'the push that came first is taken');
      assert.deepEqual(tables, [{ services: [] }]);
      assert.deepEqual(beats[0]!.have, {}, 'the first heartbeat has taken nothing');
      assert.deepEqual(beats[1]!.have, { assignments: 'a1', mesh: 'm1' });
      // Between heartbeats, a push from the known leader is taken at once; one from another manager never.
      push('m2', { type: 'mesh', table: { services: [{ stale: true }] }, digest: 'x' });
      push('m1', { type: 'assignments', assignments: [], digest: 'a2' });
      assert.deepEqual(session.assignments(), []);
      const seen = beats.length;
      while (beats.length < seen + 2 && performance.now() < deadline) await sleep(5);
      assert.deepEqual(beats.at(-1)!.have, { assignments: 'a2', mesh: 'm1' });
      assert.equal(tables.length, 1, 'the other manager\'s table was dropped');
    } finally {
      session.stop();
    }
  });
});
