/**
 * Published ports in the state machine: ingress ports held by one service across the cluster, ports picked from
 * Swarm's dynamic range, kept across updates, and refused specs that store nothing.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndpointPortConfig, ServiceSpec } from '../../src/api/types.ts';
import { SwarmletError } from '../../src/errors.ts';
import { DYNAMIC_PORT_END, DYNAMIC_PORT_START, makeEndpoint } from '../../src/manager/state/endpoints.ts';
import type { StateMachine } from '../../src/manager/state/state-machine.ts';
import { clusterWith, iso, spec, T0 } from '../helpers/fixtures.ts';

const published = (ports: EndpointPortConfig[], mode: 'vip' | 'dnsrr' = 'vip'): Partial<ServiceSpec> => ({ EndpointSpec: { Mode: mode, Ports: ports } });
const ingress = (target: number, publishedPort?: number, protocol: 'tcp' | 'udp' = 'tcp'): EndpointPortConfig => ({
  Protocol: protocol,
  TargetPort: target,
  ...(publishedPort ? { PublishedPort: publishedPort } : {}),
  PublishMode: 'ingress',
});

function refused(fn: () => void, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof SwarmletError && err.code === 'invalid_argument' && message.test(err.message));
}

function create(machine: StateMachine, id: string, name: string, ports: EndpointPortConfig[]): void {
  machine.apply({ type: 'service.create', id, spec: spec(name, published(ports)), now: iso(T0) });
}

function update(machine: StateMachine, id: string, ports: EndpointPortConfig[]): void {
  const service = machine.state.services[id]!;
  machine.apply({ type: 'service.update', id, version: service.Version.Index, spec: { ...service.Spec, ...published(ports) }, now: iso(T0 + 1) });
}

const portsOf = (machine: StateMachine, id: string) => machine.state.services[id]!.Endpoint?.Ports;

describe('published ports in the state', () => {
  it('keeps the Endpoint as Docker shows it: the spec, and the ports with protocol and mode spelled out', () => {
    const machine = clusterWith();
    create(machine, 's1', 'web', [{ TargetPort: 80, PublishedPort: 8080 }]);
    assert.deepEqual(machine.state.services.s1!.Endpoint, {
      Spec: { Mode: 'vip', Ports: [{ TargetPort: 80, PublishedPort: 8080 }] },
      Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }],
    });
    create(machine, 's2', 'quiet', []);
    assert.deepEqual(machine.state.services.s2!.Endpoint, { Spec: { Mode: 'vip', Ports: [] } });
  });

  it('picks the lowest free port of 30000-32767 for an ingress port without one, around the ports asked for', () => {
    const machine = clusterWith();
    create(machine, 's1', 'web', [ingress(80, DYNAMIC_PORT_START)]);
    create(machine, 's2', 'api', [ingress(80), ingress(443), ingress(8080, DYNAMIC_PORT_START + 2)]);
    assert.deepEqual(portsOf(machine, 's2')!.map((port) => port.PublishedPort), [DYNAMIC_PORT_START + 1, DYNAMIC_PORT_START + 3, DYNAMIC_PORT_START + 2]);
    // Per protocol: 30000/udp is free although 30000/tcp is not.
    create(machine, 's3', 'dns', [ingress(53, undefined, 'udp')]);
    assert.equal(portsOf(machine, 's3')![0]!.PublishedPort, DYNAMIC_PORT_START);
  });

  it('refuses an ingress port another service holds, with Docker\'s wording, and stores nothing', () => {
    const machine = clusterWith();
    create(machine, 's1', 'web', [ingress(80, 8080)]);
    const before = JSON.stringify(machine.state);
    refused(() => create(machine, 's2', 'other', [ingress(81, 8080)]), /^port '8080' is already in use by service 'web' \(s1\) as an ingress port/);
    assert.equal(JSON.stringify(machine.state), before);
    // A port the manager picked is held just the same.
    create(machine, 's3', 'picked', [ingress(80)]);
    refused(() => create(machine, 's4', 'late', [ingress(80, DYNAMIC_PORT_START)]), /port '30000' is already in use by service 'picked' \(s3\)/);
    // Another protocol: no conflict.
    create(machine, 's5', 'udp', [ingress(80, 8080, 'udp')]);
  });

  it('keeps host-mode ports off ingress ports both ways, lets two services share a host-mode port, and never picks one', () => {
    const machine = clusterWith();
    const host = (target: number, published: number) => ({ Protocol: 'tcp' as const, TargetPort: target, PublishedPort: published, PublishMode: 'host' as const });
    create(machine, 's1', 'web', [ingress(80, 8080)]);
    const before = JSON.stringify(machine.state);
    // The mesh listens on 8080 on every node: a task binding it would fail wherever it went.
    refused(() => create(machine, 's2', 'host', [host(80, 8080)]), /^port '8080' is already in use by service 'web' \(s1\) as an ingress port.*publish another port in host mode$/);
    refused(() => create(machine, 's2', 'both', [ingress(80, 9090), host(81, 9090)]), /^port '9090' is published in both ingress and host mode/);
    assert.equal(JSON.stringify(machine.state), before);
    create(machine, 's3', 'host-a', [host(80, DYNAMIC_PORT_START)]);
    create(machine, 's4', 'host-b', [host(80, DYNAMIC_PORT_START)]);
    assert.deepEqual(portsOf(machine, 's4'), [host(80, DYNAMIC_PORT_START)], 'the scheduler keeps them on different nodes');
    refused(() => create(machine, 's5', 'late', [ingress(80, DYNAMIC_PORT_START)]), /published in host mode by service 'host-a' \(s3\)/);
    create(machine, 's6', 'picked', [ingress(80)]);
    assert.equal(portsOf(machine, 's6')![0]!.PublishedPort, DYNAMIC_PORT_START + 1, 'a picked ingress port skips host-mode ports');
  });

  it('keeps a picked port across updates while the target and protocol stay published, and frees it after', () => {
    const machine = clusterWith();
    create(machine, 's1', 'web', [ingress(80)]);
    create(machine, 's2', 'api', [ingress(80)]);
    assert.equal(portsOf(machine, 's2')![0]!.PublishedPort, DYNAMIC_PORT_START + 1);
    machine.apply({ type: 'service.remove', id: 's1', now: iso(T0) });
    update(machine, 's2', [ingress(80), ingress(9000)]);
    assert.deepEqual(portsOf(machine, 's2')!.map((port) => port.PublishedPort), [DYNAMIC_PORT_START + 1, DYNAMIC_PORT_START]);
    update(machine, 's2', [ingress(9000)]);
    assert.deepEqual(portsOf(machine, 's2')!.map((port) => port.PublishedPort), [DYNAMIC_PORT_START]);
    // A service updating its own ports never conflicts with itself.
    update(machine, 's2', [ingress(9000, DYNAMIC_PORT_START), ingress(80, 8080)]);
    assert.deepEqual(portsOf(machine, 's2')!.map((port) => port.PublishedPort), [DYNAMIC_PORT_START, 8080]);
  });

  it('stores nothing from an update refused for a port, not even the version', () => {
    const machine = clusterWith();
    create(machine, 's1', 'web', [ingress(80, 8080)]);
    create(machine, 's2', 'api', [ingress(80)]);
    const before = JSON.stringify(machine.state);
    refused(() => update(machine, 's2', [ingress(80, 8080)]), /port '8080' is already in use by service 'web'/);
    assert.equal(JSON.stringify(machine.state), before);
  });

  it('says so when the dynamic range is full', () => {
    const size = DYNAMIC_PORT_END - DYNAMIC_PORT_START + 1;
    const services = [{
      ID: 'full', Version: { Index: 1 }, CreatedAt: iso(T0), UpdatedAt: iso(T0), Spec: spec('full'),
      Endpoint: { Spec: {}, Ports: Array.from({ length: size }, (_, i) => ingress(i + 1, DYNAMIC_PORT_START + i)) },
    }];
    refused(() => makeEndpoint('s1', spec('web', published([ingress(80)])), undefined, services), /no free port left in the range 30000-32767 for target port 80\/tcp/);
    assert.deepEqual(makeEndpoint('s1', spec('web', published([ingress(80, 8080)])), undefined, services).Ports, [ingress(80, 8080)]);
  });

  it('applies the same commands to the same state on every manager', () => {
    const run = () => {
      const machine = clusterWith();
      create(machine, 's1', 'web', [ingress(80), ingress(53, undefined, 'udp')]);
      create(machine, 's2', 'api', [ingress(80)]);
      update(machine, 's1', [ingress(80), ingress(443)]);
      return JSON.stringify(machine.state);
    };
    assert.equal(run(), run());
  });
});
