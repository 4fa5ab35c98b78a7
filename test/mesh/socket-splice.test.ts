/**
 * The socket-to-socket splice the ingress uses for a task on its own node (src/mesh/socket-splice.ts), on loopback
 * with real sockets: a stand-in container, a forwarder made of connectUpstream and spliceSockets (as the ingress
 * joins them), and a client. Each test checks what the client and the container see, and what the forwarder holds.
 */

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { LANDING_BYTES, ReadBuffers } from '../../src/mesh/read-buffers.ts';
import { connectUpstream, spliceSockets } from '../../src/mesh/socket-splice.ts';
import type { Splice, SpliceOptions } from '../../src/mesh/splice.ts';
import { sha256, until } from './helpers.ts';

const BULK = 1 << 20;
const OPTIONS: SpliceOptions = { idleTimeoutMs: 30_000, maxBufferedBytes: 4 << 20 };
const servers: Server[] = [];
/** Every socket a test made or accepted, so that a failed test leaves none open behind it. */
const sockets = new Set<Socket>();

after(async () => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
});

const closed = (socket: Socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()));

async function listen(onSocket: (socket: Socket) => void): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    onSocket(socket);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** One forwarded connection as the forwarder sees it: the socket to the client, and the splice. */
interface Forwarded {
  client: Socket;
  splice: Splice;
}

/** A listener splicing each client to the container on `targetPort`, as the ingress does for a local task. */
async function forwarder(targetPort: number, options: SpliceOptions = OPTIONS, buffers = new ReadBuffers(BULK)): Promise<{ port: number; forwarded: Forwarded[]; buffers: ReadBuffers }> {
  const forwarded: Forwarded[] = [];
  const port = await new Promise<number>((resolve) => {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
      sockets.add(client);
      client.on('error', () => {});
      client.setNoDelay(true);
      connectUpstream('127.0.0.1', targetPort, 2_000, undefined, buffers).then(
        (upstream) => forwarded.push({ client, splice: spliceSockets(client, upstream, options) }),
        () => client.destroy(),
      );
    });
    servers.push(server);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
  return { port, forwarded, buffers };
}

/** Writes `bytes` honoring backpressure, in pieces of at most 1 MiB, then ends if asked. */
function send(socket: Socket, bytes: Buffer, end = true): Promise<void> {
  return new Promise((resolve) => {
    let offset = 0;
    const pump = () => {
      while (offset < bytes.length) {
        const piece = bytes.subarray(offset, offset + (1 << 20));
        offset += piece.length;
        if (!socket.write(piece)) return void socket.once('drain', pump);
      }
      if (end) socket.end();
      resolve();
    };
    pump();
  });
}

/** A hash of everything `socket` reads until its end, and how many bytes. */
function receive(socket: Socket): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve({ hash: hash.digest('hex'), bytes }));
    socket.once('error', reject);
  });
}

/** Connects through `port`, reads to the end (pausing a moment after each `breathEvery` bytes), and ends too. */
async function download(port: number, breathEvery = Infinity): Promise<{ hash: string; bytes: number }> {
  const socket = await dial(port);
  let next = breathEvery;
  socket.on('data', () => {
    if (socket.bytesRead < next) return;
    next += breathEvery;
    socket.pause();
    setTimeout(() => socket.resume(), 2);
  });
  const result = await receive(socket);
  socket.end();
  return result;
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(socket));
    sockets.add(socket);
    socket.once('error', reject);
  });
}

/** The largest value `sample` took at each turn of the event loop while `work` ran. */
async function peak(sample: () => number, work: Promise<unknown>): Promise<number> {
  let max = 0;
  let running = true;
  const loop = () => {
    max = Math.max(max, sample());
    if (running) setImmediate(loop);
  };
  loop();
  try {
    await work;
  } finally {
    running = false;
  }
  return max;
}

