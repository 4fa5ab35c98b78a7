/**
 * The advertiser, watcher and browse on the in-memory network: what goes out on which interface, answers to each
 * kind of query, announcements and goodbyes, and what a watcher or browser makes of them. Fast and deterministic
 * enough to run everywhere; the namespaced test (netns.test.ts) runs the same roles over real sockets.
 */

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import dnsPacket, { type Answer, type Packet } from 'dns-packet';
import { Advertiser, type ServiceDescription } from '../../src/discovery/advertiser.ts';
import { browse } from '../../src/discovery/browse.ts';
import type { InterfaceTable } from '../../src/discovery/interfaces.ts';
import { queryPacket, responsePacket, serviceAnswers } from '../../src/discovery/packets.ts';
import type { PeerEvent } from '../../src/discovery/peer-cache.ts';
import { Watcher } from '../../src/discovery/watcher.ts';
import { FakeNetwork, table, type SentDatagram } from './fake-network.ts';

const service: ServiceDescription = { nodeId: 'abc123def456ghi789', hostname: 'pi-one', role: 'manager', cluster: 'k3x9', port: 4377 };

const decode = (datagram: SentDatagram): Packet => dnsPacket.decode(datagram.data);
const records = (packet: Packet): Answer[] => [...(packet.answers ?? []), ...(packet.additionals ?? [])];
const aRecords = (packet: Packet) => records(packet).filter((record) => record.type === 'A').map((record) => `${record.data}/${record.ttl}`);
const txtOf = (packet: Packet) =>
  (records(packet).find((record) => record.type === 'TXT')?.data as Buffer[] | undefined)?.map((item) => item.toString());

