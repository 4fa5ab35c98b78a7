/**
 * The routing mesh over loopback with real sockets: an ingress listener on one node forwarding to stand-in
 * containers on that node and, through a mesh stream over the encrypted transport, on another node. Each test
 * says what a client of a published port would see.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { PeerNetwork } from '../../src/cluster/peers.ts';
import type { Backend } from '../../src/mesh/balancer.ts';
import { IngressListener, type IngressOptions } from '../../src/mesh/ingress.ts';
import { MESH_CONNECT } from '../../src/mesh/protocol.ts';
import { MeshStreamServer } from '../../src/mesh/stream-server.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { echo, EchoBackend, local, open, peerNetworks, remote, roundTrip, sha256, until } from './helpers.ts';

const SERVICE = 'svc-web';
let mesh: Awaited<ReturnType<typeof peerNetworks>>;
let ingressNode: PeerNetwork;
/** Stand-in containers: local ones on this node (127.0.0.2, .3, .4), a remote one on node "far" (127.0.0.5). */
const backends = new Map<string, EchoBackend>();
let targetPort = 0;
const listeners: IngressListener[] = [];
/** Tasks the far node runs: task → container address, for its stream server's lookup. */
const farTasks = new Map<string, string>([['remote-1', '127.0.0.5']]);


async function listener(table: Backend[], options: Partial<IngressOptions> = {}): Promise<IngressListener> {
  const ingress = new IngressListener({
    serviceId: SERVICE,
    publishedPort: 0,
    host: '127.0.0.1',
    targetPort,
    peers: () => ingressNode,
    log: silentLogger,
    ...options,
  });
  await ingress.start();
  ingress.setBackends(table);
  listeners.push(ingress);
  return ingress;
}

/** Whether a client through `port` was closed without an answer (a FIN, or a reset when its bytes were unread). */
const refusedOrEmpty = (port: number) => roundTrip(port, Buffer.from('anyone?')).then(({ reply }) => reply.length === 0, (err: { code?: string }) => err.code === 'ECONNRESET');

before(async () => {
  mesh = await peerNetworks('near', 'far');
  ingressNode = mesh.networks.get('near')!;
  const first = await EchoBackend.listen('127.0.0.2');
  targetPort = first.port;
  backends.set('local-1', first);
  backends.set('local-2', await EchoBackend.listen('127.0.0.3', targetPort));
  backends.set('local-3', await EchoBackend.listen('127.0.0.4', targetPort));
  backends.set('remote-1', await EchoBackend.listen('127.0.0.5', targetPort));
  new MeshStreamServer({
    lookup: (serviceId, taskId, port) => (serviceId === SERVICE && port === targetPort ? (farTasks.get(taskId) ?? null) : null),
    log: silentLogger,
  }).serve(mesh.networks.get('far')!);
});

after(async () => {
  for (const ingress of listeners) await ingress.stop();
  for (const backend of backends.values()) await backend.close();
  await mesh.stop();
});

