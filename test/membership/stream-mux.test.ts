/**
 * Streams multiplexed over one bulk channel, on loopback with real sockets: opens accepted, refused and timed out,
 * both ways on one channel; a thousand at once with every byte checked; a stream whose reader stalls holding no
 * more than its credit window while another keeps the channel; closes that carry their reason; the channel's close
 * ending every stream; a peer that sends garbage losing the whole mux; the cap on open streams; and the pool that
 * dials muxes over PeerNetworks, shares a dial, adopts the other side's, replaces a closed one, dials another when
 * one is full and falls back to a channel per stream for a node without muxes. Figures (opens per second, MB/s,
 * against a channel per stream) are printed as diagnostics, not asserted.
 */

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { PeerNetwork } from '../../src/cluster/peers.ts';
import { StreamMux, type MuxStreamHandler, type StreamMuxOptions } from '../../src/cluster/mux/mux.ts';
import { MUX_STREAM_TYPE, MuxPool, muxPoolOver } from '../../src/cluster/mux/pool.ts';
import type { StreamChannel } from '../../src/cluster/mux/stream.ts';
import { dataFrame, dataHeader, parseControl, parseDataFrame } from '../../src/cluster/mux/wire.ts';
import { ChannelStream, WINDOW_BYTES } from '../../src/mesh/channel-stream.ts';
import { dial, RemoteError, TransportError, type SecureChannel } from '../../src/transport/endpoint.ts';
import { listen, type TransportServer } from '../../src/transport/server.ts';
import { notFound } from '../../src/errors.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { LoopbackPeers, type TestNode } from '../helpers/loopback-peers.ts';
import { alice, bob, CapturingLogger, closedWith, security, within } from '../transport/socket-helpers.ts';

const MiB = 1 << 20;
const hash = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * The mesh's Duplex on a stream. ChannelStream is typed for a SecureChannel; it uses only what a StreamChannel has.
 * Its errors reach the test through readAll and pump; the listener only keeps a reset from being uncaught.
 */
function duplexOn(stream: StreamChannel): ChannelStream {
  const duplex = new ChannelStream(stream as unknown as SecureChannel, 4 * MiB);
  duplex.on('error', () => {});
  return duplex;
}

let server: TransportServer;
const accepted: Array<(channel: SecureChannel) => void> = [];
const channels: SecureChannel[] = [];

before(async () => {
  server = await listen({
    host: '127.0.0.1',
    port: 0,
    log: silentLogger,
    limits: { handshakesPerSecondPerAddress: Infinity },
    security: (kind) => (kind === 'bulk' ? security(bob) : null),
    onChannel: (channel) => {
      channels.push(channel);
      accepted.shift()?.(channel);
    },
  });
});

after(async () => {
  for (const channel of channels) channel.close();
  await server.close();
});

/** A bulk channel from alice to bob: both ends. */
async function bulkPair(): Promise<{ dialled: SecureChannel; served: SecureChannel }> {
  const served = new Promise<SecureChannel>((resolve) => accepted.push(resolve));
  const dialled = await dial(`127.0.0.1:${server.port}`, 'bulk', security(alice));
  channels.push(dialled);
  return { dialled, served: await served };
}

/** A mux at each end of a fresh bulk channel: `a` dialled it (alice), `b` is bob's. */
async function muxPair(options: Partial<StreamMuxOptions> & { aOptions?: Partial<StreamMuxOptions> } = {}) {
  const { dialled, served } = await bulkPair();
  const { aOptions, ...common } = options;
  const a = new StreamMux(dialled, { initiator: true, log: silentLogger, ...common, ...aOptions });
  const b = new StreamMux(served, { initiator: false, log: silentLogger, ...common });
  return { a, b, dialled, served };
}

/** Echoes bytes and messages (ignoring backpressure: small tests only) and replies with the request's name. */
const echo: MuxStreamHandler = (request, stream) => {
  stream.onBytes((bytes) => stream.sendBytes(bytes));
  stream.onMessage((message) => stream.send(message));
  return { hello: request.name ?? null };
};

/** A ChannelStream echo: what comes in goes back, and the end too. */
const echoStream: MuxStreamHandler = (_request, stream) => {
  const duplex = duplexOn(stream);
  duplex.pipe(duplex);
  return { ok: true };
};

/** Everything until the end, hashed (read with 'data', not an iterator, which would destroy the duplex at the end). */
function readAll(duplex: Duplex): Promise<{ hash: string; bytes: number }> {
  const digest = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    duplex.on('data', (chunk: Buffer) => {
      digest.update(chunk);
      bytes += chunk.length;
    });
    duplex.once('end', () => resolve({ hash: digest.digest('hex'), bytes }));
    duplex.once('error', reject);
  });
}

