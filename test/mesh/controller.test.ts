/**
 * The routing mesh driven by its table, on loopback: two nodes, each with a MeshController; the table says which
 * tasks of a service run where; a published port answers on both nodes and reaches tasks on either; a table without
 * the service closes the port; a task no longer in the table is not reached. And the table itself, from the state.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { meshTable, type MeshTable } from '../../src/manager/mesh-table.ts';
import { MeshController } from '../../src/mesh/controller.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { newTask } from '../../src/manager/orchestrator/task-factory.ts';
import { networkSpec } from '../../src/manager/state/networks.ts';
import { clusterWith, iso, node, nodeImage, spec, T0 } from '../helpers/fixtures.ts';
import { connect, type Socket } from 'node:net';
import { echo, EchoBackend, peerNetworks, roundTrip } from './helpers.ts';

let mesh: Awaited<ReturnType<typeof peerNetworks>>;
const controllers: MeshController[] = [];
const containers = new Map<string, EchoBackend>();
let target = 0;

/** A free port to publish: listened on and closed again. */
async function freePort(): Promise<number> {
  const probe = await EchoBackend.listen('127.0.0.1');
  const port = probe.port;
  await new Promise<void>((resolve) => probe.server.close(() => resolve()));
  return port;
}

/** A connection through `port` on `host`, once connected; the caller ends it. */
function openAt(port: number, host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, allowHalfOpen: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function table(published: number, backends: Array<[taskId: string, nodeId: string]>): MeshTable {
  return {
    services: [{
      serviceId: 'web',
      ports: [{ published, target, protocol: 'tcp' }],
      backends: backends.map(([taskId, nodeId]) => ({ taskId, nodeId, containerId: `c-${taskId}` })),
    }],
  };
}

before(async () => {
  mesh = await peerNetworks('n1', 'n2');
  const first = await EchoBackend.listen('127.0.0.2');
  target = first.port;
  containers.set('c-t1', first);
  containers.set('c-t2', await EchoBackend.listen('127.0.0.3', target));
  for (const [nodeId, host] of [['n1', '127.0.0.1'], ['n2', '127.0.0.6']] as const) {
    const controller = new MeshController({
      selfId: nodeId,
      peers: () => mesh.networks.get(nodeId)!,
      containerAddress: async (id) => containers.get(id)?.host ?? null,
      log: silentLogger,
      // Two nodes on one machine: each listens on its own loopback address, as each host would on its own.
      host,
    });
    controller.serve(mesh.networks.get(nodeId)!);
    controllers.push(controller);
  }
});

after(async () => {
  for (const controller of controllers) await controller.stop();
  for (const container of containers.values()) await new Promise<void>((resolve) => container.server.close(() => resolve()));
  await mesh.stop();
});

describe('routing mesh controller', () => {
  it('opens the published port on every node and reaches the tasks on either, then closes it with the service', async () => {
    const [n1, n2] = controllers as [MeshController, MeshController];
    const published = await freePort();
    // t1 runs on n1, t2 on n2; each node is told the same table, as the leader pushes it.
    const current = table(published, [['t1', 'n1'], ['t2', 'n2']]);
    await Promise.all([n1.update(current), n2.update(current)]);
    assert.deepEqual(n1.ports, [`${published}/tcp`]);
    assert.deepEqual(n2.ports, [`${published}/tcp`]);

    // Through either node's port, both tasks answer: the node's own directly, the other's over a mesh stream.
    for (const host of ['127.0.0.1', '127.0.0.6']) {
      const before = [...containers.values()].map((c) => c.accepted.length);
      for (let i = 0; i < 4; i++) assert.match((await roundTrip(published, Buffer.from(`hello ${i}`), host)).reply.toString(), /^hello \d+bye$/);
      const after = [...containers.values()].map((c) => c.accepted.length);
      assert.ok(after.every((n, i) => n > before[i]!), `through ${host}, both tasks answered: ${before} -> ${after}`);
    }

    // t2 leaves the table: n1 no longer sends to it, and n2 no longer serves it to anyone.
    await Promise.all([n1.update(table(published, [['t1', 'n1']])), n2.update(table(published, [['t1', 'n1']]))]);
    const before = containers.get('c-t2')!.accepted.length;
    for (let i = 0; i < 4; i++) await roundTrip(published, Buffer.from('again'));
    assert.equal(containers.get('c-t2')!.accepted.length, before);

    await Promise.all([n1.update({ services: [] }), n2.update({ services: [] })]);
    assert.deepEqual(n1.ports, []);
    await assert.rejects(roundTrip(published, Buffer.from('closed?')), /ECONNREFUSED/);
  });

  it('sends the backend a PROXY v2 header with the client\'s address when the service asks for it, through either node', async () => {
    const [n1, n2] = controllers as [MeshController, MeshController];
    const published = await freePort();
    const proxied: MeshTable = { services: [{ ...table(published, [['t1', 'n1']]).services[0]!, proxyProtocol: true }] };
    await Promise.all([n1.update(proxied), n2.update(proxied)]);
    const t1 = containers.get('c-t1')!;
    for (const host of ['127.0.0.1', '127.0.0.6']) {
      const { reply, localPort } = await roundTrip(published, Buffer.from('who am i'), host);
      assert.equal(reply.toString(), 'who am ibye');
      assert.equal(t1.accepted.at(-1)!.proxy?.source, `127.0.0.1:${localPort}`, `through ${host}, the task saw the client's address`);
    }
    // Without the flag the same listener is replaced by one that sends no header.
    await Promise.all([n1.update(table(published, [['t1', 'n1']])), n2.update(table(published, [['t1', 'n1']]))]);
    await roundTrip(published, Buffer.from('plain'));
    assert.equal(t1.accepted.at(-1)!.proxy, null);
    await Promise.all([n1.update({ services: [] }), n2.update({ services: [] })]);
  });

  it('drains a task on its own node: clients that came in through another node finish, new ones go elsewhere, the grace cuts the rest', async () => {
    const [n1, n2] = controllers as [MeshController, MeshController];
    const published = await freePort();
    // One connection through n2 to t1 on n1 (the only task in the table yet).
    await Promise.all([n1.update(table(published, [['t1', 'n1']])), n2.update(table(published, [['t1', 'n1']]))]);
    const long = await openAt(published, '127.0.0.6');
    assert.equal(await echo(long, 'first'), 'first');

    // t2 starts; then t1 is stopped. n2 still has the old table (the leader's next one has not arrived).
    const both = table(published, [['t1', 'n1'], ['t2', 'n2']]);
    await Promise.all([n1.update(both), n2.update(both)]);
    let drained = false;
    const drain = n1.drainTask('t1', 10_000).then(() => (drained = true));
    const t1 = containers.get('c-t1')!;
    const acceptedBefore = t1.accepted.length;
    // New clients through either node reach t2 only: n1 refuses n2's streams to t1, and n2 tries t2 instead.
    for (const host of ['127.0.0.1', '127.0.0.6']) {
      for (let i = 0; i < 3; i++) assert.equal((await roundTrip(published, Buffer.from('new'), host)).reply.toString(), 'newbye');
    }
    assert.equal(t1.accepted.length, acceptedBefore, 'the draining task took no new connection');
    // The connection in flight is untouched and the drain waits for it.
    assert.equal(await echo(long, 'still there'), 'still there');
    assert.equal(drained, false);
    long.end();
    await drain;

    // The grace running out ends the drain, so a client that never lets go does not hold a stop up for longer; its
    // connection is left to the task's own shutdown (SIGTERM next), not reset by the mesh.
    await Promise.all([n1.update(table(published, [['t2', 'n2']])), n2.update(table(published, [['t2', 'n2']]))]);
    const stuck = await openAt(published, '127.0.0.1');
    assert.equal(await echo(stuck, 'stuck'), 'stuck');
    const started = performance.now();
    await n2.drainTask('t2', 200);
    const took = performance.now() - started;
    assert.ok(took >= 150 && took < 2_000, `the drain ended when the 200 ms grace ran out (after ${took.toFixed(0)} ms)`);
    assert.equal(await echo(stuck, 'still'), 'still');
    stuck.destroy();
    await Promise.all([n1.update({ services: [] }), n2.update({ services: [] })]);
  });

  it('tables the running tasks of services with ingress ports, leaving out tasks not running or on down nodes', () => {
    const machine = clusterWith([node('n1'), node('n2'), node('n3', { state: 'down' })]);
    const web = spec('web', { replicas: 3 });
    web.EndpointSpec = { Ports: [{ TargetPort: 80, PublishedPort: 8080 }, { TargetPort: 53, PublishedPort: 5353, Protocol: 'udp' }, { TargetPort: 9, PublishedPort: 9, PublishMode: 'host' }] };
    machine.apply({ type: 'service.create', id: 's1', spec: web, now: iso(T0) });
    machine.apply({ type: 'service.create', id: 's2', spec: spec('quiet'), now: iso(T0) });
    const task = (id: string, nodeId: string, state: 'running' | 'starting', desired: 'running' | 'shutdown' = 'running') => ({
      ID: id, Version: { Index: 0 }, CreatedAt: iso(T0), UpdatedAt: iso(T0), Spec: web.TaskTemplate, ServiceID: 's1', NodeID: nodeId, Slot: 1,
      Status: { Timestamp: iso(T0), State: state, Message: '', ContainerStatus: { ContainerID: `c-${id}`, PID: 1, ExitCode: 0 } }, DesiredState: desired,
    });
    for (const t of [task('a', 'n1', 'running'), task('b', 'n2', 'starting'), task('c', 'n3', 'running'), task('d', 'n2', 'running', 'shutdown'), task('e', 'n2', 'running')]) {
      machine.state.tasks[t.ID] = t;
    }
    // Members' transport addresses: only the nodes with backends are tabled, so a worker can reach the others.
    const member = (addr: string) => ({ addr }) as NonNullable<typeof machine.state.security>['members'][string];
    machine.state.security = { ...machine.state.security!, members: { n1: member('10.77.0.11:4242'), n2: member('10.77.0.12:4242'), n3: member('10.77.0.13:4242') } };
    assert.deepEqual(meshTable(machine.state), {
      services: [{
        serviceId: 's1',
        ports: [{ published: 8080, target: 80, protocol: 'tcp' }, { published: 5353, target: 53, protocol: 'udp' }],
        backends: [{ taskId: 'a', nodeId: 'n1', containerId: 'c-a' }, { taskId: 'e', nodeId: 'n2', containerId: 'c-e' }],
      }],
      addresses: { n1: '10.77.0.11:4242', n2: '10.77.0.12:4242' },
      members: ['n1', 'n2', 'n3'],
    });
    machine.state.security.revoked = { n3: iso(T0) };
    assert.deepEqual(meshTable(machine.state).members, ['n1', 'n2'], 'a removed node is no member');
  });

  it('tables overlay networks: names, VIPs (a service with no task too), serving tasks with their addresses, and the ports from EXPOSE, publish and the label', () => {
    const image = { ...nodeImage(['swarmlet-test/app:1']), ExposedPorts: ['80/tcp', '9000/sctp'] };
    const machine = clusterWith([node('n1', { images: [image] }), node('n2')]);
    machine.apply({ type: 'network.create', id: 'net1', spec: networkSpec({ name: 'appnet' }), subnet: '10.0.1.0/24', gateway: '10.0.1.1', now: iso(T0) });
    const api = spec('api', { replicas: 2, image: 'swarmlet-test/app:1' });
    api.Labels = { 'com.swarmlet.expose': '53/udp' };
    api.TaskTemplate.Networks = [{ Target: 'net1', Aliases: ['backend'] }];
    api.EndpointSpec = { Ports: [{ TargetPort: 8443, PublishedPort: 443 }] };
    machine.apply({ type: 'service.create', id: 's1', spec: api, now: iso(T0) });
    // Scaled to 0: no task, yet its name must resolve (to its VIP) wherever the network is.
    const idle = spec('idle', { replicas: 0 });
    idle.TaskTemplate.Networks = [{ Target: 'net1' }];
    machine.apply({ type: 'service.create', id: 's2', spec: idle, now: iso(T0) });
    const tasks = [0, 1].map((i) => ({ ...newTask(machine.state.services.s1!, `t${i}`, iso(T0), { slot: i + 1 }), NodeID: `n${i + 1}` }));
    machine.apply({ type: 'tasks.put', tasks, now: iso(T0) });
    // t0 runs on n1; t1 on n2 is still starting: it holds its address and keeps n2's bridge, but takes no connection.
    machine.apply({ type: 'tasks.status', nodeId: 'n1', updates: [{ taskId: 't0', status: { Timestamp: iso(T0), State: 'running', Message: '', ContainerStatus: { ContainerID: 'c0' } } }], now: iso(T0) });
    machine.apply({ type: 'tasks.status', nodeId: 'n2', updates: [{ taskId: 't1', status: { Timestamp: iso(T0), State: 'starting', Message: '', ContainerStatus: { ContainerID: 'c1' } } }], now: iso(T0) });
    const [network] = meshTable(machine.state).networks!;
    const address = (id: string) => machine.state.tasks[id]!.NetworksAttachments![0]!.Addresses[0]!.split('/')[0]!;
    assert.deepEqual(network, {
      networkId: 'net1', name: 'appnet', subnet: '10.0.1.0/24', gateway: '10.0.1.1', nodes: ['n1', 'n2'],
      services: [{
        serviceId: 's1', name: 'api', aliases: ['backend'], vip: machine.state.services.s1!.Endpoint!.VirtualIPs![0]!.Addr.split('/')[0],
        ports: [{ port: 53, protocol: 'udp' }, { port: 80, protocol: 'tcp' }, { port: 8443, protocol: 'tcp' }],
        tasks: [{ taskId: 't0', nodeId: 'n1', containerId: 'c0', address: address('t0') }],
      }, {
        serviceId: 's2', name: 'idle', aliases: [], vip: machine.state.services.s2!.Endpoint!.VirtualIPs![0]!.Addr.split('/')[0], ports: [], tasks: [],
      }],
    });
    assert.equal(network!.internal, undefined);
    machine.state.networks!.net1!.Spec.Internal = true;
    assert.equal(meshTable(machine.state).networks![0]!.internal, true, 'an internal network is marked, for its DNS server to forward nothing');
  });
});
