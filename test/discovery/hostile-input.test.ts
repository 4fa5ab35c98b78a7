/**
 * What strangers on the LAN can send: random bytes, mutations of real swarmlet packets, pathological compression
 * chains, floods. Nothing may throw out of the module, nothing may take long, and nothing invalid may come out as
 * a peer. Packets go through the same functions the links use (no sockets), and floods through a LinkSet on the
 * in-memory network.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { silentLogger } from '../../src/util/logger.ts';
import { LinkSet } from '../../src/discovery/link-set.ts';
import {
  MAX_RECORDS,
  decodePacket,
  queryPacket,
  responsePacket,
  screenPacket,
  serviceAnswers,
  type ServiceRecords,
} from '../../src/discovery/packets.ts';
import { PeerCache } from '../../src/discovery/peer-cache.ts';
import { decideAnswer } from '../../src/discovery/responder.ts';
import { invalidFieldsReason } from '../../src/discovery/txt.ts';
import { FakeNetwork, table } from './fake-network.ts';

const ours: ServiceRecords = {
  label: 'pi-one-abc123def456',
  fields: { nodeId: 'abc123def456ghi789', role: 'manager', cluster: 'k3x9', port: 4377 },
  addresses: ['10.0.0.1'],
  ttl: 120,
};
const needles = [Buffer.from('_swarmlet'), Buffer.from(ours.label)];

/** Real packets to mutate: an announcement, a goodbye, a query with known answers, a legacy answer. */
const seeds = [
  responsePacket(serviceAnswers(ours)),
  responsePacket(serviceAnswers(ours, { ttl: 0 })),
  queryPacket([{ instance: 'x._swarmlet._tcp.local', ttl: 100 }], { id: 9 }),
  responsePacket(serviceAnswers(ours), { id: 9, questions: [{ name: '_swarmlet._tcp.local', type: 'PTR' }] }),
];

/** The whole inbound path the drivers run, with every invariant checked. */
function handle(cache: PeerCache, data: Buffer, now: number): void {
  if (screenPacket(data, needles) !== undefined) return;
  const decoded = decodePacket(data);
  if (!decoded.ok) return;
  cache.observe(decoded.packet, now);
  const decision = decideAnswer(decoded.packet, ours, { legacy: now % 2 === 0 });
  assert.equal(typeof decision.service, 'boolean');
  cache.expire(now);
  for (const peer of cache.peers(now).values()) {
    assert.equal(invalidFieldsReason(peer), undefined);
    assert.ok(peer.addresses.length > 0 && peer.addresses.every((address) => /^\d+\.\d+\.\d+\.\d+$/.test(address)));
  }
  cache.refreshDue(now);
  cache.knownAnswers(now);
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.nat({ max: 60 }) }),
);

type Mutation = { kind: 'flip' | 'cut' | 'insert' | 'repeat'; at: number; value?: number; bytes?: Uint8Array; length?: number };

function mutate(seed: Buffer, mutations: readonly Mutation[]): Buffer {
  let data = Buffer.from(seed);
  for (const change of mutations) {
    const at = data.length === 0 ? 0 : change.at % data.length;
    if (change.kind === 'flip') data[at] = change.value!;
    else if (change.kind === 'cut') data = data.subarray(0, at);
    else if (change.kind === 'insert') data = Buffer.concat([data.subarray(0, at), Buffer.from(change.bytes!), data.subarray(at)]);
    else data = Buffer.concat([data.subarray(0, at), data.subarray(at, at + change.length!), data.subarray(at)]);
  }
  return data;
}