describe('socket splice', { timeout: 60_000 }, () => {
  it('carries a large download and an upload at the same time, both intact, and ends clean', async () => {
    const download = randomBytes(48 << 20);
    const upload = randomBytes(16 << 20);
    let uploaded!: Promise<{ hash: string; bytes: number }>;
    const target = await listen((socket) => {
      uploaded = receive(socket);
      void send(socket, download);
    });
    const { port, forwarded } = await forwarder(target);
    const client = await dial(port);
    const downloaded = receive(client);
    void send(client, upload);
    assert.deepEqual(await downloaded, { hash: sha256(download), bytes: download.length });
    await until('the container to be connected', () => uploaded !== undefined);
    assert.deepEqual(await uploaded, { hash: sha256(upload), bytes: upload.length });
    assert.deepEqual(await forwarded[0]!.splice.done, { clean: true, reason: null });
  });

  it('passes on what the container says first, and the client\'s half-close, to which the container still answers', async () => {
    const answer = randomBytes(5 << 20);
    const target = await listen((socket) => {
      socket.write('220 ready\r\n');
      let heard = '';
      socket.on('data', (chunk: Buffer) => (heard += chunk.toString()));
      socket.on('end', () => void send(socket, Buffer.concat([Buffer.from(`${heard}|`), answer])));
    });
    const { port, forwarded } = await forwarder(target);
    const client = await dial(port);
    const [banner] = (await once(client, 'data')) as [Buffer];
    assert.equal(banner.toString(), '220 ready\r\n');
    const rest = receive(client);
    client.end('QUIT');
    const expected = Buffer.concat([Buffer.from('QUIT|'), answer]);
    assert.deepEqual(await rest, { hash: sha256(expected), bytes: expected.length });
    assert.deepEqual(await forwarded[0]!.splice.done, { clean: true, reason: null });
  });

  it('holds at most one bulk buffer for a client that reads slowly, and stops reading the container while it does not read', async () => {
    const payload = randomBytes(64 << 20);
    let container = null as Socket | null;
    const target = await listen((socket) => {
      container = socket;
      void send(socket, payload);
    });
    const { port, forwarded, buffers } = await forwarder(target);
    const client = await dial(port);
    client.pause();
    await until('the forwarder to splice', () => forwarded.length === 1);
    const toClient = forwarded[0]!.client;
    // Not reading at all: the container is held back once the buffers between fill (the kernel's grow for a while).
    let written = -1;
    for (let i = 0; container === null || container.bytesWritten !== written; i++) {
      assert.ok(i < 40, 'the container was never held back');
      written = container?.bytesWritten ?? -1;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.ok(written < 48 << 20, `the container wrote ${written} bytes to a client that reads nothing`);
    assert.ok(toClient.writableLength <= BULK, `the forwarder holds ${toClient.writableLength} bytes for the client`);
    // Reading slowly now: a pause after every 2 MiB.
    let read = 0;
    let nextPause = 2 << 20;
    client.on('data', (chunk: Buffer) => {
      read += chunk.length;
      if (read < nextPause) return;
      nextPause += 2 << 20;
      client.pause();
      setTimeout(() => client.resume(), 5);
    });
    const received = receive(client);
    client.resume();
    let pooled = 0;
    const held = await peak(() => ((pooled = Math.max(pooled, buffers.bytes)), toClient.writableLength), received);
    assert.deepEqual(await received, { hash: sha256(payload), bytes: payload.length });
    assert.ok(held <= BULK, `the forwarder held up to ${held} bytes for the client`);
    assert.ok(pooled <= BULK, `${pooled} bytes of bulk buffers for one connection`);
    client.end();
    assert.deepEqual(await forwarded[0]!.splice.done, { clean: true, reason: null });
  });

  it('spends no bulk buffer on conversational traffic, nor on connections left idle', async () => {
    const target = await listen((socket) => {
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
      socket.on('end', () => socket.end());
    });
    const { port, forwarded, buffers } = await forwarder(target);
    const clients = await Promise.all(Array.from({ length: 50 }, () => dial(port)));
    for (const client of clients) {
      client.write(randomBytes(1000));
      let got = 0;
      while (got < 1000) got += ((await once(client, 'data')) as [Buffer])[0].length;
    }
    assert.equal(buffers.bytes, 0);
    for (const client of clients) client.destroy();
    await Promise.all(forwarded.map((f) => f.splice.done));
  });

  it('keeps to the landing buffer when the bound is under a bulk buffer, and shares a small budget among transfers', async () => {
    const payload = randomBytes(16 << 20);
    const target = await listen((socket) => void send(socket, payload));
    const bounded = await forwarder(target, { ...OPTIONS, maxBufferedBytes: BULK / 2 });
    assert.deepEqual(await download(bounded.port), { hash: sha256(payload), bytes: payload.length });
    assert.equal(bounded.buffers.bytes, 0);

    const budget = 2 * BULK;
    const shared = await forwarder(target, OPTIONS, new ReadBuffers(BULK, budget, 1));
    // Two clients read as fast as they can, two fall behind now and then (their writes pin a buffer meanwhile).
    const transfers = Promise.all([Infinity, 1 << 20, Infinity, 3 << 20].map((breathEvery) => download(shared.port, breathEvery)));
    const most = await peak(() => shared.buffers.bytes, transfers);
    for (const result of await transfers) assert.deepEqual(result, { hash: sha256(payload), bytes: payload.length });
    assert.ok(most <= budget, `${most} bytes of bulk buffers with a budget of ${budget}`);
    await Promise.all(shared.forwarded.map((f) => f.splice.done));
    assert.ok(shared.buffers.bytes <= BULK, 'every bulk buffer was given back (one is kept spare)');
  });

  it('resets the client when the container resets, and the other way round', async () => {
    const target = await listen((socket) => {
      socket.write(randomBytes(LANDING_BYTES * 3));
      socket.once('data', () => socket.resetAndDestroy());
    });
    const { port, forwarded } = await forwarder(target);
    const client = await dial(port);
    client.on('data', () => {});
    const gone = closed(client);
    const error = once(client, 'error');
    client.write('go');
    assert.equal(((await error) as [NodeJS.ErrnoException])[0].code, 'ECONNRESET');
    await gone;
    const end = await forwarded[0]!.splice.done;
    assert.equal(end.clean, false);

    let containerSide = null as Socket | null;
    const quiet = await listen((socket) => (containerSide = socket));
    const second = await forwarder(quiet);
    const leaving = await dial(second.port);
    await until('the container to be connected', () => containerSide !== null);
    const containerError = once(containerSide!, 'error');
    leaving.resetAndDestroy();
    assert.equal(((await containerError) as [NodeJS.ErrnoException])[0].code, 'ECONNRESET');
    assert.equal((await second.forwarded[0]!.splice.done).clean, false);
  });

  it('closes both sides after the idle timeout, and when aborted', async () => {
    const target = await listen(() => {});
    const { port, forwarded } = await forwarder(target, { ...OPTIONS, idleTimeoutMs: 200 });
    const client = await dial(port);
    client.on('error', () => {});
    const started = Date.now();
    await closed(client);
    const waited = Date.now() - started;
    assert.ok(waited >= 150 && waited < 3_000, `closed after ${waited} ms`);
    assert.deepEqual(await forwarded[0]!.splice.done, { clean: false, reason: 'no bytes either way for 200 ms' });

    const other = await dial(port);
    other.on('error', () => {});
    await until('the second connection to be spliced', () => forwarded.length === 2);
    forwarded[1]!.splice.abort('the published port is closing');
    await closed(other);
    assert.deepEqual(await forwarded[1]!.splice.done, { clean: false, reason: 'the published port is closing' });
  });
});