/** A block of random bytes the writers slice from: hashing what is sent still catches any byte out of place. */
const BLOCK = randomBytes(4 * MiB);

/** Writes `total` bytes in 64 KiB chunks, honouring backpressure, then ends; the hash of what was written. */
async function pump(duplex: Duplex, total: number, seed = 0): Promise<string> {
  const digest = createHash('sha256');
  const chunk = 64 * 1024;
  for (let sent = 0, i = seed; sent < total; sent += chunk, i++) {
    const at = (i * 7919 * 64) % (BLOCK.length - chunk);
    const piece = BLOCK.subarray(at, at + Math.min(chunk, total - sent));
    digest.update(piece);
    if (!duplex.write(piece)) await once(duplex, 'drain');
  }
  duplex.end();
  return digest.digest('hex');
}

function nextBytes(stream: StreamChannel): Promise<Buffer> {
  return new Promise((resolve) => {
    const dispose = stream.onBytes((bytes) => {
      dispose();
      resolve(Buffer.from(bytes));
    });
  });
}

function nextMessage(stream: StreamChannel): Promise<unknown> {
  return new Promise((resolve) => {
    const dispose = stream.onMessage((message) => {
      dispose();
      resolve(message);
    });
  });
}

function streamClosed(stream: StreamChannel): Promise<Error | null> {
  return new Promise((resolve) => stream.onClose(resolve));
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('stream mux over one bulk channel', () => {
  it('opens streams both ways, carries bytes and messages, and answers with the handler\'s reply', async () => {
    const { a, b } = await muxPair();
    const handlers = new Map([['echo', echo]]);
    a.serve(handlers);
    b.serve(handlers);
    const { stream: ab, reply } = await a.open({ type: 'echo', name: 'from alice' }, 2_000);
    assert.deepEqual(reply, { hello: 'from alice' });
    assert.equal(ab.peer.nodeId, 'bob');
    const { stream: ba, reply: back } = await b.open({ type: 'echo', name: 'from bob' }, 2_000);
    assert.deepEqual(back, { hello: 'from bob' });
    assert.equal(ba.peer.nodeId, 'alice');
    // Each side counts its own opens and the other's.
    assert.deepEqual([a.stats().local, a.stats().remote, b.stats().local, b.stats().remote], [1, 1, 1, 1]);
    for (const stream of [ab, ba]) {
      const bytes = nextBytes(stream);
      assert.equal(stream.sendBytes(Buffer.from('payload')), true);
      assert.equal((await bytes).toString(), 'payload');
      const message = nextMessage(stream);
      assert.equal(stream.send({ type: 'note', n: 1 }), true);
      assert.deepEqual(await message, { type: 'note', n: 1 });
    }
    a.close();
  });

  it('refuses with the handler\'s message and code, and for an unknown or untyped request; nothing stays open', async () => {
    const { a, b } = await muxPair();
    let closedByRefusal: Error | null | undefined;
    b.serve(new Map<string, MuxStreamHandler>([
      ['task', (request, stream) => {
        stream.onClose((reason) => (closedByRefusal = reason));
        throw notFound(`task ${String(request.taskId)} does not run on this node`);
      }],
    ]));
    await assert.rejects(a.open({ type: 'task', taskId: 't1' }, 2_000), (err: unknown) => err instanceof RemoteError && err.code === 'not_found' && /task t1 does not run on this node/.test(err.message));
    await assert.rejects(a.open({ type: 'nothing' }, 2_000), /serves no stream of type "nothing"/);
    await assert.rejects(a.open(['no', 'type'] as never, 2_000), /must be an object with a type/);
    assert.equal(closedByRefusal, null);
    assert.deepEqual(a.stats(), { local: 0, remote: 0, queuedFrames: 0, queuedBytes: 0 });
    assert.deepEqual(b.stats(), { local: 0, remote: 0, queuedFrames: 0, queuedBytes: 0 });
    assert.equal(a.closed || b.closed, false);
    a.close();
  });

  it('holds what a handler sends before it answers until the accept is out, and owes it a drain', async () => {
    const { a, b } = await muxPair();
    let drained = false;
    let answeredFalse = false;
    b.serve(new Map<string, MuxStreamHandler>([
      ['banner', async (_request, stream) => {
        stream.onDrain(() => (drained = true));
        answeredFalse = !stream.sendBytes(Buffer.from('220 ready'));
        stream.send({ type: 'hello' });
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { ok: true };
      }],
      ['closed-first', (_request, stream) => {
        stream.close('the container went away');
        return { ok: true };
      }],
    ]));
    const { stream, reply } = await a.open({ type: 'banner' }, 2_000);
    assert.deepEqual(reply, { ok: true });
    assert.equal(answeredFalse, true);
    // Registered after the open resolved: what came first is held for the first handler.
    const [bytes, message] = await Promise.all([nextBytes(stream), nextMessage(stream)]);
    assert.equal(bytes.toString(), '220 ready');
    assert.deepEqual(message, { type: 'hello' });
    assert.equal(drained, true);
    // A handler that closes its stream before answering refuses it, with its reason.
    await assert.rejects(a.open({ type: 'closed-first' }, 2_000), (err: unknown) => err instanceof RemoteError && err.message === 'the container went away');
    assert.equal(b.stats().remote, 1);
    a.close();
  });

  it('lets a sender reuse its buffer as soon as sendBytes returns, whether the frame went out, waited for the channel or for the accept', async () => {
    const { a, b } = await muxPair();
    const PIECE = 64 * 1024;
    const COUNT = 48; // 3 MiB at once, ignoring backpressure: past the channel's 1 MiB high-water mark, so frames queue
    const chunk = new Uint8Array(PIECE);
    /** Sends COUNT pieces, each filled with its index, from one buffer overwritten as soon as each send returns. */
    const blast = (stream: StreamChannel, offset: number) => {
      for (let i = 0; i < COUNT; i++) {
        stream.sendBytes(chunk.fill((offset + i) & 0xff));
        chunk.fill(0xee);
      }
    };
    /** Checks that the pieces arrive whole and in order. */
    const collect = (stream: StreamChannel, offset: number) => new Promise<number[]>((resolve) => {
      const bad: number[] = [];
      let seen = 0;
      stream.onBytes((bytes) => {
        if (bytes.length !== PIECE || bytes.some((v) => v !== ((offset + seen) & 0xff))) bad.push(seen);
        if (++seen === COUNT) resolve(bad);
      });
    });
    let served!: Promise<number[]>;
    b.serve(new Map<string, MuxStreamHandler>([['blast', async (_request, stream) => {
      served = collect(stream, 100);
      blast(stream, 0); // before the accept goes out: held by the mux
      await new Promise((resolve) => setTimeout(resolve, 10));
      return { ok: true };
    }]]));
    const { stream } = await a.open({ type: 'blast' }, 2_000);
    const opened = collect(stream, 0);
    let queued = 0;
    for (let i = 0; i < COUNT; i++) {
      stream.sendBytes(chunk.fill((100 + i) & 0xff));
      chunk.fill(0xee);
      queued = Math.max(queued, a.stats().queuedFrames);
    }
    assert.ok(queued > 0, 'the channel never filled: no frame waited in the mux queue');
    assert.deepEqual(await within(opened, 10_000, 'the pieces sent before the accept'), []);
    assert.deepEqual(await within(served, 10_000, 'the pieces sent past the high-water mark'), []);
    a.close();
  });

  it('times an open out, closes the half-made stream at the other end, and shrugs off the late accept', async () => {
    const { a, b } = await muxPair();
    let served: StreamChannel | null = null;
    let finishedLate = false;
    b.serve(new Map<string, MuxStreamHandler>([
      ['slow', async (_request, stream) => {
        served = stream;
        await new Promise((resolve) => setTimeout(resolve, 200));
        finishedLate = true;
        return { late: true };
      }],
      ['echo', echo],
    ]));
    const started = Date.now();
    await assert.rejects(a.open({ type: 'slow' }, 80), (err: unknown) => err instanceof TransportError && err.reason === 'timeout');
    assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`);
    assert.equal(a.stats().local, 0);
    await until('the serving end to see the close', () => served !== null && served.closed);
    assert.equal(b.stats().remote, 0);
    await until('the handler to finish', () => finishedLate);
    // The late answer was not sent, and the mux still works.
    const { reply } = await a.open({ type: 'echo', name: 'after' }, 2_000);
    assert.deepEqual(reply, { hello: 'after' });
    assert.equal(a.closed || b.closed, false);
    a.close();
  });

  it('carries 1,000 concurrent streams over one channel with every byte intact', async () => {
    const { a, b, dialled } = await muxPair();
    b.serve(new Map([['echo', echoStream]]));
    const framesBefore = dialled.stats().framesOut;
    const results = await Promise.all(
      Array.from({ length: 1_000 }, async (_, i) => {
        const size = 1 + ((i * 7_919) % (48 * 1024));
        const payload = BLOCK.subarray(i * 1_000, i * 1_000 + size);
        const { stream } = await a.open({ type: 'echo' }, 10_000);
        const duplex = duplexOn(stream);
        const read = readAll(duplex);
        duplex.end(payload);
        return { sent: hash(payload), size, got: await read };
      }),
    );
    for (const { sent, size, got } of results) {
      assert.equal(got.bytes, size);
      assert.equal(got.hash, sent);
    }
    await until('every stream to close at both ends', () => a.stats().local === 0 && b.stats().remote === 0);
    assert.ok(dialled.stats().framesOut - framesBefore >= 3_000, 'it all went over the one channel');
    a.close();
  });

  it('keeps a stream whose reader stalled to its credit window while another stream on the mux runs at full speed', async (t) => {
    const { a, b } = await muxPair();
    const readers = new Map<string, ChannelStream>();
    b.serve(new Map<string, MuxStreamHandler>([
      ['sink', (request, stream) => {
        const duplex = duplexOn(stream);
        readers.set(String(request.name), duplex);
        return { ok: true };
      }],
    ]));
    const open = async (name: string) => duplexOn((await a.open({ type: 'sink', name }, 2_000)).stream);
    const size = 64 * MiB;

    // Alone first: what the fast stream does with the channel to itself.
    const alone = await open('alone');
    let started = performance.now();
    const [sentAlone, gotAlone] = await Promise.all([pump(alone, size), readAll(readers.get('alone')!)]);
    const aloneMs = performance.now() - started;
    assert.equal(gotAlone.hash, sentAlone);
    readers.get('alone')!.end();

    // Then beside a stream whose reader takes nothing.
    const stalledWriter = open('stalled');
    const stalled = await stalledWriter;
    const stalledSent = pump(stalled, 8 * MiB, 99);
    const fast = await open('fast');
    started = performance.now();
    const [sentFast, gotFast] = await Promise.all([pump(fast, size, 5), readAll(readers.get('fast')!)]);
    const besideMs = performance.now() - started;
    assert.equal(gotFast.hash, sentFast);
    assert.equal(gotFast.bytes, size);
    const stalledReader = readers.get('stalled')!;
    // What waits at the stalled reader is its window, not the 8 MiB its writer has.
    assert.ok(stalledReader.readableLength <= WINDOW_BYTES + 256 * 1024, `${stalledReader.readableLength} bytes wait at the stalled reader`);
    assert.ok(stalledReader.readableLength >= WINDOW_BYTES / 2, `the stalled stream did get going (${stalledReader.readableLength} bytes)`);
    assert.deepEqual({ frames: a.stats().queuedFrames }, { frames: 0 });
    assert.ok(besideMs < 3 * aloneMs + 500, `64 MiB took ${besideMs.toFixed(0)} ms beside a stalled stream, ${aloneMs.toFixed(0)} ms alone`);

    // Once its reader reads, the stalled stream finishes intact.
    const [sentStalled, gotStalled] = await Promise.all([stalledSent, readAll(stalledReader)]);
    assert.equal(gotStalled.hash, sentStalled);
    t.diagnostic(`64 MiB alone ${aloneMs.toFixed(0)} ms, beside a stalled stream ${besideMs.toFixed(0)} ms`);
    a.close();
  });

  it('delivers a stream\'s bytes and messages ahead of its close even when they waited for the channel, and closes clean or with a reason', async () => {
    const { a, b } = await muxPair();
    const served: StreamChannel[] = [];
    b.serve(new Map<string, MuxStreamHandler>([['take', (_request, stream) => void served.push(stream)]]));

    // Clean: the other end's onClose gets null; so does this end's.
    const { stream: clean } = await a.open({ type: 'take' }, 2_000);
    const remoteClean = streamClosed(served[0]!);
    const localClean = streamClosed(clean);
    clean.close();
    assert.equal(await remoteClean, null);
    assert.equal(await localClean, null);
    assert.equal(clean.sendBytes(Buffer.from('x')), false);
    assert.equal(clean.send({}), false);

    // With a reason, after 8 MiB sent without waiting for drain (the mux queues what the channel cannot take yet).
    const { stream } = await a.open({ type: 'take' }, 2_000);
    const far = served[1]!;
    const events: string[] = [];
    let received = 0;
    const digest = createHash('sha256');
    far.onBytes((bytes) => {
      received += bytes.length;
      digest.update(bytes);
    });
    far.onMessage((message) => events.push(`message ${JSON.stringify(message)} after ${received} bytes`));
    const closed = new Promise<Error | null>((resolve) => far.onClose((reason) => {
      events.push(`close after ${received} bytes`);
      resolve(reason);
    }));
    const sent = createHash('sha256');
    let refused = 0;
    for (let at = 0; at < 8 * MiB; at += 256 * 1024) {
      const piece = BLOCK.subarray(at % BLOCK.length, (at % BLOCK.length) + 256 * 1024);
      sent.update(piece);
      if (!stream.sendBytes(piece)) refused++;
    }
    assert.ok(refused > 0, 'the sender was told to wait');
    assert.ok(a.stats().queuedBytes > 0, 'the mux held frames back');
    stream.send({ type: 'end' });
    stream.close('the reader went away');
    const reason = await closed;
    assert.ok(reason instanceof Error);
    assert.equal(reason.message, 'the reader went away');
    assert.deepEqual(events, [`message {"type":"end"} after ${8 * MiB} bytes`, `close after ${8 * MiB} bytes`]);
    assert.equal(digest.digest('hex'), sent.digest('hex'));
    // A handler registered after the close hears of it at once.
    assert.equal(await streamClosed(far), reason);
    a.close();
  });

  it('closes every stream, both ends, and fails pending opens when the shared channel closes', async () => {
    const { a, b, dialled } = await muxPair();
    const served: StreamChannel[] = [];
    b.serve(new Map<string, MuxStreamHandler>([
      ['take', (_request, stream) => void served.push(stream)],
      ['never', () => new Promise(() => {})],
    ]));
    const opened = await Promise.all(Array.from({ length: 5 }, () => a.open({ type: 'take' }, 2_000)));
    const pendingFailed = assert.rejects(a.open({ type: 'never' }, 5_000), /closed/);
    const reasons = Promise.all([...opened.map(({ stream }) => streamClosed(stream)), ...served.map(streamClosed)]);
    const muxClosed = new Promise<Error>((resolve) => b.onClose(resolve));
    dialled.close('the node is stopping');
    for (const reason of await within(reasons, 2_000, 'streams closed')) assert.ok(reason instanceof Error, 'a stream cut by its channel is not a clean close');
    await pendingFailed;
    assert.match((await muxClosed).message, /closed/);
    assert.equal(a.closed && b.closed, true);
    await assert.rejects(a.open({ type: 'take' }, 1_000), /closed/);
    assert.deepEqual(a.stats().local + b.stats().remote, 0);
  });

  it('tells the other end why when a mux is closed on purpose', async () => {
    const { a, b } = await muxPair();
    b.serve(new Map([['echo', echo]]));
    const { stream } = await a.open({ type: 'echo' }, 2_000);
    const remote = new Promise<Error>((resolve) => b.onClose(resolve));
    const local = streamClosed(stream);
    a.close('the node is leaving the cluster');
    assert.match((await remote).message, /node alice closed the stream mux: the node is leaving the cluster/);
    assert.match((await local)!.message, /this node closed the stream mux with node bob: the node is leaving the cluster/);
  });

  describe('a peer that breaks the protocol loses the whole mux', () => {
    const garbage: Array<[string, (raw: SecureChannel) => void, string]> = [
      ['a data frame shorter than its header', (raw) => raw.sendBytes(Uint8Array.of(1, 0, 0)), 'shorter than its header'],
      ['a data frame of an unknown kind', (raw) => raw.sendBytes(Uint8Array.of(9, 0, 0, 0, 1, 42)), 'unknown kind 9'],
      ['data for a stream never opened', (raw) => raw.sendBytes(Uint8Array.of(1, 0, 0, 0, 7, 42)), 'stream 7, which was never opened'],
      ['a stream id used again', (raw) => raw.send({ s: 1, t: 'open', r: { type: 'echo' } }), 'an id already used'],
      ['an open with an id of the other side\'s', (raw) => raw.send({ s: 4, t: 'open', r: { type: 'echo' } }), 'an id of this side\'s'],
      ['a message for a stream never opened', (raw) => raw.send({ s: 9, t: 'msg', m: {} }), 'stream 9, which was never opened'],
      ['a control message of unknown type', (raw) => raw.send({ s: 1, t: 'bogus' }), 'unknown type "bogus"'],
      ['a control message that is not an object', (raw) => raw.send('hello'), 'not an object'],
      ['an answer to an open that was never made', (raw) => raw.send({ s: 2, t: 'accept', r: null }), 'stream 2, which was never opened'],
    ];
    for (const [what, send, logged] of garbage) {
      it(what, async () => {
        const { dialled: raw, served } = await bulkPair();
        const log = new CapturingLogger();
        const b = new StreamMux(served, { initiator: false, log });
        const streams: StreamChannel[] = [];
        b.serve(new Map<string, MuxStreamHandler>([['echo', (_request, stream) => void streams.push(stream)]]));
        // A well-formed open first, so there is a stream to lose.
        const answer = new Promise<unknown>((resolve) => raw.onMessage(resolve));
        raw.send({ s: 1, t: 'open', r: { type: 'echo' } });
        assert.deepEqual(await answer, { s: 1, t: 'accept' });
        const lost = streamClosed(streams[0]!);
        const rawClosed = closedWith(raw);
        const mark = log.mark();
        send(raw);
        const reason = await within(lost, 2_000, 'the stream closed');
        assert.ok(reason instanceof TransportError && reason.reason === 'malformed', String(reason));
        assert.ok(b.closed);
        await within(rawClosed, 2_000, 'the channel closed');
        const line = await log.waitFor(mark, ['stream mux: node alice', logged]);
        assert.equal(line.level, 'warn');
      });
    }

    it('but frames that crossed a stream\'s close on the wire are dropped, not held against it', async () => {
      const { dialled: raw, served } = await bulkPair();
      const b = new StreamMux(served, { initiator: false, log: silentLogger });
      b.serve(new Map([['echo', echo]]));
      const answers: unknown[] = [];
      raw.onMessage((message) => answers.push(message));
      raw.send({ s: 1, t: 'open', r: { type: 'echo' } });
      await until('the accept', () => answers.length === 1);
      raw.send({ s: 1, t: 'close' });
      raw.sendBytes(Uint8Array.of(1, 0, 0, 0, 1, 42));
      raw.send({ s: 1, t: 'msg', m: { late: true } });
      raw.send({ s: 1, t: 'close', e: 'again' });
      raw.send({ s: 3, t: 'open', r: { type: 'echo', name: 'next' } });
      await until('the second accept', () => answers.length === 2);
      assert.deepEqual(answers[1], { s: 3, t: 'accept', r: { hello: 'next' } });
      assert.equal(b.closed, false);
      raw.close();
    });
  });

  it('caps the streams open on a mux: this side\'s opens locally, the peer\'s at the peer', async () => {
    const { a, b } = await muxPair({ maxStreams: 3, aOptions: { maxStreams: 10 } });
    const served: StreamChannel[] = [];
    const handlers = new Map<string, MuxStreamHandler>([['take', (_request, stream) => void served.push(stream)]]);
    a.serve(handlers);
    b.serve(handlers);
    // alice may open 10, but bob accepts only 3 from it.
    const opened = await Promise.all([1, 2, 3].map(() => a.open({ type: 'take' }, 2_000)));
    await assert.rejects(a.open({ type: 'take' }, 2_000), (err: unknown) => err instanceof RemoteError && err.code === 'unavailable' && /3 streams open on this mux, the most/.test(err.message));
    // bob's own cap applies before anything is sent.
    await Promise.all([1, 2, 3].map(() => b.open({ type: 'take' }, 2_000)));
    await assert.rejects(b.open({ type: 'take' }, 2_000), /3 streams to node alice are open on this mux, its most/);
    assert.equal(b.canOpen, false);
    // One ends: room again.
    opened[0]!.stream.close();
    await until('bob to count the close', () => b.stats().remote === 2);
    await a.open({ type: 'take' }, 2_000);
    a.close();
  });

  it('opens no more streams once its ids are used up, and closes when the last stream ends', async () => {
    const { a, b } = await muxPair({ maxStreamId: 7 });
    b.serve(new Map([['echo', echo]]));
    const opened = [];
    for (let i = 0; i < 4; i++) opened.push(await a.open({ type: 'echo' }, 2_000));
    assert.equal(a.canOpen, false);
    await assert.rejects(a.open({ type: 'echo' }, 2_000), /used up its stream ids/);
    const closed = new Promise<Error>((resolve) => a.onClose(resolve));
    for (const { stream } of opened) stream.close();
    assert.match((await closed).message, /stream ids are used up/);
    assert.ok(b.closed || (await new Promise<boolean>((resolve) => b.onClose(() => resolve(true)))));
  });
});

describe('stream mux wire format', () => {
  it('never throws on what a peer may send: a parsed frame or message, or what is wrong with it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), (bytes) => {
        const parsed = parseDataFrame(bytes);
        if (typeof parsed === 'string') return true;
        return bytes.length >= 5 && bytes[0] === 1 && parsed.payload.length === bytes.length - 5 && dataFrame(parsed.id, parsed.payload).every((b, i) => b === bytes[i]);
      }),
      { seed: 7, numRuns: 2_000 },
    );
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.record({ s: fc.oneof(fc.integer(), fc.double()), t: fc.constantFrom('open', 'accept', 'refuse', 'msg', 'close', 'x'), e: fc.anything(), r: fc.anything() }, { requiredKeys: [] })), (message) => {
        const parsed = parseControl(message);
        return typeof parsed === 'string' || (Number.isInteger(parsed.s) && parsed.s >= 0 && parsed.s <= 0xffff_ffff);
      }),
      { seed: 7, numRuns: 2_000 },
    );
  });

  it('puts the stream id in the header big-endian, behind the data kind', () => {
    assert.deepEqual([...dataFrame(0x01020304, Uint8Array.of(9, 8))], [1, 1, 2, 3, 4, 9, 8]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.uint8Array({ maxLength: 8 }), (id, payload) => {
        assert.deepEqual(Buffer.concat([dataHeader(id), payload]), Buffer.from(dataFrame(id, payload)));
      }),
      { seed: 7, numRuns: 500 },
    );
    assert.deepEqual(parseDataFrame(Uint8Array.of(1, 0xff, 0xff, 0xff, 0xff)), { id: 0xffff_ffff, payload: new Uint8Array(0) });
  });
});

describe('mux pool over peer networks', () => {
  const loopback = new LoopbackPeers('west', 'east', 'north');
  const [west, east, north] = loopback.nodes as [TestNode, TestNode, TestNode];
  let westPeers: PeerNetwork;
  let eastPeers: PeerNetwork;
  let northPeers: PeerNetwork;
  let westPool: MuxPool;
  let eastPool: MuxPool;
  const westDialled: SecureChannel[] = [];

  before(async () => {
    westPeers = await loopback.network(west);
    eastPeers = await loopback.network(east);
    northPeers = await loopback.network(north);
    // west's pool records what it dials, so a test can cut it; east's is wired the plain way.
    westPool = new MuxPool({
      selfId: 'west',
      log: silentLogger,
      dial: async (nodeId, timeoutMs) => {
        const { channel } = await westPeers.openStream(nodeId, { type: MUX_STREAM_TYPE, version: 1 }, timeoutMs);
        westDialled.push(channel);
        return channel;
      },
    });
    westPeers.serveStreams(MUX_STREAM_TYPE, (_request, channel) => void westPool.adopt(channel));
    eastPool = muxPoolOver(eastPeers, { selfId: 'east', log: silentLogger });
    for (const pool of [westPool, eastPool]) pool.serveStreams('echo', echo);
  });
  after(async () => {
    await westPool.stop();
    await eastPool.stop();
    await loopback.stop();
  });

  it('dials one mux for concurrent opens, and the other node uses it for streams its way', async () => {
    const opened = await Promise.all(Array.from({ length: 50 }, (_, i) => westPool.openStream('east', { type: 'echo', name: `n${i}` }, 3_000)));
    assert.deepEqual(opened.map(({ reply }) => reply), Array.from({ length: 50 }, (_, i) => ({ hello: `n${i}` })));
    assert.equal(westDialled.length, 1);
    assert.deepEqual(westPool.stats(), { muxes: 1, streams: 50 });
    const { channel, reply } = await eastPool.openStream('west', { type: 'echo', name: 'back' }, 3_000);
    assert.deepEqual(reply, { hello: 'back' });
    assert.equal(channel.peer.nodeId, 'west');
    // The stream east opened runs on the mux west dialled: still one each, 51 streams on it.
    assert.deepEqual(eastPool.stats(), { muxes: 1, streams: 51 });
    assert.equal(westDialled.length, 1);
    const bytes = nextBytes(channel);
    channel.sendBytes(Buffer.from('over the adopted mux'));
    assert.equal((await bytes).toString(), 'over the adopted mux');
    for (const { channel: stream } of opened) stream.close();
    channel.close();
    await until('the streams to close', () => westPool.stats().streams === 0 && eastPool.stats().streams === 0);
  });

  it('replaces a mux whose channel closed', async () => {
    await westPool.openStream('east', { type: 'echo' }, 3_000);
    const first = westDialled.at(-1)!;
    const dials = westDialled.length;
    const gone = new Promise<void>((resolve) => first.onClose(() => resolve()));
    first.close('cut for the test');
    await gone;
    await until('east to drop its mux', () => eastPool.stats().muxes === 0);
    const { reply } = await westPool.openStream('east', { type: 'echo', name: 'again' }, 3_000);
    assert.deepEqual(reply, { hello: 'again' });
    assert.equal(westDialled.length, dials + 1);
    assert.equal(westPool.stats().muxes, 1);
  });

  it('refuses to dial itself, fails fast for a node that is not there, and is refused by a node with no mux', async () => {
    await assert.rejects(westPool.openStream('west', { type: 'echo' }, 1_000), /does not dial itself/);
    const started = Date.now();
    await assert.rejects(westPool.openStream('ghost', { type: 'echo' }, 500));
    assert.ok(Date.now() - started < 2_500, `took ${Date.now() - started} ms`);
    await assert.rejects(westPool.openStream('ghost', { type: 'echo' }, 500), /unreachable moments ago/);
    // north runs no pool: it serves no 'mux' streams. west's pool has no fallback; east's (muxPoolOver) opens a
    // channel of its own instead, as before muxes.
    await assert.rejects(westPool.openStream('north', { type: 'echo' }, 1_000), /serves no stream of type "mux"/);
    northPeers.serveStreams('echo', (request, channel) => echo(request, channel));
    const muxes = eastPool.stats().muxes;
    for (const name of ['first', 'second']) {
      const { channel, reply } = await eastPool.openStream('north', { type: 'echo', name }, 2_000);
      assert.deepEqual(reply, { hello: name });
      assert.equal(typeof (channel as SecureChannel).stats, 'function', 'a channel of its own');
      channel.close();
    }
    assert.equal(eastPool.stats().muxes, muxes, 'no mux with north');
    await assert.rejects(northPeers.openStream('east', { type: MUX_STREAM_TYPE, version: 99 }, 1_000), /speaks stream mux version 1, not 99/);
  });

  it('dials another mux when one is full, up to its most per peer, and closes them all on stop', async () => {
    const small = new LoopbackPeers('left', 'right');
    const [leftNode, rightNode] = small.nodes as [TestNode, TestNode];
    const leftPeers = await small.network(leftNode);
    const rightPeers = await small.network(rightNode);
    const left = muxPoolOver(leftPeers, { selfId: 'left', log: silentLogger, maxStreams: 2, maxMuxesPerPeer: 2 });
    const right = muxPoolOver(rightPeers, { selfId: 'right', log: silentLogger, maxStreams: 2 });
    right.serveStreams('echo', echo);
    try {
      const opened = await Promise.all([1, 2, 3, 4].map(() => left.openStream('right', { type: 'echo' }, 3_000)));
      assert.deepEqual(left.stats(), { muxes: 2, streams: 4 });
      await assert.rejects(left.openStream('right', { type: 'echo' }, 3_000), /the 2 stream muxes with node right are full/);
      const closed = Promise.all(opened.map(({ channel }) => streamClosed(channel)));
      await left.stop();
      for (const reason of await closed) assert.match(String(reason), /closed/);
      await assert.rejects(left.openStream('right', { type: 'echo' }, 1_000), /stopped/);
      await until('the other side to drop its muxes', () => right.stats().muxes === 0);
    } finally {
      await left.stop();
      await right.stop();
      await small.stop();
    }
  });

  it('measures opens per second and bulk MB/s: one mux against a channel per stream (figures, not assertions)', async (t) => {
    const sink: MuxStreamHandler = (_request, stream) => {
      const duplex = duplexOn(stream);
      duplex.resume();
      duplex.on('end', () => duplex.end());
      return { ok: true };
    };
    eastPool.serveStreams('sink', sink);
    eastPeers.serveStreams('sink', (request, channel) => sink(request, channel));
    eastPeers.serveStreams('echo', (request, channel) => echo(request, channel));

    // Opens one after another: open, accept, close.
    const sequential = async (openOne: () => Promise<{ channel: StreamChannel }>, count: number) => {
      const started = performance.now();
      for (let i = 0; i < count; i++) (await openOne()).channel.close();
      return (count * 1000) / (performance.now() - started);
    };
    await westPool.openStream('east', { type: 'echo' }, 3_000).then(({ channel }) => channel.close());
    const muxSequential = await sequential(() => westPool.openStream('east', { type: 'echo' }, 3_000), 1_000);
    // Under the handshake burst (40 per address): unthrottled cost of a channel per stream.
    const channelSequential = await sequential(() => westPeers.openStream('east', { type: 'echo' }, 3_000), 30);
    const startedConcurrent = performance.now();
    const many = await Promise.all(Array.from({ length: 1_000 }, () => westPool.openStream('east', { type: 'echo' }, 10_000)));
    const muxConcurrent = (1_000 * 1000) / (performance.now() - startedConcurrent);
    for (const { channel } of many) channel.close();

    // One stream's bulk transfer through ChannelStream, on the mux and on a channel of its own.
    const size = 128 * MiB;
    const transfer = async (opened: { channel: StreamChannel }) => {
      const duplex = duplexOn(opened.channel);
      const started = performance.now();
      const done = readAll(duplex);
      await pump(duplex, size);
      await done;
      return size / MiB / ((performance.now() - started) / 1000);
    };
    const muxMBs = await transfer(await westPool.openStream('east', { type: 'sink' }, 3_000));
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // let the handshake bucket refill a little
    const channelMBs = await transfer(await westPeers.openStream('east', { type: 'sink' }, 3_000));

    const figures = {
      muxOpensPerSecondSequential: Math.round(muxSequential),
      channelPerStreamOpensPerSecondSequential: Math.round(channelSequential),
      muxOpensPerSecondConcurrent: Math.round(muxConcurrent),
      muxStreamMBs: Math.round(muxMBs),
      channelStreamMBs: Math.round(channelMBs),
    };
    t.diagnostic(JSON.stringify(figures));
    assert.ok(Object.values(figures).every((value) => value > 0));
  });
});
