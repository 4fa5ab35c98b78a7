/** `swarmlet discover`'s output and flag checks; the namespaced test runs it against a real advertiser. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { discoverCommand, renderPeers } from '../../src/cli/discover.ts';
import type { Peer } from '../../src/discovery/peer-cache.ts';

const peer = (overrides: Partial<Peer>): Peer => ({
  nodeId: 'm4n7b2v9c1x8z3l6k5j0h4g7f',
  role: 'manager',
  cluster: '3k9x0d2mq7a1z8c4v6b5n0p2l7j3h9g1f5d8s2a6q4w0e7r1t9',
  addresses: ['192.168.1.20'],
  port: 4377,
  hostname: 'pi-one',
  instance: 'pi-one-m4n7b2v9c1x8',
  lastSeen: 1,
  ...overrides,
});

const peers = [
  peer({}),
  peer({ nodeId: 'a1b2c3d4e5f6g7h8', hostname: 'pi-new', role: 'none', cluster: '', addresses: ['192.168.1.31', '10.0.0.31'], port: 4400 }),
  peer({ nodeId: 'w0rker0000000000', hostname: 'pi-two', role: 'worker', addresses: ['192.168.1.21'] }),
];

describe('swarmlet discover', () => {
  it('prints a docker-style table, unjoined daemons first with cluster "-"', () => {
    assert.equal(
      renderPeers(peers, 'table'),
      [
        'CLUSTER        NODE ID        HOSTNAME   ROLE      ADDRESS',
        '-              a1b2c3d4e5f6   pi-new     none      192.168.1.31:4400,10.0.0.31:4400',
        '3k9x0d2mq7a1   m4n7b2v9c1x8   pi-one     manager   192.168.1.20:4377',
        '3k9x0d2mq7a1   w0rker000000   pi-two     worker    192.168.1.21:4377',
        '',
      ].join('\n'),
    );
  });

  it('prints full values as JSON lines', () => {
    const lines = renderPeers(peers, 'json').trim().split('\n').map((line) => JSON.parse(line) as Record<string, string>);
    assert.deepEqual(lines[1], {
      Address: '192.168.1.20:4377',
      Cluster: '3k9x0d2mq7a1z8c4v6b5n0p2l7j3h9g1f5d8s2a6q4w0e7r1t9',
      Hostname: 'pi-one',
      NodeID: 'm4n7b2v9c1x8z3l6k5j0h4g7f',
      Role: 'manager',
    });
    assert.equal(lines[0]!.Cluster, '');
  });

  it('refuses a bad timeout or interface before sending anything', async () => {
    const run = (options: Record<string, string | string[]>) =>
      discoverCommand.run({
        args: { options, positionals: [] },
        api: () => assert.fail('discover needs no daemon'),
        out: () => {},
        err: () => {},
        now: () => 0,
      });
    await assert.rejects(run({ timeout: '2h' }), /invalid --timeout "2h"/);
    await assert.rejects(run({ timeout: '10ms' }), /between 100ms and 1m/);
    await assert.rejects(run({ interface: ['off'] }), /nothing to search on/);
    await assert.rejects(run({ interface: ['no-such-if0'] }), /no network interface is named no-such-if0/);
    await assert.rejects(run({ format: 'yaml' }), /unsupported --format/);
  });
});