describe('hostile input', () => {
  it('random bytes never throw and never make a peer', () => {
    const cache = new PeerCache();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), fc.nat({ max: 1_000_000 }), (bytes, now) => {
        // With `_swarmlet` spliced in, the bytes get past the relevance screen to the decoder.
        handle(cache, Buffer.concat([Buffer.from(bytes), Buffer.from('\x09_swarmlet')]), now);
        handle(cache, Buffer.from(bytes), now);
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated swarmlet packets never throw and never make an invalid peer', () => {
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 6 }), fc.nat({ max: 1_000_000 }), (seed, mutations, now) => {
        handle(new PeerCache(), mutate(seed, mutations), now);
      }),
      { numRuns: 3000 },
    );
  });

  it('a packet cannot make the decoder walk for long: names as long compression-pointer chains', () => {
    // One opaque record holds a backward chain of pointers; every other record is named by the chain's end, so
    // each name costs thousands of hops. Within the record cap that is at most a millisecond or two.
    const chain = (records: number): Buffer => {
      const size = 9000;
      const buf = Buffer.alloc(size);
      buf.writeUInt16BE(1 + records, 6);
      let off = 12;
      buf[off++] = 0; // root name
      buf.writeUInt16BE(10, off); // NULL
      buf.writeUInt16BE(1, off + 2);
      off += 8;
      const rdlen = size - (off + 2) - records * 12;
      buf.writeUInt16BE(rdlen, off);
      off += 2;
      const start = off;
      let last = start;
      for (let p = start + 1; p + 2 <= start + rdlen; p += 2) {
        buf.writeUInt16BE(0xc000 | (p === start + 1 ? start : p - 2), p);
        last = p;
      }
      off = start + rdlen;
      for (let i = 0; i < records; i++, off += 12) {
        buf.writeUInt16BE(0xc000 | last, off);
        buf.writeUInt16BE(10, off + 2);
        buf.writeUInt16BE(1, off + 4);
        buf.writeUInt32BE(1, off + 6);
        buf.writeUInt16BE(0, off + 10);
      }
      return buf;
    };
    // The fastest of several runs: what the work costs, not what a busy machine made of it.
    const fastest = (run: () => void) => {
      let best = Infinity;
      for (let i = 0; i < 10; i++) {
        const started = performance.now();
        run();
        best = Math.min(best, performance.now() - started);
      }
      return best;
    };
    const worst = chain(MAX_RECORDS - 1);
    const decoding = fastest(() => assert.equal(decodePacket(worst).ok, true));
    assert.ok(decoding < 20, `decoding took ${decoding.toFixed(2)} ms`);
    // Beyond the cap, refused before decoding.
    const tooMany = chain(400);
    const refusing = fastest(() => assert.deepEqual(decodePacket(tooMany), { ok: false, reason: 'malformed' }));
    assert.ok(refusing < 1, `refusing took ${refusing.toFixed(2)} ms`);
  });

  it('refuses oversized, unrelated and impossible packets before decoding', () => {
    assert.equal(screenPacket(Buffer.alloc(9001, 0x5f), needles), 'oversized');
    assert.equal(screenPacket(Buffer.from('printer._ipp._tcp.local'), needles), 'unrelated');
    const header = Buffer.alloc(12);
    header.writeUInt16BE(0xffff, 4);
    assert.deepEqual(decodePacket(Buffer.concat([header, Buffer.from('\x09_swarmlet')])), { ok: false, reason: 'malformed' });
  });

  it('a flood costs a bounded amount of work and leaves the link answering', async () => {
    const network = new FakeNetwork();
    let now = 0;
    let handled = 0;
    const links = new LinkSet({
      network,
      mode: 'shared',
      choice: { mode: 'names', names: ['eth0'] },
      listInterfaces: () => table({ eth0: ['10.0.0.1/24'] }),
      needles: () => needles,
      hooks: { opened() {}, closing: async () => {}, reconciled() {}, packet: () => void handled++ },
      clock: { now: () => now },
      log: silentLogger,
      rate: { perSecond: 50, burst: 100 },
    });
    await links.start();
    const valid = responsePacket(serviceAnswers(ours));
    const garbage = Buffer.concat([Buffer.alloc(200, 0xc0), Buffer.from('\x09_swarmlet')]);
    const started = performance.now();
    for (let i = 0; i < 20_000; i++) {
      network.deliver(i % 2 ? garbage : valid, { address: '10.0.0.66', port: 5353 });
      network.deliver(valid, { address: '172.17.0.2', port: 5353 }, undefined, { anyLink: true }); // docker0's side
      network.deliver(Buffer.from('unrelated mdns chatter'), { address: '10.0.0.70', port: 5353 });
    }
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 2000, `60,000 datagrams took ${elapsed.toFixed(0)} ms`);
    assert.equal(links.stats.received, 60_000);
    assert.equal(links.stats.dropped.off_link, 20_000);
    assert.equal(links.stats.dropped.unrelated, 20_000);
    assert.equal(links.stats.accepted + links.stats.dropped.malformed, 100, 'only the burst was decoded');
    assert.equal(links.stats.dropped.rate_limited, 19_900);
    // A second later the bucket has refilled: a real packet gets through.
    now += 1000;
    const before = handled;
    network.deliver(valid, { address: '10.0.0.66', port: 5353 });
    assert.equal(handled, before + 1);
    await links.stop();
  });

  it('a handler that throws does not throw out of the link', async () => {
    const network = new FakeNetwork();
    const links = new LinkSet({
      network,
      mode: 'shared',
      choice: { mode: 'auto' },
      listInterfaces: () => table({ eth0: ['10.0.0.1/24'] }),
      needles: () => needles,
      hooks: {
        opened() {},
        closing: async () => {},
        reconciled() {},
        packet() {
          throw new Error('boom');
        },
      },
      clock: { now: () => 0 },
      log: silentLogger,
    });
    await links.start();
    network.deliver(responsePacket(serviceAnswers(ours)), { address: '10.0.0.2', port: 5353 });
    assert.equal(links.stats.accepted, 1);
    await links.stop();
  });
});
