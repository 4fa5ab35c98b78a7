/**
 * The overlay network's DNS server on loopback, with real sockets: a lookup table stands in for the mesh table, and
 * fake upstream resolvers on 127.0.0.1 (answering, or silent) stand in for the host's — no real resolver is ever
 * asked. Each test says what a container's resolver would see; the decoder path is fuzzed both as pure functions
 * (many runs) and over the sockets (fewer), and the last test prints how many cluster queries a second one server
 * answers on loopback.
 */

import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import dnsPacket, { type Answer, type Packet } from 'dns-packet';
import fc from 'fast-check';
import {
  answerQuery,
  DnsServer,
  MAX_UDP_ANSWER_BYTES,
  parseQuery,
  parseResolvConf,
  parseUpstream,
  PLAIN_UDP_BYTES,
  RCODE,
  type DnsServerOptions,
} from '../../src/mesh/dns-server.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { until } from './helpers.ts';

const RD = 1 << 8;
const VIP = '10.0.1.2';
const TASKS = ['10.0.1.10', '10.0.1.11', '10.0.1.12'];
const MANY = Array.from({ length: 100 }, (_, i) => `10.0.2.${i + 1}`);
const UPSTREAM_ANSWER = '192.0.2.1';

/** The mesh table's stand-in, and every name it was asked about. */
const table = new Map<string, string[]>([
  ['web', [VIP]],
  ['tasks.web', TASKS],
  ['tasks.big', MANY],
  ['idle', []],
]);
const asked: string[] = [];
const lookup = (name: string) => {
  asked.push(name);
  return table.get(name) ?? null;
};

/** A deterministic rng (mulberry32), so answer orders repeat run to run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const started: Array<{ stop(): Promise<void> }> = [];
after(async () => {
  for (const thing of started) await thing.stop();
});

async function dnsServer(options: Partial<DnsServerOptions> = {}): Promise<DnsServer> {
  const server = new DnsServer({ host: '127.0.0.1', port: 0, lookup, upstreams: [], random: seeded(7), log: silentLogger, ...options });
  await server.start();
  started.push(server);
  return server;
}

/** A query as a stub resolver sends it: one question, RD set, and an OPT record when `edns` gives a size. */
function query(name: string, type = 'A', options: { id?: number; edns?: number } = {}): Buffer {
  const packet: Packet = { id: options.id ?? 4242, type: 'query', flags: RD, questions: [{ name, type, class: 'IN' }] };
  if (options.edns) packet.additionals = [{ name: '.', type: 'OPT', udpPayloadSize: options.edns } as Answer];
  return dnsPacket.encode(packet);
}

/** A reply's header bits and records, read from the bytes (the flags dns-packet's types do not name). */
function read(reply: Buffer) {
  const packet = dnsPacket.decode(reply);
  return {
    id: reply.readUInt16BE(0),
    response: (reply[2]! & 0x80) !== 0,
    authoritative: (reply[2]! & 0x04) !== 0,
    truncated: (reply[2]! & 0x02) !== 0,
    recursionDesired: (reply[2]! & 0x01) !== 0,
    recursionAvailable: (reply[3]! & 0x80) !== 0,
    rcode: reply[3]! & 0x0f,
    questions: packet.questions ?? [],
    answers: packet.answers ?? [],
    addresses: (packet.answers ?? []).filter((a) => a.type === 'A').map((a) => a.data as string),
  };
}

/** One UDP exchange from a fresh client socket; null when nothing came back within `timeoutMs`. */
async function askUdp(port: number, message: Buffer, timeoutMs = 2000): Promise<Buffer | null> {
  const socket = createSocket('udp4');
  try {
    const reply = new Promise<Buffer | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      socket.once('message', (data) => {
        clearTimeout(timer);
        resolve(data);
      });
    });
    socket.send(message, port, '127.0.0.1');
    return await reply;
  } finally {
    socket.close();
  }
}