describe('ingress routing mesh', { timeout: 30_000 }, () => {
  for (const [where, table] of [['a local task', () => [local('local-1', '127.0.0.2')]], ['a task on another node', () => [remote('remote-1')]]] as const) {
    it(`carries bytes both ways to ${where}: a large transfer intact, and a half-close answered`, async () => {
      const ingress = await listener(table());
      const backend = backends.get(table()[0]!.taskId)!;
      const before = backend.accepted.length;
      const payload = randomBytes(8 << 20);
      const { reply } = await roundTrip(ingress.port, payload);
      assert.equal(reply.length, payload.length + 3);
      assert.equal(sha256(reply.subarray(0, payload.length)), sha256(payload), 'the echo came back intact');
      assert.equal(reply.subarray(payload.length).toString(), 'bye', 'the backend saw the client half-close and answered after it');
      assert.equal(backend.accepted.length, before + 1);
      await until('the connection to be released', () => ingress.stats().connections === 0);
      assert.equal(ingress.stats().backends[0]!.active, 0);
    });
  }

  const bulkCases = [
    ['a local task, spliced socket to socket', '127.0.0.6', () => local('bulk', '127.0.0.6')],
    ['a task on another node, socket to mesh stream on both nodes', '127.0.0.7', () => remote('bulk')],
  ] as const;
  for (const [where, address, backend] of bulkCases) {
    it(`carries a 64 MiB download from ${where}, intact`, async () => {
      const payload = randomBytes(64 << 20);
      const source = createServer((socket) => {
        socket.on('error', () => {});
        socket.end(payload);
      });
      // The far node's stream server reaches its tasks on the service's target port.
      await new Promise<void>((resolve) => source.listen(targetPort, address, () => resolve()));
      farTasks.set('bulk', address);
      try {
        const ingress = await listener([backend()]);
        const { reply } = await roundTrip(ingress.port, Buffer.alloc(0));
        assert.equal(reply.length, payload.length);
        assert.equal(sha256(reply), sha256(payload));
        await until('the connection to be released', () => ingress.stats().connections === 0);
      } finally {
        farTasks.delete('bulk');
        await new Promise<void>((resolve) => source.close(() => resolve()));
      }
    });
  }

  it('spreads connections across tasks, local and remote: least connections, taking turns', async () => {
    const table = [local('local-1', '127.0.0.2'), local('local-2', '127.0.0.3'), remote('remote-1')];
    const ingress = await listener(table);
    const before = table.map((b) => backends.get(b.taskId)!.accepted.length);
    const held = [];
    for (let i = 0; i < 6; i++) held.push(await open(ingress.port));
    await until('six connections to reach backends', () => table.reduce((sum, b, i) => sum + backends.get(b.taskId)!.accepted.length - before[i]!, 0) === 6);
    assert.deepEqual(ingress.stats().backends.map((b) => b.active), [2, 2, 2]);
    for (const socket of held) assert.equal(await echo(socket, 'hi'), 'hi');
    // One task's connections end: the next ones go to it, having the fewest.
    for (const [i, socket] of held.entries()) if (i % 3 === 0) socket.destroy();
    await until('two connections to end', () => ingress.stats().backends[0]!.active === 0);
    const more = [await open(ingress.port), await open(ingress.port)];
    await until('the new connections to count', () => ingress.stats().backends[0]!.active === 2);
    for (const socket of [...held, ...more]) socket.destroy();
  });

  it('gives a draining task no new connection, lets its open one finish, and resolves the drain when it ends', async () => {
    const ingress = await listener([local('local-1', '127.0.0.2'), local('local-2', '127.0.0.3')]);
    const inflight = await open(ingress.port);
    await until('the first connection to be counted', () => ingress.stats().backends[0]!.active === 1);
    let drained = false;
    const drain = ingress.drain('local-1', 10_000).then(() => (drained = true));
    for (let i = 0; i < 4; i++) {
      const { reply } = await roundTrip(ingress.port, Buffer.from('x'));
      assert.equal(reply.toString(), 'xbye');
    }
    assert.equal(ingress.stats().backends[0]!.active, 1, 'only the in-flight connection is on the draining task');
    assert.equal(await echo(inflight, 'still here'), 'still here');
    assert.equal(drained, false);
    inflight.end();
    await drain;
    assert.equal(ingress.stats().backends[0]!.active, 0);
  });

  it('ends a drain when the grace period runs out, leaving a connection still open to the task\'s own shutdown', async () => {
    const ingress = await listener([local('local-3', '127.0.0.4')]);
    const inflight = await open(ingress.port);
    await until('the connection to be counted', () => ingress.stats().backends[0]!.active === 1);
    const started = Date.now();
    await ingress.drain('local-3', 200);
    assert.ok(Date.now() - started >= 190, 'not before the grace period');
    // Not reset by the mesh: the container's SIGTERM comes next, and its server closes what it holds.
    assert.equal(await echo(inflight, 'after'), 'after');
    inflight.destroy();
  });

  it('skips a task that does not accept, and rests it so later connections do not try it first', async () => {
    const ingress = await listener([local('dead-1', '127.0.0.9'), remote('dead-remote'), local('local-2', '127.0.0.3')]);
    for (let i = 0; i < 5; i++) {
      const { reply } = await roundTrip(ingress.port, Buffer.from(`n${i}`));
      assert.equal(reply.toString(), `n${i}bye`);
    }
    assert.deepEqual(ingress.stats().backends.map((b) => b.active), [0, 0, 0]);
  });

  it('closes the client when no task accepts within the connect timeout', async () => {
    const ingress = await listener([local('dead-1', '127.0.0.9')], { limits: { connectTimeoutMs: 500 } });
    const started = performance.now();
    assert.equal(await refusedOrEmpty(ingress.port), true);
    const took = performance.now() - started;
    assert.ok(took >= 400 && took < 1_500, `closed after ${took.toFixed(0)} ms of trying again`);
  });

  it('holds a client while the only task is not listening yet, and joins it to the task once it is', async () => {
    // The update that replaces a service's last task: the new one runs, its server starts a moment later.
    const ingress = await listener([local('starting-1', '127.0.0.10')]);
    const late = setTimeout(() => void EchoBackend.listen('127.0.0.10', targetPort).then((backend) => backends.set('starting-1', backend)), 300);
    try {
      const { reply } = await roundTrip(ingress.port, Buffer.from('early'));
      assert.equal(reply.toString(), 'earlybye');
    } finally {
      clearTimeout(late);
    }
  });

  for (const [where, table] of [['a local task', () => [local('local-1', '127.0.0.2')]], ['a task on another node', () => [remote('remote-1')]]] as const) {
    it(`sends ${where} a PROXY v2 header with the client's real address, when asked to`, async () => {
      const ingress = await listener(table(), { proxyProtocol: true });
      const backend = backends.get(table()[0]!.taskId)!;
      const { reply, localPort } = await roundTrip(ingress.port, Buffer.from('who am I'));
      assert.equal(reply.toString(), 'who am Ibye', 'the header is not echoed: the backend consumed it');
      assert.deepEqual(backend.accepted.at(-1)!.proxy, { source: `127.0.0.1:${localPort}`, destination: `127.0.0.1:${ingress.port}` });
    });
  }

  for (const [where, table] of [['a local task', () => [local('local-1', '127.0.0.2')]], ['a task on another node', () => [remote('remote-1')]]] as const) {
    it(`holds a bounded amount for a client that does not read what ${where} sends`, async () => {
      const ingress = await listener(table(), { limits: { maxBufferedBytes: 2 << 20 } });
      const backend = backends.get(table()[0]!.taskId)!;
      const before = backend.accepted.length;
      const client = await open(ingress.port);
      client.pause();
      client.on('error', () => {});
      await until('the backend to accept', () => backend.accepted.length > before);
      const socket = backend.accepted.at(-1)!.socket;
      // The container writes as fast as it is let, honoring backpressure as a server does.
      const piece = Buffer.alloc(64 * 1024, 1);
      let offered = 0;
      const pump = () => {
        while (offered < 512 << 20 && !socket.destroyed) {
          offered += piece.length;
          if (!socket.write(piece)) return void socket.once('drain', pump);
        }
      };
      pump();
      await new Promise((resolve) => setTimeout(resolve, 800));
      const written = socket.bytesWritten;
      await new Promise((resolve) => setTimeout(resolve, 400));
      const stalled = socket.bytesWritten - written;
      // Kernel buffers on each loopback socket, plus the mesh's bounded buffers: a few tens of MB at most.
      assert.ok(socket.bytesWritten < 64 << 20, `the backend got ${socket.bytesWritten} bytes out to a client that reads nothing`);
      assert.ok(stalled < 1 << 20, `the backend kept writing (${stalled} bytes) after buffers filled`);
      client.destroy();
      await until('the connection to end', () => ingress.stats().connections === 0);
    });
  }

  it('paces a client that stops reading now and then, across nodes, and never resets it', async () => {
    const ingress = await listener([remote('remote-1')]);
    const backend = backends.get('remote-1')!;
    const before = backend.accepted.length;
    const client = await open(ingress.port);
    client.on('error', () => {});
    await until('the backend to accept', () => backend.accepted.length > before);
    const socket = backend.accepted.at(-1)!.socket;
    const total = 256 << 20;
    const piece = Buffer.alloc(1 << 20, 7);
    let offered = 0;
    const pump = () => {
      while (offered < total && !socket.destroyed) {
        offered += piece.length;
        if (!socket.write(piece)) return void socket.once('drain', pump);
      }
      if (offered >= total) socket.end();
    };
    pump();
    // A client that takes a breath every 4 MB, as a browser writing to a slow disk does.
    let received = 0;
    let nextBreath = 4 << 20;
    const ended = await new Promise<string>((resolve) => {
      client.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= nextBreath) {
          nextBreath += 4 << 20;
          client.pause();
          setTimeout(() => client.resume(), 60);
        }
      });
      client.once('end', () => resolve('end'));
      client.once('close', (hadError) => resolve(hadError ? 'reset' : 'end'));
    });
    client.destroy();
    assert.equal(ended, 'end', `the connection ended cleanly after ${received} bytes`);
    assert.equal(received, total);
  });

  it('closes a half-open client after the idle timeout, without touching another published port', async () => {
    const quiet = await listener([remote('remote-1')], { limits: { idleTimeoutMs: 300 } });
    const other = await listener([local('local-2', '127.0.0.3')]);
    const client = await open(quiet.port);
    client.on('error', () => {});
    const started = Date.now();
    await new Promise<void>((resolve) => client.once('close', () => resolve()));
    const waited = Date.now() - started;
    assert.ok(waited >= 250 && waited < 3_000, `closed after ${waited} ms`);
    assert.equal((await roundTrip(other.port, Buffer.from('ok'))).reply.toString(), 'okbye');
  });

  it('refuses clients over the per-client limit, and accepts again once they leave', async () => {
    const ingress = await listener([local('local-2', '127.0.0.3')], { limits: { maxConnectionsPerClient: 3 } });
    const held = [await open(ingress.port), await open(ingress.port), await open(ingress.port)];
    await until('three connections', () => ingress.stats().connections === 3);
    assert.equal(await refusedOrEmpty(ingress.port), true);
    assert.equal(ingress.stats().refused, 1);
    for (const socket of held) socket.destroy();
    await until('the connections to end', () => ingress.stats().connections === 0);
    assert.equal((await roundTrip(ingress.port, Buffer.from('five'))).reply.toString(), 'fivebye');
  });

  it('refuses a peer asking for a task, service or port this node does not run', async () => {
    const request = { type: MESH_CONNECT, serviceId: SERVICE, taskId: 'remote-1', port: targetPort };
    await assert.rejects(ingressNode.openStream('far', { ...request, taskId: 'local-1' }, 2_000), /does not run on this node/);
    await assert.rejects(ingressNode.openStream('far', { ...request, serviceId: 'other' }, 2_000), /does not run on this node/);
    await assert.rejects(ingressNode.openStream('far', { ...request, port: 22 }, 2_000), /does not run on this node/);
    await assert.rejects(ingressNode.openStream('far', { ...request, port: 'x' }, 2_000), /malformed/);
    const { channel } = await ingressNode.openStream('far', request, 2_000);
    channel.close();
  });

  it('completes 200 concurrent connections', async () => {
    const ingress = await listener([local('local-1', '127.0.0.2'), local('local-2', '127.0.0.3'), local('local-3', '127.0.0.4'), remote('remote-1')]);
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const payload = randomBytes(16 * 1024 + i);
        const { reply } = await roundTrip(ingress.port, payload);
        return reply.length === payload.length + 3 && sha256(reply.subarray(0, payload.length)) === sha256(payload);
      }),
    );
    assert.equal(results.filter(Boolean).length, 200);
    await until('every connection to be released', () => ingress.stats().connections === 0);
    assert.deepEqual(ingress.stats().backends.map((b) => b.active), [0, 0, 0, 0]);
  });
});
