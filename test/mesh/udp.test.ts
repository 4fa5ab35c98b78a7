/**
 * The routing mesh for UDP over loopback with real sockets: a UDP ingress listener on one node forwarding flows to
 * stand-in containers on that node and, through mesh streams over the encrypted transport, on another node (whose
 * relay answers only for its own tasks) — and to a rogue node that breaks the framing. Each test says what a
 * client of a published UDP port would see, or what the mesh holds for it.
 */

import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { PeerNetwork } from '../../src/cluster/peers.ts';
import type { Backend } from '../../src/mesh/balancer.ts';
import type { StreamOpener } from '../../src/mesh/ingress.ts';
import { DatagramDeframer, frameDatagram, MAX_DATAGRAM_BYTES, MESH_UDP } from '../../src/mesh/protocol.ts';
import { UDP_DROP_REASONS, UdpIngressListener, type UdpIngressOptions } from '../../src/mesh/udp-ingress.ts';
import { serveUdp, type UdpRelay } from '../../src/mesh/udp-relay.ts';
import type { SecureChannel } from '../../src/transport/secure-channel.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { local, peerNetworks, remote, sha256, UdpClient, UdpEchoBackend, until } from './helpers.ts';

const SERVICE = 'svc-dns';
let mesh: Awaited<ReturnType<typeof peerNetworks>>;
let near: PeerNetwork;
let relay: UdpRelay;
/** Stand-in containers: on this node 127.0.0.2, .3, .4; on node "far" 127.0.0.5. Nothing listens on 127.0.0.9. */
const backends = new Map<string, UdpEchoBackend>();
let targetPort = 0;
const listeners: UdpIngressListener[] = [];
const clients: UdpClient[] = [];
/** Tasks node "far" runs: task → container address ("remote-dead": its container is gone). */
const farTasks = new Map<string, string>([
  ['remote-1', '127.0.0.5'],
  ['remote-dead', '127.0.0.9'],
]);
/** How often far's relay was asked about each task. */
const farAsked = new Map<string, number>();
/** The streams node "rogue" was given, which it answers once properly and then with a malformed frame. */
const rogueStreams: SecureChannel[] = [];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function listener(table: Backend[], options: Partial<UdpIngressOptions> = {}): Promise<UdpIngressListener> {
  const ingress = new UdpIngressListener({
    serviceId: SERVICE,
    publishedPort: 0,
    host: '127.0.0.1',
    targetPort,
    peers: () => near,
    log: silentLogger,
    ...options,
  });
  await ingress.start();
  ingress.setBackends(table);
  listeners.push(ingress);
  return ingress;
}

async function client(host?: string): Promise<UdpClient> {
  const opened = await UdpClient.open(host);
  clients.push(opened);
  return opened;
}

const active = (ingress: UdpIngressListener) => ingress.stats().backends.map((b) => b.active);

before(async () => {
  mesh = await peerNetworks('near', 'far', 'rogue');
  near = mesh.networks.get('near')!;
  const first = await UdpEchoBackend.listen('127.0.0.2');
  targetPort = first.port;
  backends.set('local-1', first);
  backends.set('local-2', await UdpEchoBackend.listen('127.0.0.3', targetPort));
  backends.set('local-3', await UdpEchoBackend.listen('127.0.0.4', targetPort));
  backends.set('remote-1', await UdpEchoBackend.listen('127.0.0.5', targetPort));
  const lookup = (serviceId: string, taskId: string, port: number) => {
    farAsked.set(taskId, (farAsked.get(taskId) ?? 0) + 1);
    return serviceId === SERVICE && port === targetPort ? (farTasks.get(taskId) ?? null) : null;
  };
  relay = serveUdp(mesh.networks.get('far')!, lookup, undefined, silentLogger);
  mesh.networks.get('rogue')!.serveStreams(MESH_UDP, (_request, channel) => {
    rogueStreams.push(channel);
    let answered = false;
    channel.onBytes((bytes) => {
      if (answered) return;
      answered = true;
      channel.sendBytes(bytes); // One frame, echoed as it came: a proper answer...
      channel.sendBytes(Uint8Array.of(0xff, 0xff, 1, 2, 3)); // ...then a frame claiming 65,535 bytes.
    });
    return { ok: true };
  });
});

after(async () => {
  for (const c of clients) c.close();
  for (const ingress of listeners) await ingress.stop();
  await relay.stop();
  for (const backend of backends.values()) await backend.close();
  await mesh.stop();
});

