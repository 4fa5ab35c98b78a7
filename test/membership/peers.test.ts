/**
 * The peer network on loopback with real sockets: messages and requests by node ID, channels dialled on demand,
 * a message sent while its channel is still being made delivered once it is up, and a node that is not there
 * failing a request within its deadline instead of hanging the caller.
 */

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { PeerMessage } from '../../src/cluster/peers.ts';
import { LoopbackPeers, type TestNode } from '../helpers/loopback-peers.ts';

const loopback = new LoopbackPeers('alice', 'bob');
const [alice, bob] = loopback.nodes as [TestNode, TestNode];
const { networks, ports } = loopback;
const network = (self: TestNode) => loopback.network(self);

after(() => loopback.stop());

describe('peer network', () => {
  it('sends, answers requests both ways, and holds a message sent while the channel is being made', async () => {
    const a = await network(alice);
    const b = await network(bob);
    const received: PeerMessage[] = [];
    b.on('note', (message, channel) => received.push({ ...message, from: channel.peer.nodeId }));
    b.handle('add', (message) => ({ sum: (message.x as number) + (message.y as number) }));
    a.handle('who', (_message, channel) => ({ you: channel.peer.nodeId }));
    // No channel yet: the first send returns false but is delivered once the dial completes.
    assert.equal(a.send('bob', { type: 'note', text: 'first' }), false);
    assert.deepEqual(await a.request('bob', { type: 'add', x: 2, y: 3 }, 2_000), { sum: 5 });
    assert.deepEqual(await b.request('alice', { type: 'who' }, 2_000), { you: 'bob' });
    assert.equal(a.send('bob', { type: 'note', text: 'second' }), true);
    const deadline = Date.now() + 2_000;
    while (received.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(received.map((m) => [m.text, m.from]), [['first', 'alice'], ['second', 'alice']]);
    assert.ok(a.isConnected('bob') && b.isConnected('alice'));
  });

  it('fails a request to a node that is not there within its deadline, and an unknown request type clearly', async () => {
    const a = networks[0]!;
    const started = Date.now();
    await assert.rejects(a.request('ghost', { type: 'add', x: 1, y: 1 }, 500));
    assert.ok(Date.now() - started < 3_000, `took ${Date.now() - started} ms`);
    await assert.rejects(a.request('bob', { type: 'no-such-thing' }, 2_000), /unknown request type/);
  });

  it('does not dial itself: a request to its own ID fails at once and leaves no channel', async () => {
    const a = networks[0]!;
    ports.set('alice', a.port);
    const started = Date.now();
    await assert.rejects(a.request('alice', { type: 'ping' }, 2_000), /does not dial itself/);
    assert.equal(a.send('alice', { type: 'note', text: 'to myself' }), false);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`);
    assert.equal(a.isConnected('alice'), false);
  });
});
