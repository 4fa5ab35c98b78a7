/** Which interfaces discovery uses on a Docker host, from what users type; a pure function of the interface table. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SwarmletError } from '../../src/errors.ts';
import { interfaceChoice, onLink, requireLinks, resolveLinks } from '../../src/discovery/interfaces.ts';
import { table } from './fake-network.ts';

/** A Docker host: a LAN card, Wi-Fi, the loopback and the usual container and VPN interfaces. */
const host = table({
  lo: ['127.0.0.1/8'],
  eth0: ['192.168.1.20/24', '10.1.0.5/16'],
  wlan0: ['192.168.50.3/24'],
  docker0: ['172.17.0.1/16'],
  'br-3f2a9c1d0e4b': ['172.18.0.1/16'],
  veth1a2b3c4: ['169.254.10.1/16'],
  docker_gwbridge: ['172.19.0.1/16'],
  tailscale0: ['100.64.0.7/32'],
  wg0: ['10.99.0.1/24'],
  virbr0: ['192.168.122.1/24'],
});

describe('interface choice', () => {
  it('reads off, on, names, addresses and interface names as Docker spells them', () => {
    assert.deepEqual(interfaceChoice({ interfaces: 'off' }), { mode: 'off' });
    assert.deepEqual(interfaceChoice({ interfaces: 'on' }), { mode: 'auto' });
    assert.deepEqual(interfaceChoice({ interfaces: 'on', advertiseAddr: '192.168.1.20' }), { mode: 'address', address: '192.168.1.20' });
    assert.deepEqual(interfaceChoice({ interfaces: ' eth0, wlan0 ,eth0' }), { mode: 'names', names: ['eth0', 'wlan0'] });
    assert.deepEqual(interfaceChoice({ interfaces: ['eth0'], advertiseAddr: '192.168.1.20' }), { mode: 'names', names: ['eth0'] });
    assert.deepEqual(interfaceChoice({ advertiseAddr: '192.168.1.20:2377' }), { mode: 'address', address: '192.168.1.20' });
    assert.deepEqual(interfaceChoice({ advertiseAddr: 'eth0' }), { mode: 'names', names: ['eth0'] });
    assert.deepEqual(interfaceChoice({}), { mode: 'auto' });
  });

  it('refuses what it cannot use, saying what to do', () => {
    assert.throws(() => interfaceChoice({ interfaces: 'off,eth0' }), /cannot be combined/);
    assert.throws(() => interfaceChoice({ interfaces: 'eth0;rm -rf' }), /not a network interface name/);
    assert.throws(() => interfaceChoice({ advertiseAddr: 'fe80::1' }), /IPv4 only/);
    assert.throws(() => interfaceChoice({ advertiseAddr: 'not an address' }), SwarmletError);
  });
});

describe('link resolution', () => {
  it('auto mode skips loopback, container bridges, veths and tunnels', () => {
    const { links, problems } = resolveLinks({ mode: 'auto' }, host);
    assert.deepEqual(links.map((link) => [link.interface, link.address]), [
      ['eth0', '192.168.1.20'],
      ['wlan0', '192.168.50.3'],
    ]);
    assert.deepEqual(problems, []);
  });

  it('an advertise address uses the one interface holding it, and advertises that address alone', () => {
    const { links } = resolveLinks({ mode: 'address', address: '10.1.0.5' }, host);
    assert.equal(links.length, 1);
    assert.equal(links[0]!.interface, 'eth0');
    assert.equal(links[0]!.address, '10.1.0.5');
    // Both of eth0's subnets count as on-link; docker0's does not.
    assert.ok(onLink(links[0]!, '192.168.1.77'));
    assert.ok(onLink(links[0]!, '10.1.200.9'));
    assert.ok(!onLink(links[0]!, '172.17.0.2'));
    assert.ok(!onLink(links[0]!, '192.168.50.3'));
    assert.ok(!onLink(links[0]!, 'garbage'));
  });

  it('named interfaces are used as asked, even a bridge; missing ones are problems, not failures', () => {
    const { links, problems } = resolveLinks({ mode: 'names', names: ['docker0', 'eth1', 'wlan0'] }, host);
    assert.deepEqual(links.map((link) => link.interface), ['docker0', 'wlan0']);
    assert.deepEqual(problems, ['no network interface is named eth1']);
    const empty = resolveLinks({ mode: 'names', names: ['eth0'] }, { eth0: [] });
    assert.match(empty.problems[0]!, /no IPv4 address/);
  });

  it('requireLinks says why nothing can be used', () => {
    assert.throws(() => requireLinks({ mode: 'address', address: '10.9.9.9' }, host), (err: unknown) => {
      assert.ok(err instanceof SwarmletError);
      assert.equal(err.code, 'unavailable');
      assert.match(err.message, /no network interface holds the advertise address 10\.9\.9\.9/);
      return true;
    });
    assert.throws(() => requireLinks({ mode: 'auto' }, table({ lo: ['127.0.0.1/8'], docker0: ['172.17.0.1/16'] })), /container bridges and tunnels are skipped/);
    assert.deepEqual(requireLinks({ mode: 'off' }, host), []);
  });
});