describe('datagram framing', () => {
  it('gives back the datagrams that were framed, however the stream chunks them', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 2_000 }), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (datagrams, cuts) => {
        const stream = Buffer.concat(datagrams.map((d) => frameDatagram(d)));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const deframer = new DatagramDeframer();
        const out: Buffer[] = [];
        let at = 0;
        for (const point of [...points, stream.length]) {
          assert.equal(deframer.push(stream.subarray(at, point), (d) => out.push(Buffer.from(d))), null);
          at = point;
        }
        assert.deepEqual(out.map((d) => d.toString('hex')), datagrams.map((d) => Buffer.from(d).toString('hex')));
        assert.equal(deframer.buffered, 0);
      }),
    );
  });

  it('ends on a frame that claims more than a datagram can hold, holding no more than one frame meanwhile', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 50 }), (chunks) => {
        const deframer = new DatagramDeframer();
        let problem: string | null = null;
        for (const chunk of chunks) {
          const answer = deframer.push(chunk, (d) => assert.ok(d.length <= MAX_DATAGRAM_BYTES));
          if (problem) assert.equal(answer, problem, 'once malformed, always malformed');
          problem = answer;
          assert.ok(deframer.buffered < 2 + MAX_DATAGRAM_BYTES);
        }
      }),
    );
    const header = Buffer.alloc(2);
    header.writeUInt16BE(MAX_DATAGRAM_BYTES + 1);
    assert.match(new DatagramDeframer().push(header, () => assert.fail('nothing to deliver')) ?? '', /over the 65507-byte maximum/);
    header.writeUInt16BE(MAX_DATAGRAM_BYTES);
    assert.equal(new DatagramDeframer().push(header, () => assert.fail('the frame is not complete yet')), null);
    assert.throws(() => frameDatagram(new Uint8Array(MAX_DATAGRAM_BYTES + 1)), RangeError);
  });
});

