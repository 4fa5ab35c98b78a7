/**
 * /services create and update warn of published ingress ports that nodes report their routing mesh could not open
 * (NodeDescription.MeshPortConflicts): which port, on which nodes, why, and what to do. The routes run on a real
 * HTTP server on a unix socket, over a state machine; nodes' reports arrive as `node.describe` commands, checked as
 * the leader checks them.
 */

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { EngineNetworks } from '../../src/api/routes/networks.ts';
import { meshPortWarnings } from '../../src/api/routes/services.ts';
import type { MeshPortConflict, Service, ServiceSpec } from '../../src/api/types.ts';
import { parseNodeDescription } from '../../src/cluster/node-report.ts';
import { seededRandom } from '../../src/util/ids.ts';
import { clusterWith, iso, node, T0 } from '../helpers/fixtures.ts';
import { MachineProposer, serveMachineApi } from '../helpers/machine-api.ts';
import { request } from '../helpers/unix-http.ts';

/** Node `nodeId` reports the published ports it could not open, as its description goes to the leader. */
function report(proposer: MachineProposer, nodeId: string, conflicts: MeshPortConflict[]): void {
  const description = parseNodeDescription(JSON.parse(JSON.stringify({ ...proposer.state.nodes[nodeId]!.Description, MeshPortConflicts: conflicts })));
  proposer.machine.apply({ type: 'node.describe', nodeId, description, now: iso(T0) });
}

/** An engine with no networks of its own: these specs name none. */
const noNetworks: EngineNetworks = {
  list: async () => [],
  inspect: async () => undefined,
  create: async () => {
    throw new Error('not in these tests');
  },
  remove: async () => {
    throw new Error('not in these tests');
  },
};

const held = (Port: number, ServiceID: string, Protocol: 'tcp' | 'udp' = 'tcp', Error = 'address already in use'): MeshPortConflict => ({ Port, Protocol, ServiceID, Error });

const web = (ports: Array<{ PublishedPort: number; Protocol?: 'tcp' | 'udp'; PublishMode?: 'ingress' | 'host' }>) => ({
  Name: 'web',
  TaskTemplate: { ContainerSpec: { Image: 'img' } },
  Mode: { Replicated: { Replicas: 1 } },
  EndpointSpec: { Ports: ports.map((port) => ({ TargetPort: 80, ...port })) },
});

describe('/services: published ports nodes cannot open', () => {
  let api: Awaited<ReturnType<typeof serveMachineApi>>;
  let socket: string;
  let proposer: MachineProposer;

  before(async () => {
    api = await serveMachineApi(() => ({ proposer, random: seededRandom(5), engine: noNetworks }));
    socket = api.socket;
  });

  after(async () => {
    await api.close();
  });

  beforeEach(() => {
    proposer = new MachineProposer(
      clusterWith([node('n1', { hostname: 'h1' }), node('n2', { hostname: 'h2' }), node('n3', { hostname: 'h3' }), node('n4', { hostname: 'h4', state: 'down' })]),
    );
  });

  const call = <T = any>(method: string, url: string, body?: unknown) => request<T>(socket, method, `/v1.41${url}`, body);

  it('warns on create of each held port, naming the nodes that report it (not those down), why, and what to do', async () => {
    // A service that published 8080 was removed; h2 and h3 had not opened it, and h4 (down now) had not either.
    report(proposer, 'n2', [held(8080, 'gone'), held(5000, 'gone', 'udp')]);
    report(proposer, 'n3', [held(8080, 'gone')]);
    report(proposer, 'n4', [held(8080, 'gone'), held(9090, 'gone')]);
    const created = await call<{ ID: string; Warnings?: string[] }>('POST', '/services/create', web([{ PublishedPort: 8080 }, { PublishedPort: 9090 }, { PublishedPort: 5000 }]));
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.Warnings, [
      'published port 8080/tcp is held by another program on node(s) h2, h3 (address already in use): the routing mesh opens it there as soon as ' +
        'it is free; stop that program or move it to another port, or publish another port',
    ]);
  });

  it('warns on update while the service\'s port is still held, and not once it publishes another', async () => {
    const created = await call<{ ID: string; Warnings?: string[] }>('POST', '/services/create', web([{ PublishedPort: 8080 }]));
    assert.equal(created.body.Warnings, undefined, 'no node has reported anything');
    report(proposer, 'n2', [held(8080, created.body.ID)]);
    const service = (await call<Service>('GET', `/services/${created.body.ID}`)).body;
    const update = (spec: ServiceSpec) => call<{ Warnings: string[] }>('POST', `/services/${service.ID}/update?version=${proposer.state.services[service.ID]!.Version.Index}`, spec);

    const same = await update({ ...service.Spec, Labels: { tier: 'front' } });
    assert.equal(same.status, 200);
    assert.equal(same.body.Warnings.length, 1);
    assert.match(same.body.Warnings[0]!, /^published port 8080\/tcp is held by another program on node\(s\) h2 \(address already in use\)/);

    const moved = await update({ ...service.Spec, EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8081 }] } });
    assert.equal(moved.status, 200);
    assert.deepEqual(moved.body.Warnings, []);
  });

  it('words the other causes by what fixes them, and counts the nodes past five', () => {
    const machine = clusterWith(Array.from({ length: 8 }, (_, i) => node(`n${i}`, { hostname: `h${i}` })));
    const reports = (nodeId: string, conflicts: MeshPortConflict[]) => (machine.state.nodes[nodeId]!.Description.MeshPortConflicts = conflicts);
    reports('n0', [held(80, 's', 'tcp', 'permission denied')]);
    reports('n1', [held(53, 's', 'udp', 'address not available'), held(80, 's')]);
    // 53/tcp is published in host mode: the routing mesh does not open it, whatever a node says.
    reports('n2', [held(53, 's'), held(80, 's')]);
    for (let i = 3; i < 8; i++) reports(`n${i}`, [held(80, 's')]);
    const spec = web([{ PublishedPort: 80 }, { PublishedPort: 53, Protocol: 'udp' }, { PublishedPort: 53, PublishMode: 'host' }]) as ServiceSpec;
    assert.deepEqual(meshPortWarnings(machine.state, spec), [
      'published port 80/tcp cannot be opened on node(s) h0 (permission denied): a port below 1024 needs the daemon to run as root or with ' +
        'CAP_NET_BIND_SERVICE; the routing mesh keeps trying there, or publish a port above 1023',
      'published port 80/tcp is held by another program on node(s) h1, h2, h3, h4, h5 and 2 more (address already in use): the routing mesh ' +
        'opens it there as soon as it is free; stop that program or move it to another port, or publish another port',
      'published port 53/udp cannot be opened on node(s) h1 (address not available): the routing mesh keeps trying there; see the daemon\'s ' +
        'log on those nodes, or publish another port',
    ]);
  });
});
