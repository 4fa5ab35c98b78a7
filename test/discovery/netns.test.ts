/**
 * Discovery over real sockets, between network namespaces joined by a veth (see netns.ts): an advertiser in a,
 * browsers and a watcher in b, and listeners on both sides of a's docker0. Also measures how long a browse takes
 * to find a peer.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FixtureProcess, NS, ip, netnsUnavailable, setupNetwork, teardownNetwork, type FixtureEvent } from './netns.ts';

const skip = netnsUnavailable();
const DIGEST = '3k9x0d2mq7a1z8c4v6b5n0p2l7j3h9g1f5d8s2a6q4w0e7r1t9';
const NODE_ID = 'm4n7b2v9c1x8z3l6k5j0h4g7f';
const service = { nodeId: NODE_ID, hostname: 'node-a', role: 'manager', cluster: DIGEST, port: 4377 };
const peerOf = (event: FixtureEvent) => event.peer as { nodeId: string; role: string; addresses: string[] };

describe('discovery between network namespaces', { skip, timeout: 120_000 }, () => {
  const processes: FixtureProcess[] = [];
  const start = (ns: string, config: Record<string, unknown>) => {
    const made = FixtureProcess.start(ns, config);
    processes.push(made);
    return made;
  };
  let advertiser: FixtureProcess;
  let spyA: FixtureProcess;
  let spyC: FixtureProcess;

  before(async () => {
    setupNetwork();
    // A stand-in for Avahi in a, joined to the mDNS group on docker0: now a's kernel accepts mDNS arriving on
    // docker0 and hands it to every socket on port 5353, the advertiser's too.
    spyA = start(NS.a, { role: 'spy', spyAddress: '172.31.0.1' });
    // Whatever a sends out of docker0 arrives here.
    spyC = start(NS.c, { role: 'spy', spyAddress: '172.31.0.2' });
    await spyA.waitFor((event) => event.event === 'started', 'spy in a');
    await spyC.waitFor((event) => event.event === 'started', 'spy in c');
    advertiser = start(NS.a, { role: 'advertise', advertiseAddr: '10.78.0.1', service });
    const started = await advertiser.waitFor((event) => event.event === 'started', 'advertiser');
    assert.deepEqual(started.advertised, [{ interface: 'swl-mdva', address: '10.78.0.1' }]);
  });

  after(async () => {
    await Promise.all(processes.map((child) => child.stop()));
    teardownNetwork();
  });

  it('a browser in b finds the advertiser in a, with its TXT fields and only its veth address', async () => {
    const browser = start(NS.b, { role: 'browse', advertiseAddr: '10.78.0.2', timeoutMs: 1500 });
    const result = await browser.waitFor((event) => event.event === 'result', 'browse');
    assert.deepEqual(result.peers, [
      {
        nodeId: NODE_ID,
        role: 'manager',
        cluster: DIGEST,
        addresses: ['10.78.0.1'],
        port: 4377,
        hostname: 'node-a',
        instance: 'node-a-m4n7b2v9c1x8',
        lastSeen: (result.peers as Array<{ lastSeen: number }>)[0]!.lastSeen,
      },
    ]);
  });

  it("nothing of ours goes out of a's docker0, and a query from its side is not answered", async () => {
    spyC.send({ cmd: 'query' });
    // The query crossed into a (the Avahi stand-in heard it), reached the advertiser's socket and was dropped.
    await spyA.waitFor((event) => event.event === 'packet' && event.from === '172.31.0.2', "the query from docker0's side");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    advertiser.send({ cmd: 'stats' });
    const stats = (await advertiser.waitFor((event) => event.event === 'stats', 'stats')).stats as { dropped: { off_link: number } };
    assert.ok(stats.dropped.off_link >= 1, JSON.stringify(stats));
    const fromA = spyC.events.filter((event) => event.event === 'packet' && event.from !== '172.31.0.2');
    assert.deepEqual(fromA, [], 'c heard something from a');
  });

  it('filters by cluster digest', async () => {
    const browseWith = async (clusterDigest: string) => {
      const browser = start(NS.b, { role: 'browse', advertiseAddr: '10.78.0.2', timeoutMs: 800, clusterDigest });
      return (await browser.waitFor((event) => event.event === 'result', 'browse')).peers as unknown[];
    };
    assert.equal((await browseWith(DIGEST)).length, 1);
    assert.equal((await browseWith('0other0')).length, 0);
    assert.equal((await browseWith('')).length, 0);
  });

  it('a browse finds a peer quickly (p50 over 20 browses)', async (t) => {
    const browser = start(NS.b, { role: 'browse', interfaces: 'swl-mdvb', timeoutMs: 3000, tries: 20, untilFirst: true });
    await browser.waitFor((event) => event.event === 'result' && browser.events.filter((e) => e.event === 'result').length === 20, '20 browses', 30_000);
    const results = browser.events.filter((event) => event.event === 'result');
    assert.ok(results.every((event) => (event.peers as unknown[]).length === 1));
    const times = results.map((event) => event.elapsedMs as number).sort((x, y) => x - y);
    const p50 = times[10]!;
    t.diagnostic(`browse to first peer: p50 ${p50.toFixed(1)} ms, min ${times[0]!.toFixed(1)} ms, max ${times[19]!.toFixed(1)} ms`);
    assert.ok(p50 < 1000, `p50 ${p50} ms`);
  });

  it('`swarmlet discover` in b prints the advertiser', async () => {
    const main = path.join(import.meta.dirname, '..', '..', 'src', 'main.ts');
    const discover = (...args: string[]) =>
      execFileSync('nsenter', [`--net=/var/run/netns/${NS.b}`, process.execPath, main, 'discover', '--advertise-addr', '10.78.0.2', '--timeout', '1s', ...args], {
        encoding: 'utf8',
      });
    assert.equal(
      discover(),
      'CLUSTER        NODE ID        HOSTNAME   ROLE      ADDRESS\n3k9x0d2mq7a1   m4n7b2v9c1x8   node-a     manager   10.78.0.1:4377\n',
    );
    assert.deepEqual(JSON.parse(discover('--format', 'json')), {
      Address: '10.78.0.1:4377',
      Cluster: DIGEST,
      Hostname: 'node-a',
      NodeID: NODE_ID,
      Role: 'manager',
    });
  });

  it('a watcher in b sees a role change, an address change, and the goodbye on stop', async (t) => {
    const watcher = start(NS.b, { role: 'watch', advertiseAddr: '10.78.0.2' });
    const found = await watcher.waitFor((event) => event.event === 'found', 'found');
    assert.deepEqual(peerOf(found).addresses, ['10.78.0.1']);

    advertiser.send({ cmd: 'update', update: { role: 'worker' } });
    await watcher.waitFor((event) => event.event === 'changed' && peerOf(event).role === 'worker', 'role change');

    // As DHCP would: the old address goes, the new one comes (adding first would make it a secondary address,
    // which the kernel removes along with the primary).
    ip('-n', NS.a, 'addr', 'del', '10.78.0.1/24', 'dev', 'swl-mdva');
    ip('-n', NS.a, 'addr', 'add', '10.78.0.11/24', 'dev', 'swl-mdva');
    advertiser.send({ cmd: 'update', advertiseAddr: '10.78.0.11' });
    const updates = () => advertiser.events.filter((event) => event.event === 'updated');
    await advertiser.waitFor(() => updates().length === 2, 'the second update');
    assert.deepEqual(updates()[1]!.advertised, [{ interface: 'swl-mdva', address: '10.78.0.11' }]);
    await watcher.waitFor((event) => event.event === 'changed' && peerOf(event).addresses.join() === '10.78.0.11', 'address change');

    const stopped = performance.now();
    await advertiser.stop();
    const lost = await watcher.waitFor((event) => event.event === 'lost', 'lost');
    assert.equal(peerOf(lost).nodeId, NODE_ID);
    const after = performance.now() - stopped;
    t.diagnostic(`lost ${after.toFixed(0)} ms after the advertiser was asked to stop (TTL 120 s)`);
    assert.ok(after < 5000);
  });
});