/** Length-prefixes a message (RFC 1035 §4.2.2). */
function framed(message: Buffer): Buffer {
  const out = Buffer.alloc(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}

/** Reads `count` length-prefixed messages from a socket (or fewer, if it closes first). */
async function readFramed(socket: Socket, count: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let buffered = Buffer.alloc(0);
  return new Promise((resolve) => {
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        out.push(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
        buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
      }
      if (out.length >= count) finish();
    };
    const finish = () => {
      socket.off('data', onData);
      resolve(out);
    };
    socket.on('data', onData);
    socket.once('close', finish);
  });
}

async function openTcp(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

async function askTcp(port: number, message: Buffer): Promise<Buffer> {
  const socket = await openTcp(port);
  try {
    socket.write(framed(message));
    const [reply] = await readFramed(socket, 1);
    assert.ok(reply, 'a reply came back over TCP');
    return reply;
  } finally {
    socket.destroy();
  }
}

/** Resolves with how long the socket stayed open, in ms (what it was sent is read and discarded, so its end is seen). */
async function closedAfter(socket: Socket, since: number): Promise<number> {
  socket.resume();
  if (!socket.destroyed) await once(socket, 'close');
  return performance.now() - since;
}

/**
 * A stand-in for an upstream resolver on 127.0.0.1, UDP and TCP on one port: answers every A question with
 * UPSTREAM_ANSWER (as a recursive resolver would: RA set), or stays silent; it records what it was asked.
 */
class FakeUpstream {
  readonly seen: Array<{ transport: 'udp' | 'tcp'; id: number; name: string }> = [];
  silent: boolean;
  #udp!: UdpSocket;
  #tcp!: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(silent: boolean) {
    this.silent = silent;
  }

  static async start(options: { silent?: boolean } = {}): Promise<FakeUpstream> {
    const upstream = new FakeUpstream(options.silent ?? false);
    for (;;) {
      const udp = createSocket('udp4');
      await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', () => resolve()));
      const tcp = createServer((socket) => upstream.#serveTcp(socket));
      const ok = await new Promise<boolean>((resolve) => {
        tcp.once('error', () => resolve(false));
        tcp.listen(udp.address().port, '127.0.0.1', () => resolve(true));
      });
      if (!ok) {
        udp.close();
        continue;
      }
      upstream.#udp = udp;
      upstream.#tcp = tcp;
      udp.on('message', (message, from) => {
        const reply = upstream.#answer(message, 'udp');
        if (reply) udp.send(reply, from.port, from.address);
      });
      started.push(upstream);
      return upstream;
    }
  }

  get address(): string {
    return `127.0.0.1:${this.#udp.address().port}`;
  }

  #answer(message: Buffer, transport: 'udp' | 'tcp'): Buffer | null {
    const packet = dnsPacket.decode(message);
    const question = packet.questions![0]!;
    this.seen.push({ transport, id: packet.id!, name: question.name });
    if (this.silent) return null;
    return dnsPacket.encode({
      id: packet.id,
      type: 'response',
      flags: RD | (1 << 7),
      questions: [question],
      answers: [{ name: question.name, type: 'A', class: 'IN', ttl: 300, data: UPSTREAM_ANSWER }],
    });
  }

  #serveTcp(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => this.#sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const reply = this.#answer(buffered.subarray(2, 2 + buffered.readUInt16BE(0)), 'tcp');
        buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
        if (reply) socket.write(framed(reply));
      }
    });
  }

  #stopped = false;

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#tcp.close(() => resolve()));
    await new Promise<void>((resolve) => this.#udp.close(() => resolve()));
  }
}

