/**
 * Channels over real sockets on loopback: messages, requests and byte streams both ways, payloads at the limit,
 * order, backpressure, close and its reasons, and what dial says when it cannot connect.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dial, RemoteError, type SecureChannel } from '../../src/transport/endpoint.ts';
import { ENVELOPE_OVERHEAD } from '../../src/transport/envelope.ts';
import { TransportError } from '../../src/transport/errors.ts';
import { SwarmletError } from '../../src/errors.ts';
import { alice, closedWith, deferred, echoServer, nextMessage, security, within, type EchoServer } from './socket-helpers.ts';

const MiB = 1 << 20;

describe('transport channels over loopback', () => {
  let echo: EchoServer;
  let client: SecureChannel;
  let served: SecureChannel;

  before(async () => {
    echo = await echoServer();
    const accepted = echo.nextChannel();
    client = await dial(echo.address, 'control', security(alice));
    served = await accepted;
  });
  after(async () => {
    client.close();
    await echo.server.close();
  });

  it('authenticates both ends and reports addresses', () => {
    assert.equal(client.peer.nodeId, 'bob');
    assert.equal(served.peer.nodeId, 'alice');
    assert.equal(client.kind, 'control');
    assert.equal(served.kind, 'control');
    assert.equal(client.remoteAddress, echo.address);
    assert.match(served.remoteAddress, /^127\.0\.0\.1:\d+$/);
  });

  it('carries messages both ways', async () => {
    const back = nextMessage(client);
    assert.equal(client.send({ type: 'heartbeat', node: 'alice', at: 1 }), true);
    assert.deepEqual(await back, { type: 'heartbeat', node: 'alice', at: 1 });
    const pushed = nextMessage(client);
    served.send(['assignment', 42, null, 'ünïcödé']);
    assert.deepEqual(await pushed, ['assignment', 42, null, 'ünïcödé']);
  });

  it('answers requests both ways, concurrently, and correlates replies by id', async () => {
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => client.request({ n: i }, 2000)));
    assert.deepEqual(replies, Array.from({ length: 50 }, (_, i) => ({ echo: { n: i } })));
    client.onRequest(async (message) => {
      await new Promise((resolve) => setTimeout(resolve, (message as { delay: number }).delay));
      return { from: 'alice', got: message };
    });
    const [slow, fast] = await Promise.all([served.request({ delay: 30 }, 2000), served.request({ delay: 0 }, 2000)]);
    assert.deepEqual(slow, { from: 'alice', got: { delay: 30 } });
    assert.deepEqual(fast, { from: 'alice', got: { delay: 0 } });
  });

  it('sends a failing handler\'s message back as a RemoteError with its code', async () => {
    served.onRequest((message) => {
      if (message === 'missing') throw new SwarmletError('not_found', 'no such service: web');
      if (message === 'plain') throw new Error('boom');
      return Promise.reject(new Error('async boom'));
    });
    try {
      await assert.rejects(client.request('missing', 2000), (err: unknown) => err instanceof RemoteError && err.code === 'not_found' && err.message === 'no such service: web');
      await assert.rejects(client.request('plain', 2000), (err: unknown) => err instanceof RemoteError && err.code === 'internal' && err.message === 'boom');
      await assert.rejects(client.request('async', 2000), { name: 'RemoteError', message: 'async boom' });
    } finally {
      served.onRequest((message) => ({ echo: message }));
    }
  });

  it('times a request out when no reply comes, and ignores the late reply', async () => {
    served.onRequest(() => new Promise((resolve) => setTimeout(() => resolve('late'), 150)));
    try {
      await assert.rejects(client.request('x', 50), (err: unknown) => err instanceof TransportError && err.reason === 'timeout');
      await new Promise((resolve) => setTimeout(resolve, 200)); // the late reply arrives and must be dropped quietly
      assert.equal(client.closed, false);
    } finally {
      served.onRequest((message) => ({ echo: message }));
    }
  });

  it('carries payloads right up to the frame limit, and refuses bigger ones locally', async () => {
    const text = 'x'.repeat(MiB - ENVELOPE_OVERHEAD - 2 - 2 - '{"echo":}'.length); // the echo reply is the bigger one
    assert.deepEqual(await client.request(text, 5000), { echo: text });
    const bytes = new Uint8Array(MiB).map((_, i) => i * 7);
    const back = new Promise<Uint8Array>((resolve) => { const d = client.onBytes((b) => { d(); resolve(b); }); });
    client.sendBytes(bytes);
    assert.deepEqual(Buffer.from(await back), Buffer.from(bytes));
    assert.throws(() => client.sendBytes(new Uint8Array(MiB + 1)), (err: unknown) => err instanceof TransportError && err.reason === 'oversized');
    assert.throws(() => client.send('y'.repeat(MiB)), (err: unknown) => err instanceof TransportError && err.reason === 'oversized');
    await assert.rejects(client.request('y'.repeat(MiB), 1000), { name: 'TransportError', reason: 'oversized' });
    assert.throws(() => client.send({ n: 1n }), TypeError);
    assert.equal(client.closed, false);
    assert.deepEqual(await client.request('still fine', 2000), { echo: 'still fine' });
  });

  it('sends a payload given in parts as one frame, and counts the parts together against the limit', async () => {
    const parts = [Uint8Array.of(1, 0, 0, 0, 3), new Uint8Array(64 * 1024).map((_, i) => i * 13), Buffer.from('tail')];
    const back = new Promise<Uint8Array>((resolve) => { const d = client.onBytes((b) => { d(); resolve(b); }); });
    assert.equal(client.sendBytes(parts), true);
    assert.deepEqual(Buffer.from(await back), Buffer.concat(parts));
    assert.throws(() => client.sendBytes([new Uint8Array(MiB / 2), new Uint8Array(MiB / 2 + 1)]), (err: unknown) => err instanceof TransportError && err.reason === 'oversized');
    assert.equal(client.closed, false);
  });

  it('delivers many messages in order', async () => {
    const count = 20_000;
    const got: number[] = [];
    const done = new Promise<void>((resolve) => {
      const dispose = client.onMessage((message) => {
        got.push(message as number);
        if (got.length === count) {
          dispose();
          resolve();
        }
      });
    });
    for (let i = 0; i < count; i++) client.send(i);
    await within(done, 10_000, 'echo of 20,000 messages');
    assert.deepEqual(got, Array.from({ length: count }, (_, i) => i));
  });

  it('counts frames and bytes each way', () => {
    const a = client.stats();
    const b = served.stats();
    assert.ok(a.framesOut > 20_000 && a.framesIn > 20_000);
    assert.equal(a.framesOut, b.framesIn);
    assert.equal(a.bytesOut, b.bytesIn);
  });
});

describe('bulk channels and backpressure', () => {
  it('streams bytes with backpressure: sendBytes answers false above the high-water mark, onDrain resumes', async () => {
    const accepted = deferred<SecureChannel>();
    const echo = await echoServer({ onChannel: accepted.resolve }, ['bulk']);
    const highWater = 256 * 1024;
    const channel = await dial(echo.address, 'bulk', security(alice), { limits: { highWaterMarkBytes: highWater } });
    try {
      const serverSide = await accepted.promise;
      const chunk = new Uint8Array(64 * 1024);
      const total = 64 * 1024 * 1024;
      let received = 0;
      const finished = new Promise<void>((resolve) => serverSide.onBytes((bytes) => {
        received += bytes.length;
        if (received >= total) resolve();
      }));
      let sent = 0;
      let paused = 0;
      let maxBuffered = 0;
      await new Promise<void>((resolve) => {
        const pump = () => {
          while (sent < total) {
            sent += chunk.length;
            const more = channel.sendBytes(chunk);
            maxBuffered = Math.max(maxBuffered, channel.bufferedAmount);
            if (!more) {
              paused++;
              return;
            }
          }
          resolve();
        };
        channel.onDrain(pump);
        pump();
      });
      await within(finished, 20_000, 'receiving 64 MiB');
      assert.equal(received, total);
      assert.ok(paused > 0, 'the sender was never told to wait');
      assert.ok(maxBuffered < highWater + chunk.length + 100, `buffered ${maxBuffered} bytes, over the high-water mark`);
    } finally {
      channel.close();
      await echo.server.close();
    }
  });

  it('delivers every byte of a stream intact while frame buffers are reused, whatever the sizes', async () => {
    const accepted = deferred<SecureChannel>();
    const echo = await echoServer({ onChannel: accepted.resolve }, ['bulk']);
    const channel = await dial(echo.address, 'bulk', security(alice), { limits: { highWaterMarkBytes: 256 * 1024 } });
    try {
      const serverSide = await accepted.promise;
      // Each payload is filled with its index, and the sender overwrites its own chunk as soon as sendBytes returns:
      // a frame sealed into a buffer the socket still held, or a payload kept by reference, would show here.
      const sizes = Array.from({ length: 600 }, (_, i) => (i < 250 ? 64 * 1024 : i < 400 ? 20_000 : i % 3 === 0 ? 100 : 64 * 1024));
      const received: number[] = [];
      let corrupt = 0;
      const finished = new Promise<void>((resolve) => serverSide.onBytes((bytes) => {
        const index = received.length;
        if (bytes.length !== sizes[index] || bytes.some((v) => v !== (index & 0xff))) corrupt++;
        received.push(bytes.length);
        if (received.length === sizes.length) resolve();
      }));
      const chunk = new Uint8Array(64 * 1024);
      let next = 0;
      await new Promise<void>((resolve) => {
        const pump = () => {
          while (next < sizes.length) {
            const payload = chunk.subarray(0, sizes[next]).fill(next & 0xff);
            next++;
            const more = channel.sendBytes(payload);
            chunk.fill(0xee);
            if (!more) return;
          }
          resolve();
        };
        channel.onDrain(pump);
        pump();
      });
      await within(finished, 20_000, 'receiving the stream');
      assert.equal(corrupt, 0);
      assert.deepEqual(received, sizes);
    } finally {
      channel.close();
      await echo.server.close();
    }
  });

  it('hands out payloads that stay intact after delivery while the frames they came in are freed', async () => {
    const accepted = deferred<SecureChannel>();
    const echo = await echoServer({ onChannel: accepted.resolve }, ['bulk']);
    const channel = await dial(echo.address, 'bulk', security(alice));
    try {
      const serverSide = await accepted.promise;
      // Sizes that make ws assemble a frame of its own (freed once opened) and ones it hands over as a view into
      // a socket read (left alone); every payload is kept and checked only once the whole stream is in.
      const sizes = Array.from({ length: 120 }, (_, i) => [64 * 1024, MiB, 5000, 100, 200 * 1024][i % 5]!);
      const kept: Uint8Array[] = [];
      const messages: unknown[] = [];
      serverSide.onMessage((message) => messages.push(message));
      const finished = new Promise<void>((resolve) => serverSide.onBytes((bytes) => {
        kept.push(bytes);
        if (kept.length === sizes.length) resolve();
      }));
      let next = 0;
      await new Promise<void>((resolve) => {
        const pump = () => {
          while (next < sizes.length) {
            const index = next++;
            channel.send({ index });
            if (!channel.sendBytes(new Uint8Array(sizes[index]!).fill(index & 0xff))) return;
          }
          resolve();
        };
        channel.onDrain(pump);
        pump();
      });
      await within(finished, 20_000, 'receiving the stream');
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(kept.map((bytes) => bytes.length), sizes);
      kept.forEach((bytes, index) => assert.ok(bytes.every((v) => v === (index & 0xff)), `payload ${index} changed after delivery`));
      assert.deepEqual(messages, sizes.map((_, index) => ({ index })));
    } finally {
      channel.close();
      await echo.server.close();
    }
  });

  it('keeps control, bulk and join apart: one TCP connection per kind', async () => {
    const echo = await echoServer({}, ['control', 'bulk', 'join']);
    try {
      const channels = await Promise.all((['control', 'bulk', 'join'] as const).map((kind) => dial(echo.address, kind, security(alice))));
      assert.deepEqual(channels.map((c) => c.kind), ['control', 'bulk', 'join']);
      assert.equal(new Set(channels.map((c) => c.remoteAddress)).size, 1);
      for (const channel of channels) assert.deepEqual(await channel.request(channel.kind, 2000), { echo: channel.kind });
      assert.equal(new Set(echo.channels.map((c) => c.remoteAddress)).size, 3, 'each kind has its own TCP connection');
      for (const channel of channels) channel.close();
    } finally {
      await echo.server.close();
    }
  });
});

describe('closing channels and failing to dial', () => {
  it('reports a clean close as null on both ends, and rejects requests still waiting', async () => {
    const accepted = deferred<SecureChannel>();
    const echo = await echoServer({ onChannel: (channel) => { channel.onRequest(() => new Promise(() => {})); accepted.resolve(channel); } });
    try {
      const channel = await dial(echo.address, 'control', security(alice));
      const waiting = channel.request('never answered', 10_000);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const serverSide = closedWith(await accepted.promise);
      channel.close('done here');
      await assert.rejects(waiting, { name: 'TransportError', reason: 'closed' });
      assert.equal(await closedWith(channel), null, 'a close handler added after the close is still called');
      assert.equal(await within(serverSide, 2000, 'server side close'), null);
      assert.equal(channel.send('x'), false);
      assert.equal(channel.sendBytes(new Uint8Array(1)), false);
      await assert.rejects(channel.request('x', 100), { name: 'TransportError', reason: 'closed' });
    } finally {
      await echo.server.close();
    }
  });

  it('holds frames that arrive before the handlers are set, and delivers them in order once they are', async () => {
    const accepted = deferred<SecureChannel>();
    const echo = await echoServer({ onChannel: accepted.resolve });
    try {
      const channel = await dial(echo.address, 'control', security(alice));
      for (let i = 0; i < 5; i++) channel.send(i);
      const reply = channel.request('early', 2000);
      const serverSide = await accepted.promise;
      await new Promise((resolve) => setTimeout(resolve, 50)); // the frames are there, no handler yet
      const got: unknown[] = [];
      serverSide.onMessage((message) => got.push(message));
      serverSide.onRequest((message) => ({ late: message }));
      assert.deepEqual(await reply, { late: 'early' });
      assert.deepEqual(got, [0, 1, 2, 3, 4]);
      channel.close();
    } finally {
      await echo.server.close();
    }
  });

  it('closes every channel with "going away" when the server stops, and the dialer sees a clean close', async () => {
    const echo = await echoServer();
    const channel = await dial(echo.address, 'control', security(alice));
    await channel.request('the server has the channel now', 2000);
    const closed = closedWith(channel);
    await within(echo.server.close(), 3000, 'server close');
    assert.equal(await within(closed, 2000, 'client close'), null);
    assert.equal(echo.server.stats().channels, 0);
    await assert.rejects(dial(echo.address, 'control', security(alice)), { name: 'TransportError', reason: 'unreachable' });
  });

  it('closes an idle channel after idleTimeoutMs, and traffic keeps it open', async () => {
    const echo = await echoServer({ limits: { handshakesPerSecondPerAddress: Infinity, idleTimeoutMs: 150 } });
    try {
      const channel = await dial(echo.address, 'control', security(alice), { limits: { idleTimeoutMs: 0 } });
      for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 60));
        await channel.request(i, 1000);
      }
      const started = Date.now();
      const reason = await within(closedWith(channel), 2000, 'idle close');
      assert.ok(reason instanceof TransportError && reason.reason === 'timeout', String(reason));
      assert.ok(Date.now() - started < 600);
    } finally {
      await echo.server.close();
    }
  });

  it('explains why a dial failed: nothing listening, a refused kind, a timeout', async () => {
    const echo = await echoServer({}, ['control']);
    const { port } = echo.server;
    try {
      await assert.rejects(dial(echo.address, 'join', security(alice)), (err: unknown) => err instanceof TransportError && err.reason === 'refused' && /403/.test(err.message));
      await assert.rejects(dial('127.0.0.1:notaport', 'control', security(alice)), { name: 'SwarmletError', code: 'invalid_argument' });
    } finally {
      await echo.server.close();
    }
    await assert.rejects(dial(`127.0.0.1:${port}`, 'control', security(alice)), (err: unknown) => err instanceof TransportError && err.reason === 'unreachable' && err.message.includes('connection refused'));
    // A TCP listener that never answers the upgrade.
    const { createServer } = await import('node:net');
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const address = `127.0.0.1:${(silent.address() as { port: number }).port}`;
      const started = Date.now();
      await assert.rejects(dial(address, 'control', security(alice), { timeoutMs: 200 }), { name: 'TransportError', reason: 'timeout' });
      assert.ok(Date.now() - started < 1000);
    } finally {
      silent.close();
    }
  });

  it('gives a channel to onChannel and survives an onChannel that throws', async () => {
    let calls = 0;
    const echo = await echoServer({
      onChannel: () => {
        calls++;
        throw new Error('application bug');
      },
    });
    try {
      const channel = await dial(echo.address, 'control', security(alice));
      const reason = await within(closedWith(channel), 2000, 'close after onChannel threw');
      assert.equal(reason, null);
      assert.equal(calls, 1);
      assert.ok(echo.log.find(0, 'onChannel failed', 'application bug'));
      const again = await dial(echo.address, 'control', security(alice));
      await within(closedWith(again), 2000, 'second close');
      assert.equal(calls, 2, 'the server kept accepting');
    } finally {
      await echo.server.close();
    }
  });
});