describe('UDP ingress routing mesh', { timeout: 60_000 }, () => {
  for (const [where, table] of [['a local task', () => [local('local-1', '127.0.0.2')]], ['a task on another node', () => [remote('remote-1')]]] as const) {
    it(`carries datagrams of every size to ${where} and back, as one flow`, async () => {
      const ingress = await listener(table());
      const backend = backends.get(table()[0]!.taskId)!;
      const flowsBefore = backend.flows;
      const c = await client();
      for (const size of [0, 1, 512, 1_472, 9_000, MAX_DATAGRAM_BYTES]) {
        const payload = randomBytes(size);
        c.send(ingress.port, payload);
        const reply = await c.next();
        assert.ok(reply, `a ${size}-byte datagram came back`);
        assert.equal(sha256(reply), sha256(payload));
      }
      assert.equal(ingress.stats().flows, 1);
      assert.equal(backend.flows, flowsBefore + 1, 'the container saw one flow');
      assert.deepEqual(ingress.stats().backends.map((b) => b.active), [1]);
    });
  }

  for (const [where, table] of [['a local task', () => [local('local-1', '127.0.0.2')]], ['a task on another node', () => [remote('remote-1')]]] as const) {
    for (const size of [64, 1_024, 16_384]) {
      it(`carries a burst of ${size}-byte datagrams to ${where} intact (throughput printed)`, async (t) => {
        const ingress = await listener(table());
        const figure = await burst(ingress.port, size, size >= 16_384 ? 3_000 : 20_000);
        t.diagnostic(`udp ${where}, ${size}-byte datagrams: ${figure}`);
        assert.deepEqual(Object.values(ingress.stats().dropped), UDP_DROP_REASONS.map(() => 0), 'nothing was dropped');
      });
    }
  }

  it('spreads flows across tasks, local and remote: least flows first, taking turns', async () => {
    const table = [local('local-1', '127.0.0.2'), local('local-2', '127.0.0.3'), remote('remote-1')];
    const ingress = await listener(table);
    const seen = () => table.map((b) => backends.get(b.taskId)!.flows);
    const before = seen();
    for (let i = 0; i < 3; i++) assert.equal(await (await client()).request(ingress.port, `hi ${i}`), `hi ${i}`);
    assert.deepEqual(active(ingress), [1, 1, 1]);
    assert.deepEqual(seen().map((n, i) => n - before[i]!), [1, 1, 1], 'each task saw one flow');
    // A new task has the fewest flows: it takes the next one; then all take turns.
    ingress.setBackends([...table, local('local-3', '127.0.0.4')]);
    assert.equal(await (await client()).request(ingress.port, 'new'), 'new');
    assert.deepEqual(active(ingress), [1, 1, 1, 1]);
    for (let i = 0; i < 4; i++) assert.equal(await (await client()).request(ingress.port, `more ${i}`), `more ${i}`);
    assert.deepEqual(active(ingress), [2, 2, 2, 2]);
    assert.equal(ingress.stats().flows, 8);
  });

  it('keeps a flow on its task: every datagram of one client port goes to the same container', async () => {
    const table = [local('local-1', '127.0.0.2'), local('local-2', '127.0.0.3'), local('local-3', '127.0.0.4')];
    const ingress = await listener(table);
    const counts = () => table.map((b) => backends.get(b.taskId)!.datagrams);
    const before = counts();
    const c = await client();
    for (let i = 0; i < 30; i++) assert.equal(await c.request(ingress.port, `n${i}`), `n${i}`);
    const got = counts().map((n, i) => n - before[i]!);
    assert.deepEqual([...got].sort((a, b) => a - b), [0, 0, 30], `one task took all 30 datagrams: ${got}`);
    // Another client port is another flow, and goes to the next task.
    const other = await client();
    assert.equal(await other.request(ingress.port, 'other'), 'other');
    assert.equal(counts().filter((n, i) => n - before[i]! > 0).length, 2);
  });

  it('gives a draining task no new flow, keeps its flow going through the grace, then ends it', async () => {
    const ingress = await listener([local('local-1', '127.0.0.2'), local('local-2', '127.0.0.3')]);
    const first = backends.get('local-1')!;
    const inflight = await client();
    assert.equal(await inflight.request(ingress.port, 'a1'), 'a1');
    assert.deepEqual(active(ingress), [1, 0]);
    const started = Date.now();
    let drained = false;
    const drain = ingress.drain('local-1', 500).then(() => (drained = true));
    for (let i = 0; i < 3; i++) assert.equal(await (await client()).request(ingress.port, `new ${i}`), `new ${i}`);
    assert.deepEqual(active(ingress), [1, 3], 'new flows went to the other task only');
    const before = first.datagrams;
    assert.equal(await inflight.request(ingress.port, 'a2'), 'a2');
    assert.equal(first.datagrams, before + 1, 'the draining task still serves its flow');
    assert.equal(drained, false);
    await drain;
    assert.ok(Date.now() - started >= 490, 'not before the grace period');
    assert.deepEqual(active(ingress), [0, 3]);
    // The flow is gone: the client's next datagram starts one on the other task.
    assert.equal(await inflight.request(ingress.port, 'a3'), 'a3');
    assert.equal(first.datagrams, before + 1);
    assert.deepEqual(active(ingress), [0, 4]);
  });

  it('ends a quiet flow after the flow timeout, at the task node too, and a drain waiting for it resolves', async () => {
    const ingress = await listener([remote('remote-1')], { limits: { udpFlowTimeoutMs: 300 } });
    const relayed = relay.stats().flows;
    const c = await client();
    assert.equal(await c.request(ingress.port, 'ping'), 'ping');
    const lastDatagram = Date.now();
    assert.equal(relay.stats().flows, relayed + 1);
    const drain = ingress.drain('remote-1', 60_000);
    await until('the flow to expire', () => ingress.stats().flows === 0, 3_000);
    const waited = Date.now() - lastDatagram;
    assert.ok(waited >= 280 && waited < 900, `ended after ${waited} ms`);
    await drain;
    await until('the relay to end its side', () => relay.stats().flows === relayed, 3_000);
    assert.deepEqual(active(ingress), [0]);
  });

  it('keeps a flow that went on both ways past its first seconds for the longer stream timeout', async () => {
    const ingress = await listener([local('local-2', '127.0.0.3')], { limits: { udpFlowTimeoutMs: 300, udpStreamTimeoutMs: 1_200 } });
    const c = await client();
    const until2s = Date.now() + 2_300;
    let lastDatagram = 0;
    while (Date.now() < until2s) {
      assert.equal(await c.request(ingress.port, 'tick'), 'tick');
      lastDatagram = Date.now();
      await sleep(100);
    }
    await sleep(700);
    assert.equal(ingress.stats().flows, 1, 'past the flow timeout, a stream is kept');
    await until('the stream to expire', () => ingress.stats().flows === 0, 4_000);
    const waited = Date.now() - lastDatagram;
    assert.ok(waited >= 1_150 && waited < 3_600, `ended after ${waited} ms`);
  });

  it('ends an unanswered flow after the flow timeout', async () => {
    const silent = await UdpEchoBackend.listen('127.0.0.7', targetPort);
    silent.silent = true;
    try {
      const ingress = await listener([local('silent', '127.0.0.7')], { limits: { udpFlowTimeoutMs: 250, udpStreamTimeoutMs: 60_000 } });
      const c = await client();
      for (let i = 0; i < 3; i++) c.send(ingress.port, `into the void ${i}`);
      await until('the datagrams to arrive', () => silent.datagrams === 3);
      const lastDatagram = Date.now();
      await until('the flow to expire', () => ingress.stats().flows === 0, 3_000);
      const waited = Date.now() - lastDatagram;
      assert.ok(waited >= 200 && waited < 800, `ended after ${waited} ms`);
    } finally {
      await silent.close();
    }
  });

  it('drops and counts datagrams that would start flows over the per-client or per-port limit, leaving open flows alone', async () => {
    const ingress = await listener([local('local-2', '127.0.0.3')], { limits: { udpMaxFlows: 3, udpMaxFlowsPerClient: 2 } });
    const [a1, a2, a3] = [await client(), await client(), await client()];
    assert.equal(await a1.request(ingress.port, 'a1'), 'a1');
    assert.equal(await a2.request(ingress.port, 'a2'), 'a2');
    assert.equal(await a3.request(ingress.port, 'a3', 300), null, 'a third flow from the same address is dropped');
    assert.equal(ingress.stats().dropped.clientLimit, 1);
    const [b1, b2] = [await client('127.0.0.6'), await client('127.0.0.6')];
    assert.equal(await b1.request(ingress.port, 'b1'), 'b1');
    assert.equal(await b2.request(ingress.port, 'b2', 300), null, 'a fourth flow on the port is dropped');
    assert.equal(ingress.stats().dropped.flowLimit, 1);
    assert.equal(ingress.stats().flows, 3);
    assert.equal(await a1.request(ingress.port, 'still a1'), 'still a1');
    assert.equal(await b1.request(ingress.port, 'still b1'), 'still b1');
  });

  it('holds a few datagrams while a task is being reached, and drops the rest', async () => {
    // A peer network that takes 300 ms to open each stream.
    const slow: StreamOpener = {
      async openStream(...args) {
        await sleep(300);
        return near.openStream(...args);
      },
    };
    const ingress = await listener([remote('remote-1')], { peers: () => slow, limits: { udpFlowQueue: 3, udpQueuedBytes: 12 } });
    const a = await client();
    for (let i = 0; i < 6; i++) a.send(ingress.port, `a${i}`);
    const b = await client();
    for (let i = 0; i < 6; i++) b.send(ingress.port, `bb${i}`);
    const replies = async (c: UdpClient) => {
      const got: string[] = [];
      for (let reply = await c.next(); reply; reply = await c.next(500)) got.push(reply.toString());
      return got;
    };
    // a: 3 held (the flow's most: 6 bytes); b: 2 held, as 3 bytes more would pass the port's 12.
    assert.deepEqual(await replies(a), ['a0', 'a1', 'a2']);
    assert.deepEqual(await replies(b), ['bb0', 'bb1']);
    assert.equal(ingress.stats().dropped.queueFull, 7);
  });

  it('closes a flow whose task\'s node sends a malformed frame, and only that flow', async () => {
    const ingress = await listener([remote('rogue-1', 'rogue'), local('local-2', '127.0.0.3')]);
    const streams = rogueStreams.length;
    const victim = await client();
    const bystander = await client();
    victim.send(ingress.port, 'x1');
    assert.equal((await victim.next())?.toString(), 'x1', 'the rogue answered once, properly');
    assert.equal(await bystander.request(ingress.port, 'y1'), 'y1');
    await until('the rogue stream to close', () => rogueStreams.length === streams + 1 && rogueStreams.at(-1)!.closed);
    await until('the victim flow to end', () => ingress.stats().flows === 1);
    const second = backends.get('local-2')!;
    const flowsSeen = second.flows;
    assert.equal(await bystander.request(ingress.port, 'y2'), 'y2');
    assert.equal(second.flows, flowsSeen, 'the other flow went on as it was');
    // The rogue task rests: the victim's next datagram starts a flow on the other task.
    assert.equal(await victim.request(ingress.port, 'x2'), 'x2');
    assert.equal(rogueStreams.length, streams + 1);
    assert.deepEqual(active(ingress), [0, 2]);
  });

  it('has the task node close a stream that sends a malformed frame, and only that one', async () => {
    const ingress = await listener([remote('remote-1')]);
    const c = await client();
    assert.equal(await c.request(ingress.port, 'before'), 'before');
    const relayed = relay.stats().flows;
    const { channel } = await near.openStream('far', { type: MESH_UDP, serviceId: SERVICE, taskId: 'remote-1', port: targetPort }, 2_000);
    const echoed = new Promise<string>((resolve) => {
      const deframer = new DatagramDeframer();
      channel.onBytes((bytes) => deframer.push(bytes, (d) => resolve(d.toString())));
    });
    channel.sendBytes(frameDatagram(Buffer.from('by hand')));
    assert.equal(await echoed, 'by hand', 'a well-framed datagram reaches the container and its answer comes back');
    assert.equal(relay.stats().flows, relayed + 1);
    const closed = new Promise<void>((resolve) => channel.onClose(() => resolve()));
    channel.sendBytes(Uint8Array.of(0xff, 0xe4, 0));
    await closed;
    await until('the relay to drop the stream', () => relay.stats().flows === relayed);
    assert.equal(await c.request(ingress.port, 'after'), 'after');
  });

  it('survives garbage and oversized datagrams, forwarding what a datagram can be and dropping what it cannot', async () => {
    const ingress = await listener([local('local-1', '127.0.0.2')], { host: '::1' });
    const c = await client('::1');
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4_096 }), async (bytes) => {
        c.send(ingress.port, bytes, '::1');
        const reply = await c.next();
        assert.ok(reply);
        assert.equal(sha256(reply), sha256(bytes));
      }),
      { numRuns: 200 },
    );
    // Over IPv6 a datagram may be up to 65,527 bytes, more than an IPv4 container can be sent.
    c.send(ingress.port, randomBytes(MAX_DATAGRAM_BYTES + 13), '::1');
    await until('the oversized datagram to be counted', () => ingress.stats().dropped.oversized === 1);
    c.send(ingress.port, 'fine', '::1');
    assert.equal((await c.next())?.toString(), 'fine');
  });

  it('moves a flow whose task is gone to another, with what it sent, and rests the gone tasks', async () => {
    // Tried in turn: a local container that is gone (ICMP port unreachable), a remote task whose container is gone
    // (its node's relay gets the ICMP and closes the stream), then a live one.
    const table = [local('dead-local', '127.0.0.9'), remote('remote-dead'), local('local-2', '127.0.0.3')];
    const ingress = await listener(table);
    const asked = farAsked.get('remote-dead') ?? 0;
    const c = await client();
    c.send(ingress.port, 'anyone?');
    assert.equal((await c.next())?.toString(), 'anyone?', 'answered by the live task, without the client sending again');
    assert.equal(farAsked.get('remote-dead'), asked + 1);
    assert.deepEqual(active(ingress), [0, 0, 1]);
    // The gone tasks rest: the next flows go straight to the live one.
    for (let i = 0; i < 3; i++) assert.equal(await (await client()).request(ingress.port, `next ${i}`), `next ${i}`);
    assert.equal(farAsked.get('remote-dead'), asked + 1);
    assert.deepEqual(active(ingress), [0, 0, 4]);
  });

  it('skips tasks whose node refuses or cannot be reached', async () => {
    const ingress = await listener([remote('not-on-far'), remote('on-ghost', 'ghost'), local('local-2', '127.0.0.3')]);
    assert.equal(await (await client()).request(ingress.port, 'hello', 5_000), 'hello');
    assert.deepEqual(active(ingress), [0, 0, 1]);
  });

  it('drops and counts the datagrams of a flow no task takes', async () => {
    const ingress = await listener([local('dead-local', '127.0.0.9')]);
    const c = await client();
    assert.equal(await c.request(ingress.port, 'hello?', 500), null);
    assert.equal(ingress.stats().flows, 0);
    assert.equal(ingress.stats().dropped.noBackend, 1);
  });

  it('ends a flow whose task dies after answering; the next datagram finds another task', async () => {
    const doomed = await UdpEchoBackend.listen('127.0.0.8', targetPort);
    const ingress = await listener([local('doomed', '127.0.0.8'), local('local-2', '127.0.0.3')]);
    const c = await client();
    assert.equal(await c.request(ingress.port, 'd1'), 'd1');
    await doomed.close();
    c.send(ingress.port, 'd2'); // Lost, as it would be: its answer would come from a container that is gone.
    await until('the flow to end', () => ingress.stats().flows === 0);
    assert.equal(await c.request(ingress.port, 'd3'), 'd3');
    assert.deepEqual(active(ingress), [0, 1]);
  });

  it('ends the flows of a task that leaves the backend table', async () => {
    const ingress = await listener([local('local-1', '127.0.0.2'), local('local-2', '127.0.0.3')]);
    const first = backends.get('local-1')!;
    const c = await client();
    const before = first.datagrams;
    assert.equal(await c.request(ingress.port, 'one'), 'one');
    assert.equal(first.datagrams, before + 1);
    ingress.setBackends([local('local-2', '127.0.0.3')]);
    assert.equal(ingress.stats().flows, 0);
    assert.equal(await c.request(ingress.port, 'two'), 'two');
    assert.equal(first.datagrams, before + 1, 'the flow moved to the task that is left');
  });

  it('refuses a peer asking for a UDP flow to a task, service or port this node does not run', async () => {
    const request = { type: MESH_UDP, serviceId: SERVICE, taskId: 'remote-1', port: targetPort };
    await assert.rejects(near.openStream('far', { ...request, taskId: 'local-1' }, 2_000), /does not run on this node/);
    await assert.rejects(near.openStream('far', { ...request, serviceId: 'other' }, 2_000), /does not run on this node/);
    await assert.rejects(near.openStream('far', { ...request, port: 22 }, 2_000), /does not run on this node/);
    await assert.rejects(near.openStream('far', { ...request, port: 'x' }, 2_000), /malformed/);
  });

  it('ends every flow when the listener stops, at the task node too', async () => {
    const relayed = relay.stats().flows;
    const ingress = await listener([remote('remote-1'), local('local-1', '127.0.0.2')]);
    const [a, b] = [await client(), await client()];
    assert.equal(await a.request(ingress.port, 'a'), 'a');
    assert.equal(await b.request(ingress.port, 'b'), 'b');
    assert.equal(relay.stats().flows, relayed + 1);
    await ingress.stop();
    await ingress.stop();
    assert.equal(ingress.stats().flows, 0);
    await until('the relay to end its side', () => relay.stats().flows === relayed);
    assert.equal(await a.request(ingress.port, 'anyone?', 300), null);
  });
});

