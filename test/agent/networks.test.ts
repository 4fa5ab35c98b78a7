/**
 * A node's bridges for swarm networks (src/agent/networks.ts), on the fake engine: made once per network with its
 * addressing, label and interface name, internal when the swarm network is, and never taken from a stranger.
 * What an internal bridge lets containers reach is checked on the real engine (test/runtime/docker-runtime.test.ts).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NetworkAttachment } from '../../src/api/types.ts';
import { NodeNetworks } from '../../src/agent/networks.ts';
import { bridgeName, makeNetwork, networkSpec, SWARMLET_NETWORK_LABEL } from '../../src/manager/state/networks.ts';
import { FakeRuntime } from '../fakes/fake-runtime.ts';

function attachment(id: string, name: string, subnetIndex: number, extra: { internal?: boolean } = {}): NetworkAttachment {
  const network = makeNetwork({
    id,
    spec: networkSpec({ name, ...extra }),
    subnet: `10.0.${subnetIndex}.0/24`,
    gateway: `10.0.${subnetIndex}.1`,
    now: '2026-01-01T00:00:00Z',
    index: 1,
  });
  return { Network: network, Addresses: [`10.0.${subnetIndex}.5/24`] };
}

/** What the fake engine was asked to make, by network name. */
const made = (runtime: FakeRuntime) => new Map([...runtime.networks.values()].map((network) => [network.name, network.options]));

describe('NodeNetworks', () => {
  it('makes the bridge of an internal swarm network internal, and of any other not', async () => {
    const runtime = new FakeRuntime();
    const networks = new NodeNetworks(runtime);
    await networks.ensure([attachment('net-sealed', 'sealed', 7, { internal: true }), attachment('net-open', 'open', 8)]);
    const { labels, ...sealed } = made(runtime).get('sealed')!;
    assert.deepEqual(sealed, { name: 'sealed', subnet: '10.0.7.0/24', gateway: '10.0.7.1', ipRange: '10.0.7.192/26', bridgeName: bridgeName('net-sealed'), internal: true });
    assert.equal(labels[SWARMLET_NETWORK_LABEL], 'net-sealed');
    assert.equal(made(runtime).get('open')?.internal, false);
  });

  it('makes each bridge once, for tasks starting together and after', async () => {
    const runtime = new FakeRuntime();
    const networks = new NodeNetworks(runtime);
    const sealed = attachment('net-sealed', 'sealed', 7, { internal: true });
    await Promise.all([networks.ensure([sealed]), networks.ensure([sealed])]);
    await networks.ensure([sealed]);
    assert.equal(runtime.networks.size, 1);
  });

  it('refuses an engine network of the same name that is not the swarm network', async () => {
    const runtime = new FakeRuntime();
    await runtime.createNetwork({ name: 'sealed', labels: {}, subnet: '10.9.0.0/24', gateway: '10.9.0.1', ipRange: '10.9.0.192/26', bridgeName: 'br-mine' });
    await assert.rejects(new NodeNetworks(runtime).ensure([attachment('net-sealed', 'sealed', 7, { internal: true })]), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'conflict');
      assert.match(err.message, /docker network rm sealed/);
      return true;
    });
  });
});