async function until<T>(check: () => T | undefined, what: string, timeoutMs = 3000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

function advertiser(network: FakeNetwork, interfaces: InterfaceTable, overrides: Partial<ConstructorParameters<typeof Advertiser>[0]> = {}): Advertiser {
  const made = new Advertiser({
    service,
    interfaces: { mode: 'auto' },
    network,
    listInterfaces: () => interfaces,
    announceAtMs: [0, 30, 60],
    random: () => 0,
    rescanMs: 0,
    ...overrides,
  });
  stops.push(() => made.stop());
  return made;
}

describe('advertiser', () => {
  it('announces three times on the chosen link only, with its own address only', async () => {
    const network = new FakeNetwork();
    const host = table({ lo: ['127.0.0.1/8'], eth0: ['10.0.0.1/24'], docker0: ['172.17.0.1/16'], 'veth9f2': ['169.254.1.1/16'] });
    await advertiser(network, host).start();
    assert.deepEqual(network.openSockets(), [{ interface: 'eth0', address: '10.0.0.1', port: 5353, mode: 'shared' }]);
    await until(() => network.sent.length >= 3, 'three announcements');
    for (const datagram of network.sent) {
      assert.equal(datagram.interface, 'eth0');
      assert.deepEqual(datagram.to, { address: '224.0.0.251', port: 5353 });
      const packet = decode(datagram);
      assert.equal(packet.type, 'response');
      assert.deepEqual(aRecords(packet), ['10.0.0.1/120']);
      assert.deepEqual(txtOf(packet), ['v=1', 'cluster=k3x9', 'node=abc123def456ghi789', 'role=manager', 'port=4377']);
      const srv = records(packet).find((record) => record.type === 'SRV')!;
      assert.equal(srv.name, 'pi-one-abc123def456._swarmlet._tcp.local');
      assert.deepEqual(srv.data, { priority: 0, weight: 0, port: 4377, target: 'pi-one-abc123def456.local' });
      assert.equal(srv.flush, true);
    }
  });

  it('answers a one-shot query by unicast at once: id and question echoed, TTLs capped, no cache-flush', async () => {
    const network = new FakeNetwork();
    await advertiser(network, table({ eth0: ['10.0.0.1/24'] }), { announceAtMs: [0] }).start();
    network.sent.length = 0;
    network.deliver(queryPacket([], { id: 4242 }), { address: '10.0.0.9', port: 40001 });
    const answer = await until(() => network.sent.find((datagram) => datagram.to.port === 40001), 'a unicast answer');
    assert.deepEqual(answer.to, { address: '10.0.0.9', port: 40001 });
    const packet = decode(answer);
    assert.equal(packet.id, 4242);
    assert.deepEqual(packet.questions?.map((question) => question.name), ['_swarmlet._tcp.local']);
    assert.ok(records(packet).every((record) => (record.ttl ?? 0) <= 10 && !record.flush));

    // A known answer with at least half of (capped) TTL left keeps it quiet.
    network.sent.length = 0;
    network.deliver(queryPacket([{ instance: 'pi-one-abc123def456._swarmlet._tcp.local', ttl: 8 }], { id: 1 }), { address: '10.0.0.9', port: 40001 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(network.sent, []);
  });

  it('answers a multicast query by multicast, never within a second of its last multicast', async () => {
    const network = new FakeNetwork();
    await advertiser(network, table({ eth0: ['10.0.0.1/24'] }), { announceAtMs: [0] }).start();
    const announced = network.sent[0]!.at;
    network.sent.length = 0;
    network.deliver(queryPacket(), { address: '10.0.0.9', port: 5353 });
    network.deliver(queryPacket(), { address: '10.0.0.8', port: 5353 }); // merged into the same answer
    const answer = await until(() => network.sent[0], 'a multicast answer');
    assert.ok(answer.at - announced >= 999, `answered ${answer.at - announced} ms after the announcement`);
    assert.deepEqual(answer.to, { address: '224.0.0.251', port: 5353 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(network.sent.length, 1);
  });

  it('answers the service enumeration and ignores other services and other opcodes', async () => {
    const network = new FakeNetwork();
    await advertiser(network, table({ eth0: ['10.0.0.1/24'] }), { announceAtMs: [0] }).start();
    network.sent.length = 0;
    const ask = (name: string, type: string, extra: Partial<Packet> = {}) =>
      network.deliver(dnsPacket.encode({ id: 5, type: 'query', questions: [{ name, type }], ...extra }), { address: '10.0.0.9', port: 40002 });
    ask('_services._dns-sd._udp.local', 'PTR');
    const answer = await until(() => network.sent[0], 'the enumeration answer');
    assert.deepEqual(records(decode(answer)).map((record) => `${record.name} ${record.type} ${record.data}`), ['_services._dns-sd._udp.local PTR _swarmlet._tcp.local']);
    network.sent.length = 0;
    ask('_http._tcp.local', 'PTR', { answers: [], additionals: [] });
    ask('_swarmlet._tcp.local', 'PTR', { flags: 2 << 11 }); // opcode STATUS
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(network.sent, []);
    ask('pi-one-abc123def456.local', 'A');
    await until(() => network.sent[0], 'an answer for our host name');
  });

  it('re-announces a change, says goodbye to an old address, and says goodbye to everything on stop', async () => {
    const network = new FakeNetwork();
    const interfaces = table({ eth0: ['10.0.0.1/24'] });
    const made = advertiser(network, interfaces, { announceAtMs: [0], interfaces: { mode: 'names', names: ['eth0'] }, rescanMs: 10 });
    await made.start();
    network.sent.length = 0;
    await made.update({ role: 'worker' });
    assert.deepEqual(txtOf(decode(network.sent[0]!))?.[3], 'role=worker');

    network.sent.length = 0;
    interfaces.eth0 = table({ eth0: ['10.0.0.5/24'] }).eth0; // DHCP gave a new address; the rescan sees it
    const moved = await until(() => network.sent[0], 'the announcement of the new address');
    assert.equal(moved.from.address, '10.0.0.5');
    assert.deepEqual(aRecords(decode(moved)), ['10.0.0.1/0', '10.0.0.5/120']);
    assert.deepEqual(made.advertised(), [{ interface: 'eth0', address: '10.0.0.5' }]);

    network.sent.length = 0;
    await made.stop();
    await made.stop();
    assert.equal(network.sent.length, 1);
    assert.ok(records(decode(network.sent[0]!)).every((record) => record.ttl === 0));
    assert.deepEqual(network.openSockets(), []);
  });

  it('refuses to advertise invalid fields, and opens nothing while off', async () => {
    assert.throws(() => new Advertiser({ service: { ...service, nodeId: 'Not Valid' }, interfaces: { mode: 'auto' } }), /node id/);
    const network = new FakeNetwork();
    const made = advertiser(network, table({ eth0: ['10.0.0.1/24'] }), { interfaces: { mode: 'off' } });
    await made.start();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(network.openSockets(), []);
    assert.deepEqual(network.sent, []);
    // Switched on later (the daemon learnt its advertise address), it opens that link and announces.
    await made.update({ interfaces: { mode: 'address', address: '10.0.0.1' } });
    assert.deepEqual(network.openSockets(), [{ interface: 'eth0', address: '10.0.0.1', port: 5353, mode: 'shared' }]);
    assert.equal(network.sent.length, 1);
  });
});

describe('watcher and browse', () => {
  it('a watcher reports found, changed and lost', async () => {
    const network = new FakeNetwork();
    const interfaces = table({ eth0: ['10.0.0.1/24'] });
    const made = advertiser(network, interfaces, { interfaces: { mode: 'names', names: ['eth0'] }, rescanMs: 10 });
    const watcher = new Watcher({ interfaces: { mode: 'auto' }, network, listInterfaces: () => table({ eth0: ['10.0.0.2/24'] }), rescanMs: 0, tickMs: 10 });
    stops.push(() => watcher.stop());
    const events: PeerEvent[] = [];
    watcher.subscribe((event) => events.push(event));
    await watcher.start();
    await made.start();
    const found = await until(() => events.find((event) => event.type === 'found'), 'found');
    assert.equal(found.peer.nodeId, service.nodeId);
    assert.deepEqual(found.peer.addresses, ['10.0.0.1']);
    assert.equal(found.peer.hostname, 'pi-one');

    await made.update({ role: 'worker', cluster: 'other' });
    await until(() => events.find((event) => event.type === 'changed' && event.peer.role === 'worker' && event.peer.cluster === 'other'), 'role change');

    interfaces.eth0 = table({ eth0: ['10.0.0.7/24'] }).eth0;
    await until(() => events.find((event) => event.type === 'changed' && event.peer.addresses.join() === '10.0.0.7'), 'address change');

    await made.stop();
    const lost = await until(() => events.find((event) => event.type === 'lost'), 'lost');
    assert.equal(lost.peer.nodeId, service.nodeId);
    assert.deepEqual(watcher.peers(), []);
  });

  it('a watcher started after the announcements finds the peer by querying, and seek() queries until released', async () => {
    const network = new FakeNetwork();
    await advertiser(network, table({ eth0: ['10.0.0.1/24'] }), { announceAtMs: [0] }).start();
    const watcher = new Watcher({
      interfaces: { mode: 'auto' },
      network,
      listInterfaces: () => table({ eth0: ['10.0.0.2/24'] }),
      rescanMs: 0,
      tickMs: 10,
      seekIntervalMs: 40,
      startQueriesAtMs: [0],
    });
    stops.push(() => watcher.stop());
    await watcher.start();
    await until(() => watcher.peers()[0], 'the peer');
    const queries = () => network.sent.filter((datagram) => datagram.from.address === '10.0.0.2').length;
    const before = queries();
    const release = watcher.seek();
    await until(() => queries() >= before + 3, 'repeated seek queries');
    release();
    release();
    const after = queries();
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(queries(), after);
  });

  it('browse finds peers, filters by cluster, stops early with until, and does nothing when off', async () => {
    const network = new FakeNetwork();
    const host = table({ eth0: ['10.0.0.1/24'] });
    await advertiser(network, host).start();
    await advertiser(network, table({ eth0: ['10.0.0.3/24'] }), { service: { ...service, nodeId: 'zzz999', hostname: 'pi-two', cluster: '', role: 'none' } }).start();
    const options = { network, listInterfaces: () => table({ eth0: ['10.0.0.2/24'], docker0: ['172.17.0.1/16'] }), timeoutMs: 300 };

    const all = await browse(options);
    assert.deepEqual(all.map((peer) => [peer.hostname, peer.role, peer.cluster, peer.addresses.join()]), [
      ['pi-one', 'manager', 'k3x9', '10.0.0.1'],
      ['pi-two', 'none', '', '10.0.0.3'],
    ]);
    // Only one-shot sockets on eth0 were used, and closed again.
    assert.ok(network.sent.filter((datagram) => datagram.from.address === '10.0.0.2').every((datagram) => datagram.from.port !== 5353));
    assert.equal(network.sent.filter((datagram) => datagram.interface === 'docker0').length, 0);

    assert.deepEqual((await browse({ ...options, clusterDigest: 'k3x9' })).map((peer) => peer.hostname), ['pi-one']);
    assert.deepEqual((await browse({ ...options, clusterDigest: '' })).map((peer) => peer.hostname), ['pi-two']);
    assert.deepEqual(await browse({ ...options, clusterDigest: 'nope' }), []);

    const started = performance.now();
    const first = await browse({ ...options, timeoutMs: 5000, until: (peers) => peers.some((peer) => peer.role === 'manager') });
    assert.ok(performance.now() - started < 1000);
    assert.ok(first.some((peer) => peer.role === 'manager'));
    assert.deepEqual(await browse({ ...options, interfaces: { mode: 'off' } }), []);
    await assert.rejects(browse({ ...options, interfaces: { mode: 'names', names: ['eth9'] } }), /no network interface is named eth9/);
  });

  it('browse says so when it cannot open a socket', async () => {
    const broken = { open: async () => Promise.reject(new Error('cannot open mDNS on eth0 (10.0.0.2): EPERM')) };
    await assert.rejects(browse({ network: broken, listInterfaces: () => table({ eth0: ['10.0.0.2/24'] }), timeoutMs: 100 }), /could not listen: cannot open mDNS on eth0/);
  });

  it('browse ignores unicast datagrams that do not answer its queries', async () => {
    const network = new FakeNetwork();
    const peersSeen = browse({ network, listInterfaces: () => table({ eth0: ['10.0.0.2/24'] }), timeoutMs: 150, randomId: () => 77 });
    // Someone on the link sends a well-formed answer with another id to every ephemeral port it can guess.
    const forged = responsePacket(
      serviceAnswers({ label: 'evil-1', fields: { nodeId: 'e1', role: 'manager', cluster: '', port: 1 }, addresses: ['10.0.0.66'], ttl: 120 }),
      { id: 78, questions: [] },
    );
    setTimeout(() => {
      for (let port = 40000; port < 40010; port++) network.deliver(forged, { address: '10.0.0.66', port: 5353 }, { address: '10.0.0.2', port });
    }, 20);
    assert.deepEqual(await peersSeen, []);
  });
});