describe('the overlay network DNS server', { timeout: 60_000 }, () => {
  describe('cluster names', () => {
    it("answers a service's name with its virtual IP: authoritative, recursion available, TTL 0, the ID and question echoed", async () => {
      const upstream = await FakeUpstream.start();
      const server = await dnsServer({ upstreams: [upstream.address] });
      const reply = read((await askUdp(server.port, query('web', 'A', { id: 0xbeef })))!);
      assert.equal(reply.id, 0xbeef);
      assert.equal(reply.response, true);
      assert.equal(reply.rcode, RCODE.NOERROR);
      assert.equal(reply.authoritative, true);
      assert.equal(reply.recursionAvailable, true);
      assert.equal(reply.recursionDesired, true, 'RD is copied from the query');
      assert.equal(reply.truncated, false);
      assert.deepEqual(reply.questions, [{ name: 'web', type: 'A', class: 'IN' }]);
      assert.deepEqual(reply.answers.map((a) => ({ name: a.name, type: a.type, ttl: a.ttl, data: a.data })), [{ name: 'web', type: 'A', ttl: 0, data: VIP }]);
      assert.equal(upstream.seen.length, 0, 'a cluster name is never forwarded');
      assert.equal(server.stats().answered, 1);
    });

    it('answers tasks.NAME with every running task, in a new order from one answer to the next', async () => {
      const server = await dnsServer();
      const firsts = new Set<string>();
      for (let i = 0; i < 30; i++) {
        const { addresses } = read((await askUdp(server.port, query('tasks.web')))!);
        assert.deepEqual([...addresses].sort(), [...TASKS].sort());
        firsts.add(addresses[0]!);
      }
      assert.equal(firsts.size, TASKS.length, 'each task comes first in some answer');
    });

    it('matches names whatever their case, asks the lookup in lowercase, and echoes the case it was asked in', async () => {
      const server = await dnsServer();
      for (const name of ['WEB', 'Web', 'tAsKs.WeB']) {
        asked.length = 0;
        const reply = read((await askUdp(server.port, query(name)))!);
        assert.equal(reply.rcode, RCODE.NOERROR);
        assert.ok(reply.addresses.length > 0, `${name} answered`);
        assert.equal(reply.questions[0]!.name, name, 'the question comes back as asked (0x20 case randomisation survives)');
        assert.ok(reply.answers.every((a) => a.name === name));
        assert.deepEqual(asked, [name.toLowerCase()]);
      }
      // On the wire every name is absolute; the trailing dot is the lookup's concern only when a label carries one.
      const parsed = parseQuery(query('web'));
      assert.ok(parsed.ok);
      asked.length = 0;
      answerQuery({ ...parsed.query, name: 'WEB.' }, { lookup, ttlSeconds: 0, random: Math.random, transport: 'udp', canForward: false });
      assert.deepEqual(asked, ['web']);
    });

    it('answers AAAA (or MX) for a known name, and A for a name with no task, with an empty NOERROR, never a forward', async () => {
      const upstream = await FakeUpstream.start();
      const server = await dnsServer({ upstreams: [upstream.address] });
      for (const [name, type] of [['web', 'AAAA'], ['tasks.web', 'AAAA'], ['web', 'MX'], ['idle', 'A']] as const) {
        const started = performance.now();
        const reply = read((await askUdp(server.port, query(name, type)))!);
        assert.ok(performance.now() - started < 500, 'answered at once');
        assert.equal(reply.rcode, RCODE.NOERROR, `${type} ${name}`);
        assert.equal(reply.authoritative, true);
        assert.equal(reply.answers.length, 0);
      }
      assert.equal(upstream.seen.length, 0);
    });
  });

  describe('other names', () => {
    for (const transport of ['udp', 'tcp'] as const) {
      it(`forwards them over ${transport} to the upstream and relays its answer under the client's ID`, async () => {
        const upstream = await FakeUpstream.start();
        const server = await dnsServer({ upstreams: [upstream.address] });
        const ask = transport === 'udp' ? (m: Buffer) => askUdp(server.port, m) : (m: Buffer) => askTcp(server.port, m);
        const reply = read((await ask(query('example.org', 'A', { id: 0x1234 })))!);
        assert.equal(reply.id, 0x1234);
        assert.equal(reply.rcode, RCODE.NOERROR);
        assert.deepEqual(reply.addresses, [UPSTREAM_ANSWER]);
        assert.equal(reply.authoritative, false, "the upstream's answer is not ours");
        assert.deepEqual(upstream.seen.map((s) => ({ transport: s.transport, name: s.name })), [{ transport, name: 'example.org' }]);
        assert.deepEqual(server.stats().pendingForwards, 0);
      });
    }

    it('answers SERVFAIL when the upstream stays silent, within the forward timeout', async () => {
      const upstream = await FakeUpstream.start({ silent: true });
      const server = await dnsServer({ upstreams: [upstream.address], limits: { forwardTimeoutMs: 300 } });
      const started = performance.now();
      const reply = read((await askUdp(server.port, query('slow.example', 'A', { id: 77 })))!);
      const elapsed = performance.now() - started;
      assert.equal(reply.id, 77);
      assert.equal(reply.rcode, RCODE.SERVFAIL);
      assert.ok(elapsed >= 250 && elapsed < 900, `SERVFAIL after ${elapsed.toFixed(0)} ms (timeout 300 ms)`);
      assert.equal(upstream.seen.length, 1);
      assert.deepEqual({ timedOut: server.stats().timedOut, pending: server.stats().pendingForwards }, { timedOut: 1, pending: 0 });
    });

    it('tries the next upstream when the first is silent (after its share of the timeout) or refuses (at once)', async () => {
      const silent = await FakeUpstream.start({ silent: true });
      const answering = await FakeUpstream.start();
      const server = await dnsServer({ upstreams: [silent.address, answering.address], limits: { forwardTimeoutMs: 600 } });
      let started = performance.now();
      let reply = read((await askUdp(server.port, query('a.example')))!);
      let elapsed = performance.now() - started;
      assert.deepEqual(reply.addresses, [UPSTREAM_ANSWER]);
      assert.ok(elapsed >= 250 && elapsed < 900, `second upstream answered after ${elapsed.toFixed(0)} ms (its turn at 300 ms)`);

      // A closed port: over TCP the connection is refused, and the next upstream is asked without waiting.
      const gone = await FakeUpstream.start();
      const goneAddress = gone.address;
      await gone.stop();
      const refusing = await dnsServer({ upstreams: [goneAddress, answering.address], limits: { forwardTimeoutMs: 3000 } });
      started = performance.now();
      reply = read(await askTcp(refusing.port, query('b.example')));
      elapsed = performance.now() - started;
      assert.deepEqual(reply.addresses, [UPSTREAM_ANSWER]);
      assert.ok(elapsed < 1000, `answered after ${elapsed.toFixed(0)} ms, not after the first upstream's 1500 ms share`);
    });

    it('answers REFUSED, recursion unavailable, when there is no upstream', async () => {
      const server = await dnsServer({ upstreams: [] });
      const reply = read((await askUdp(server.port, query('example.org')))!);
      assert.equal(reply.rcode, RCODE.REFUSED);
      assert.equal(reply.recursionAvailable, false);
      assert.deepEqual(reply.questions, [{ name: 'example.org', type: 'A', class: 'IN' }]);
    });

    it('caps the forwards in flight: beyond the cap, SERVFAIL at once; the others when their time is up', async () => {
      const upstream = await FakeUpstream.start({ silent: true });
      const server = await dnsServer({ upstreams: [upstream.address], limits: { forwardTimeoutMs: 1500, maxPendingForwards: 4 } });
      const started = performance.now();
      const replies = Array.from({ length: 10 }, (_, i) => askUdp(server.port, query(`flood-${i}.example`, 'A', { id: i }), 4000).then((r) => ({ at: performance.now() - started, reply: read(r!) })));
      const all = await Promise.all(replies);
      assert.ok(all.every(({ reply }) => reply.rcode === RCODE.SERVFAIL));
      const early = all.filter(({ at }) => at < 700);
      assert.equal(early.length, 6, `six answered before the timeout: ${all.map(({ at }) => at.toFixed(0)).join(', ')} ms`);
      assert.equal(upstream.seen.length, 4, 'only four reached the upstream');
      assert.deepEqual({ capped: server.stats().capped, pending: server.stats().pendingForwards }, { capped: 6, pending: 0 });
    });
  });

  describe('sizes and TCP', () => {
    it('truncates a UDP answer to 512 bytes (or the EDNS size, at most 1232) with TC set; the TCP retry gets every task', async () => {
      const server = await dnsServer();
      const plain = (await askUdp(server.port, query('tasks.big')))!;
      const small = read(plain);
      assert.ok(plain.length <= PLAIN_UDP_BYTES, `${plain.length} bytes`);
      assert.equal(small.truncated, true);
      assert.ok(small.addresses.length >= 25, `${small.addresses.length} records fit in 512 bytes (16 bytes each)`);
      assert.equal(new Set(small.addresses).size, small.addresses.length);
      assert.ok(small.addresses.every((a) => MANY.includes(a)));

      const withEdns = (await askUdp(server.port, query('tasks.big', 'A', { edns: 4096 })))!;
      const larger = read(withEdns);
      assert.ok(withEdns.length <= MAX_UDP_ANSWER_BYTES && withEdns.length > PLAIN_UDP_BYTES, `${withEdns.length} bytes`);
      assert.equal(larger.truncated, true);
      assert.ok(larger.addresses.length > small.addresses.length);

      // What a stub resolver does on TC: the same question over TCP.
      const full = read(await askTcp(server.port, query('tasks.big')));
      assert.equal(full.truncated, false);
      assert.deepEqual([...full.addresses].sort(), [...MANY].sort());
    });

    it('answers queries pipelined on one TCP connection, and ends it after answering once the client half-closes', async () => {
      const server = await dnsServer();
      const socket = await openTcp(server.port);
      socket.end(Buffer.concat([framed(query('web', 'A', { id: 1 })), framed(query('tasks.web', 'A', { id: 2 })), framed(query('web', 'AAAA', { id: 3 }))]));
      const replies = (await readFramed(socket, 3)).map(read);
      assert.deepEqual(replies.map((r) => r.id), [1, 2, 3]);
      assert.deepEqual(replies.map((r) => r.addresses.length), [1, 3, 0]);
      await closedAfter(socket, 0);
    });

    it('closes TCP clients that send nothing, or send a query a byte at a time, after the idle timeout', async () => {
      const server = await dnsServer({ limits: { tcpIdleTimeoutMs: 300 } });
      const silent = await openTcp(server.port);
      let started = performance.now();
      let lived = await closedAfter(silent, started);
      assert.ok(lived >= 250 && lived < 900, `a silent client closed after ${lived.toFixed(0)} ms`);

      const slow = await openTcp(server.port);
      started = performance.now();
      const bytes = framed(query('web'));
      let sent = 0;
      const dribble = setInterval(() => {
        if (!slow.destroyed && sent < bytes.length) slow.write(bytes.subarray(sent, ++sent));
      }, 40);
      try {
        lived = await closedAfter(slow, started);
      } finally {
        clearInterval(dribble);
      }
      assert.ok(lived >= 250 && lived < 900, `a slow client closed after ${lived.toFixed(0)} ms, ${sent} of ${bytes.length} bytes sent`);
    });

    it('closes TCP connections beyond the cap at once, and a connection that announces an oversized message', async () => {
      const server = await dnsServer({ limits: { maxTcpConnections: 2, tcpIdleTimeoutMs: 5000 } });
      const held = [await openTcp(server.port), await openTcp(server.port)];
      const third = await openTcp(server.port);
      const started = performance.now();
      assert.ok((await closedAfter(third, started)) < 1000, 'the third connection was closed by the server');
      for (const socket of held) assert.equal(read(await (async () => (socket.write(framed(query('web'))), (await readFramed(socket, 1))[0]!))()).addresses[0], VIP);
      for (const socket of held) socket.destroy();

      const huge = await openTcp(server.port);
      huge.write(Buffer.from([0xff, 0xff, 0, 0]));
      assert.ok((await closedAfter(huge, performance.now())) < 1000);
    });
  });

  describe('bad input', () => {
    it('answers FORMERR or NOTIMP with a bare header, and drops what is not a query', async () => {
      const server = await dnsServer();
      const twoQuestions = dnsPacket.encode({ id: 5, type: 'query', flags: RD, questions: [{ name: 'web', type: 'A' }, { name: 'web', type: 'A' }] });
      const formerr = (await askUdp(server.port, twoQuestions))!;
      assert.equal(formerr.length, 12);
      assert.deepEqual({ id: read(formerr).id, rcode: read(formerr).rcode, response: read(formerr).response }, { id: 5, rcode: RCODE.FORMERR, response: true });

      const notify = Buffer.from(query('web', 'A', { id: 6 }));
      notify[2] = (notify[2]! & 0x87) | (4 << 3); // Opcode NOTIFY.
      assert.equal(read((await askUdp(server.port, notify))!).rcode, RCODE.NOTIMP);

      const pointer = Buffer.concat([query('web').subarray(0, 12), Buffer.from([0xc0, 0x00, 0, 1, 0, 1])]);
      assert.equal(read((await askUdp(server.port, pointer))!).rcode, RCODE.FORMERR, 'a compression pointer in the question');

      const response = Buffer.from(query('web', 'A', { id: 8 }));
      response[2]! |= 0x80;
      assert.equal(await askUdp(server.port, response, 300), null, 'a response is never answered');
      assert.equal(await askUdp(server.port, Buffer.from([1, 2, 3]), 300), null, 'nor is less than a header');
      assert.equal(await askUdp(server.port, Buffer.concat([query('web'), Buffer.alloc(5000)]), 300), null, 'nor an oversized datagram');
      assert.equal(read((await askUdp(server.port, query('web')))!).addresses[0], VIP, 'and the server still answers');
    });

    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 40 }) }),
      fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    );
    type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;
    function mutate(seed: Buffer, mutations: readonly Mutation[]): Buffer {
      let data = Buffer.from(seed);
      for (const m of mutations) {
        const at = data.length === 0 ? 0 : m.at % data.length;
        if (m.kind === 'flip') data[at] = (data[at] ?? 0) ^ (1 << m.bit);
        else if (m.kind === 'cut') data = data.subarray(0, at);
        else if (m.kind === 'insert') data = Buffer.concat([data.subarray(0, at), m.bytes, data.subarray(at)]);
        else data.set(m.bytes.subarray(0, Math.max(0, data.length - at)), at);
      }
      return data;
    }
    const seeds = [query('web'), query('tasks.big', 'A', { edns: 1232 }), query('example.org', 'AAAA', { id: 9 }), query('tasks.web', 'ANY', { edns: 512 })];
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 600 }).map((bytes) => Buffer.from(bytes)),
      fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([seed, ms]) => mutate(seed, ms)),
    );

    it('never throws on random or mutated queries, and every reply is a well-formed response to the query sent (fuzz, pure)', () => {
      const big = lookup;
      fc.assert(
        fc.property(hostile, fc.constantFrom('udp' as const, 'tcp' as const), (message, transport) => {
          const started = performance.now();
          const parsed = parseQuery(message);
          let reply: Buffer | null = parsed.ok ? null : parsed.reply;
          if (parsed.ok) {
            const outcome = answerQuery(parsed.query, { lookup: big, ttlSeconds: 0, random: Math.random, transport, canForward: true });
            if (outcome.kind === 'reply') reply = outcome.reply;
          }
          assert.ok(performance.now() - started < 50, 'no input is slow');
          if (!reply) return;
          assert.equal(reply.readUInt16BE(0), message.readUInt16BE(0), 'the ID is echoed');
          assert.ok(reply[2]! & 0x80, 'QR set');
          if (transport === 'udp') assert.ok(reply.length <= MAX_UDP_ANSWER_BYTES);
          if (reply.length === 12) assert.ok(reply.length <= message.length, 'an error reply is never larger than the query');
          const decoded = dnsPacket.decode(reply);
          assert.equal(decoded.type, 'response');
        }),
        { numRuns: 5000 },
      );
    });

    it('stays up and keeps answering through random and mutated datagrams and TCP streams (fuzz, sockets)', async () => {
      const upstream = await FakeUpstream.start();
      const server = await dnsServer({ upstreams: [upstream.address], limits: { tcpIdleTimeoutMs: 200, forwardTimeoutMs: 300 } });
      const client = createSocket('udp4');
      await fc.assert(
        fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 20 }), async (messages) => {
          for (const message of messages) client.send(message, server.port, '127.0.0.1');
          const tcp = await openTcp(server.port);
          tcp.write(Buffer.concat(messages.map((m) => (m.length <= 0xffff ? framed(m) : m))));
          tcp.end();
          assert.ok((await closedAfter(tcp, performance.now())) < 1000, 'the TCP connection ends');
        }),
        { numRuns: 60 },
      );
      client.close();
      assert.equal(read((await askUdp(server.port, query('web')))!).addresses[0], VIP);
      assert.deepEqual(read(await askTcp(server.port, query('tasks.web'))).addresses.length, TASKS.length);
      await until('the forwards the fuzz caused to end (by their 300 ms deadline at the latest)', () => server.stats().pendingForwards === 0, 1000);
    });
  });

  describe('lifecycle and configuration', () => {
    it('stop closes both sockets, TCP clients and the forwards in flight, without answering them', async () => {
      const upstream = await FakeUpstream.start({ silent: true });
      const server = new DnsServer({ host: '127.0.0.1', port: 0, lookup, upstreams: [upstream.address], log: silentLogger, limits: { forwardTimeoutMs: 10_000 } });
      await server.start();
      const port = server.port;
      const tcp = await openTcp(port);
      const pending = askUdp(port, query('never.example'), 1000);
      await until('the query to be forwarded', () => server.stats().pendingForwards === 1);
      const started = performance.now();
      await server.stop();
      await server.stop();
      assert.ok(performance.now() - started < 500, 'stop did not wait for the forward');
      await closedAfter(tcp, 0);
      assert.equal(await pending, null, 'the abandoned query got no answer');
      assert.equal(server.stats().pendingForwards, 0);
      assert.equal(await askUdp(port, query('web'), 200), null, 'nothing listens any more');
    });

    it('reads the nameservers of resolv.conf, and parses ip[:port] upstreams', () => {
      const text = '# by NetworkManager\nsearch lan example.com\nnameserver 127.0.0.53\nnameserver 192.0.2.1 # ours\nnameserver fe80::1%eth0\nnameserver 192.0.2.1\n;nameserver 192.0.2.9\nnameserver 192.0.2.2\nnameserver 192.0.2.3\noptions edns0 trust-ad\n';
      assert.deepEqual(parseResolvConf(text), ['127.0.0.53', '192.0.2.1', '192.0.2.2']);
      assert.deepEqual(parseUpstream('192.0.2.53'), { host: '192.0.2.53', port: 53 });
      assert.deepEqual(parseUpstream('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353 });
      for (const bad of ['dns.google', '::1', '192.0.2.1:0', '192.0.2.1:70000', '300.1.1.1']) assert.throws(() => parseUpstream(bad), { code: 'invalid_argument' });
      assert.throws(() => new DnsServer({ host: '127.0.0.1', lookup, log: silentLogger, limits: { maxPendingForwards: 0 } }), { code: 'invalid_argument' });
    });
  });

  it('answers cluster names quickly on loopback (a figure, printed)', async (t) => {
    const server = await dnsServer({ random: Math.random });
    const client = createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', () => resolve()));
    const total = 20_000;
    const window = 64;
    const messages = Array.from({ length: window }, (_, i) => query(i % 2 ? 'web' : 'tasks.web', 'A', { id: i }));
    let sent = 0;
    let received = 0;
    let wrong = 0;
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const stall = setTimeout(() => reject(new Error(`stalled at ${received} of ${total} answers`)), 30_000);
      const sendOne = () => client.send(messages[sent++ % window]!, server.port, '127.0.0.1');
      client.on('message', (reply) => {
        received++;
        if ((reply[3]! & 0x0f) !== RCODE.NOERROR || reply.readUInt16BE(6) === 0) wrong++;
        if (sent < total) sendOne();
        if (received === total) {
          clearTimeout(stall);
          resolve();
        }
      });
      for (let i = 0; i < window; i++) sendOne();
    });
    const seconds = (performance.now() - started) / 1000;
    client.close();
    assert.equal(wrong, 0);
    assert.equal(server.stats().answered, total);
    t.diagnostic(`${Math.round(total / seconds)} cluster queries/s answered over UDP loopback (client in the same process, ${window} in flight)`);
  });
});