/**
 * Sends `total` datagrams of `size` bytes through `port` on one flow, with a window of them in flight (what the
 * socket buffers hold without loss), checks that each comes back intact, and describes the rate.
 */
async function burst(port: number, size: number, total: number): Promise<string> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  // One exchange first: while the flow's task is being reached, only a few datagrams are held.
  socket.send('hello', port, '127.0.0.1');
  await new Promise((resolve) => socket.once('message', resolve));
  const window = Math.max(4, Math.min(64, Math.floor((128 * 1024) / size)));
  const seen = new Uint8Array(total);
  let sent = 0;
  let received = 0;
  const datagram = (n: number) => {
    const bytes = Buffer.alloc(size, n % 251);
    bytes.writeUInt32BE(n, 0);
    return bytes;
  };
  const started = performance.now();
  try {
    await new Promise<void>((resolve, reject) => {
      let stall = setTimeout(() => reject(new Error('no datagram came back')), 3_000);
      const pump = () => {
        while (sent < total && sent - received < window) socket.send(datagram(sent++), port, '127.0.0.1');
      };
      socket.on('message', (reply) => {
        const n = reply.readUInt32BE(0);
        if (n >= total || seen[n] || !reply.equals(datagram(n))) return reject(new Error(`datagram ${n} came back wrong or twice`));
        seen[n] = 1;
        clearTimeout(stall);
        if (++received === total) return resolve();
        stall = setTimeout(() => reject(new Error(`${total - received} datagrams were lost (${received} came back)`)), 3_000);
        pump();
      });
      pump();
    });
  } finally {
    socket.close();
  }
  const seconds = (performance.now() - started) / 1_000;
  const rate = total / seconds;
  return `${Math.round(rate).toLocaleString('en')} datagrams/s each way, ${((rate * size) / 1e6).toFixed(1)} MB/s each way (${total} round trips, ${window} in flight)`;
}
