/** The peer cache's mDNS rules (assembly, goodbyes, cache-flush, expiry, refresh, bounds) with time as data. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Answer, Packet } from 'dns-packet';
import { PeerCache, diffPeers } from '../../src/discovery/peer-cache.ts';
import { serviceAnswers, type ServiceRecords } from '../../src/discovery/packets.ts';

const records = (overrides: Partial<ServiceRecords> = {}): ServiceRecords => ({
  label: 'pi-one-abc123',
  fields: { nodeId: 'abc123xyz', role: 'manager', cluster: 'c1', port: 4377 },
  addresses: ['10.0.0.1'],
  ttl: 120,
  ...overrides,
});
const response = (answers: Answer[]): Packet => ({ type: 'response', answers });
/** The answers as a decoder returns them: TXT strings as buffers. */
const decoded = (answers: Answer[]): Answer[] =>
  answers.map((answer) => (answer.type === 'TXT' ? { ...answer, data: (answer.data as string[]).map((text) => Buffer.from(text)) } : answer));

describe('peer cache', () => {
  it('assembles a peer from PTR, SRV, TXT and A, in one packet or several', () => {
    const cache = new PeerCache();
    const [ptr, srv, txt, a] = decoded(serviceAnswers(records()));
    cache.observe(response([a!]), 0); // an A record for a host no SRV names yet is not kept
    cache.observe(response([ptr!, txt!]), 1);
    assert.equal(cache.peers(1).size, 0);
    cache.observe(response([srv!]), 2);
    assert.equal(cache.peers(2).size, 0, 'no address yet');
    cache.observe(response([a!]), 3);
    assert.deepEqual([...cache.peers(3).values()], [
      { nodeId: 'abc123xyz', role: 'manager', cluster: 'c1', addresses: ['10.0.0.1'], port: 4377, hostname: 'pi-one-abc123', instance: 'pi-one-abc123', lastSeen: 3 },
    ]);
  });

  it('ignores queries: their known answers are no authority', () => {
    const cache = new PeerCache();
    cache.observe({ type: 'query', answers: decoded(serviceAnswers(records())) }, 0);
    assert.equal(cache.peers(0).size, 0);
  });

  it('drops a peer at once on a goodbye, and when its records expire', () => {
    const cache = new PeerCache();
    cache.observe(response(decoded(serviceAnswers(records()))), 0);
    assert.equal(cache.peers(10).size, 1);
    cache.observe(response(decoded(serviceAnswers(records(), { ttl: 0 }))), 20);
    assert.equal(cache.peers(20).size, 0);

    cache.observe(response(decoded(serviceAnswers(records({ ttl: 10 })))), 1000);
    assert.equal(cache.peers(10_999).size, 1);
    assert.equal(cache.peers(11_000).size, 0);
    cache.expire(11_000);
    assert.deepEqual(cache.knownAnswers(11_000), []);
  });

  it('a flushed A record replaces addresses older than a second, and a goodbye removes one at once', () => {
    const cache = new PeerCache();
    cache.observe(response(decoded(serviceAnswers(records()))), 0);
    // The same host, a new address, with cache-flush: the old one gets one second more.
    cache.observe(response(decoded(serviceAnswers(records({ addresses: ['10.0.0.9'] })))), 5000);
    assert.deepEqual(cache.peers(5500).get('pi-one-abc123')!.addresses, ['10.0.0.1', '10.0.0.9']);
    assert.deepEqual(cache.peers(6001).get('pi-one-abc123')!.addresses, ['10.0.0.9']);
    // Within one second of each other, records of one name are one response split over packets: both stay.
    cache.observe(response(decoded(serviceAnswers(records({ addresses: ['10.0.0.10'] })))), 6100);
    cache.observe(response(decoded(serviceAnswers(records({ addresses: ['10.0.0.11'] })))), 6200);
    assert.deepEqual(cache.peers(7200).get('pi-one-abc123')!.addresses, ['10.0.0.10', '10.0.0.11']);
    cache.observe(response([{ name: 'pi-one-abc123.local', type: 'A', class: 'IN', ttl: 0, data: '10.0.0.10' }]), 7300);
    assert.deepEqual(cache.peers(7300).get('pi-one-abc123')!.addresses, ['10.0.0.11']);
  });

  it('asks for a refresh from 80% of the TTL, and lists only healthy PTRs as known answers', () => {
    const cache = new PeerCache();
    cache.observe(response(decoded(serviceAnswers(records({ ttl: 100 })))), 0);
    assert.equal(cache.refreshDue(79_999), undefined);
    assert.equal(cache.refreshDue(80_000), 5000);
    assert.deepEqual(cache.knownAnswers(10_000), [{ instance: 'pi-one-abc123._swarmlet._tcp.local', ttl: 90 }]);
    assert.deepEqual(cache.knownAnswers(50_000), []);
  });

  it('bounds what strangers can make it hold', () => {
    const cache = new PeerCache({ maxInstances: 3, maxAddresses: 2 });
    for (let i = 0; i < 10; i++) cache.observe(response(decoded(serviceAnswers(records({ label: `n${i}-x` })))), i);
    assert.equal(cache.peers(100).size, 3);
    assert.ok(cache.counters.cacheFull > 0);
    const many = records({ label: 'n0-x', addresses: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] });
    cache.observe(response(decoded(serviceAnswers(many))), 200);
    assert.equal(cache.peers(200).get('n0-x')!.addresses.length, 2);
  });

  it('ignores records of other services and refuses malformed ones', () => {
    const cache = new PeerCache();
    cache.observe(
      response([
        { name: '_http._tcp.local', type: 'PTR', ttl: 120, data: 'printer._http._tcp.local' },
        { name: 'printer._http._tcp.local', type: 'SRV', ttl: 120, data: { port: 80, target: 'printer.local' } },
        { name: '_swarmlet._tcp.local', type: 'PTR', ttl: 120, data: 'bad.name.with.dots.local' },
        { name: 'x._swarmlet._tcp.local', type: 'SRV', ttl: 120, data: { port: 'eighty', target: 7 } },
        { name: 'x._swarmlet._tcp.local', type: 'TXT', ttl: 120, data: [Buffer.from('v=1'), Buffer.from('node=BAD')] },
        { name: 'x.local', type: 'A', ttl: 120, data: 'not-an-ip' },
      ]),
      0,
    );
    assert.equal(cache.peers(0).size, 0);
    assert.ok(cache.counters.invalidRecords >= 2);
    assert.equal(cache.counters.invalidTxt, 1);
  });
});

describe('peer diff', () => {
  it('reports found, changed and lost, and not a mere new lastSeen', () => {
    const cache = new PeerCache();
    cache.observe(response(decoded(serviceAnswers(records()))), 0);
    const first = cache.peers(0);
    assert.deepEqual(diffPeers(new Map(), first).map((event) => event.type), ['found']);
    cache.observe(response(decoded(serviceAnswers(records()))), 50);
    assert.deepEqual(diffPeers(first, cache.peers(50)), []);
    cache.observe(response(decoded(serviceAnswers(records({ fields: { ...records().fields, role: 'worker' } })))), 60);
    const changed = diffPeers(first, cache.peers(60));
    assert.equal(changed.length, 1);
    assert.equal(changed[0]!.type, 'changed');
    assert.deepEqual(diffPeers(first, new Map()).map((event) => event.type), ['lost']);
  });
});
