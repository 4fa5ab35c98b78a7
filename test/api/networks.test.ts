/**
 * /networks on a manager: swarm networks created, listed, inspected and removed in Docker's shapes, merged with the
 * engine's own networks (its data-plane bridges hidden), other drivers passed to the engine, and services naming
 * networks by name. The routes run on a real HTTP server on a unix socket, over a state machine and a fake engine.
 */

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { EngineNetwork, EngineNetworks } from '../../src/api/routes/networks.ts';
import type { Service } from '../../src/api/types.ts';
import { notFound } from '../../src/errors.ts';
import { networkSpec, SWARMLET_NETWORK_LABEL } from '../../src/manager/state/networks.ts';
import { seededRandom } from '../../src/util/ids.ts';
import { T0 } from '../helpers/fixtures.ts';
import { MachineProposer, serveMachineApi } from '../helpers/machine-api.ts';
import { request } from '../helpers/unix-http.ts';

/** The engine's own networks, as dockerd lists them; `front-bridge` is the data plane's side of a swarm network. */
function engineFixture(): EngineNetwork[] {
  const resource = (Name: string, Id: string, Driver: string, subnet?: string, Labels: Record<string, string> = {}): EngineNetwork => ({
    Name, Id, Created: '2026-01-01T00:00:00Z', Scope: 'local', Driver, EnableIPv4: true, EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: subnet ? [{ Subnet: subnet }] : [] }, Internal: false, Attachable: false, Ingress: false,
    ConfigFrom: { Network: '' }, ConfigOnly: false, Options: {}, Labels,
  });
  return [
    resource('bridge', 'b'.repeat(64), 'bridge', '172.17.0.0/16'),
    resource('host', 'h'.repeat(64), 'host'),
    resource('lan', 'l'.repeat(64), 'bridge', '10.0.1.0/24'),
  ];
}

interface FakeEngine extends EngineNetworks {
  networks: EngineNetwork[];
  listed: Array<string | undefined>;
  created: unknown[];
  removed: string[];
}

function fakeEngine(): FakeEngine {
  const engine: FakeEngine = {
    networks: engineFixture(),
    listed: [],
    created: [],
    removed: [],
    async list(filters) {
      engine.listed.push(filters);
      const labels: string[] = filters ? (JSON.parse(filters).label ?? []) : [];
      return engine.networks.filter((network) => labels.every((label) => {
        const [key, value] = label.split('=');
        return network.Labels?.[key!] === value;
      }));
    },
    async inspect(ref) {
      return engine.networks.find((network) => network.Id === ref || network.Name === ref || (ref.length >= 3 && network.Id.startsWith(ref)));
    },
    async create(body) {
      engine.created.push(body);
      return { Id: 'e'.repeat(64), Warning: '' };
    },
    async remove(ref) {
      if (!engine.networks.some((network) => network.Id === ref)) throw notFound(`network ${ref} not found`);
      engine.removed.push(ref);
      engine.networks = engine.networks.filter((network) => network.Id !== ref);
    },
  };
  return engine;
}

describe('/networks', () => {
  let api: Awaited<ReturnType<typeof serveMachineApi>>;
  let socket: string;
  let proposer: MachineProposer;
  let engine: FakeEngine;
  let random: ReturnType<typeof seededRandom>;

  before(async () => {
    api = await serveMachineApi(() => ({ proposer, random, engine }));
    socket = api.socket;
  });

  after(async () => {
    await api.close();
  });

  beforeEach(() => {
    proposer = new MachineProposer();
    engine = fakeEngine();
    random = seededRandom(3);
  });

  const call = <T = any>(method: string, url: string, body?: unknown) => request<T>(socket, method, `/v1.41${url}`, body);
  const createOverlay = (name: string, extra: Record<string, unknown> = {}) =>
    call<{ Id: string; Warning: string; message?: string }>('POST', '/networks/create', { Name: name, Driver: 'overlay', IPAM: { Driver: 'default', Config: [] }, Options: {}, Labels: {}, ...extra });

  it('creates an overlay network as a swarm network, on the first /24 free of the swarm and of the engine', async () => {
    const created = await createOverlay('front', { Attachable: true, Options: { encrypted: '' }, Labels: { team: 'web' } });
    assert.equal(created.status, 201);
    assert.equal(created.body.Warning, '');
    assert.match(created.body.Id, /^[0-9a-z]{25}$/);
    const network = proposer.state.networks[created.body.Id]!;
    assert.equal(network.Spec.Name, 'front');
    assert.deepEqual(network.IPAMOptions.Configs, [{ Subnet: '10.0.2.0/24', Gateway: '10.0.2.1' }], 'the engine\'s lan holds 10.0.1.0/24');
    assert.equal(engine.created.length, 0);
  });

  it('lists the engine\'s networks and the swarm\'s, in Docker\'s shape, without the data plane\'s bridges', async () => {
    const { body: { Id: id } } = await createOverlay('front', { Options: { encrypted: '' }, Labels: { team: 'web' } });
    engine.networks.push({ ...engine.networks[0]!, Name: 'front', Id: 'f'.repeat(64), Labels: { [SWARMLET_NETWORK_LABEL]: id } });
    const listed = await call<Array<Record<string, unknown>>>('GET', '/networks');
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.map((network) => `${network.Name} ${network.Scope}`), ['bridge local', 'host local', 'lan local', 'front swarm']);
    assert.deepEqual(listed.body[3], {
      Name: 'front',
      Id: id,
      Created: new Date(T0).toISOString(),
      Scope: 'swarm',
      Driver: 'overlay',
      EnableIPv4: true,
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '10.0.2.0/24', Gateway: '10.0.2.1' }] },
      Internal: false,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Options: { encrypted: '' },
      Labels: { team: 'web' },
    });
  });

  it('filters swarm networks by Docker\'s rules and hands the engine the same filters', async () => {
    await createOverlay('front', { Labels: { team: 'web' } });
    await createOverlay('back');
    const names = async (filters: Record<string, string[]>) => {
      const listed = await call<Array<{ Name: string; Scope: string }>>('GET', `/networks?filters=${encodeURIComponent(JSON.stringify(filters))}`);
      return listed.body.filter((network) => network.Scope === 'swarm').map((network) => network.Name);
    };
    assert.deepEqual(await names({ driver: ['overlay'] }), ['front', 'back']);
    assert.deepEqual(await names({ driver: ['bridge'] }), []);
    assert.deepEqual(await names({ name: ['ron'] }), ['front'], 'all or part of a name');
    assert.deepEqual(await names({ label: ['team=web'] }), ['front']);
    assert.deepEqual(await names({ scope: ['local'] }), []);
    assert.deepEqual(await names({ type: ['custom'] }), ['front', 'back']);
    assert.equal(engine.listed.at(-1), JSON.stringify({ type: ['custom'] }));
    const bad = await call('GET', `/networks?filters=${encodeURIComponent('{"color":["red"]}')}`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /invalid filter 'color'/);
  });

  it('inspects by ID, ID prefix or name — swarm first, then the engine — with Docker\'s not-found wording', async () => {
    const { body: { Id: id } } = await createOverlay('front');
    assert.deepEqual((await call('GET', '/networks/front')).body.Containers, {}, 'no local side yet');
    const container = { Name: 'web.1.task1', EndpointID: 'ep1', MacAddress: '', IPv4Address: '10.0.2.3/24', IPv6Address: '' };
    engine.networks.push({ ...engine.networks[0]!, Name: 'front-side', Id: 'f'.repeat(64), Labels: { [SWARMLET_NETWORK_LABEL]: id }, Containers: { c1: container } });
    for (const ref of [id, id.slice(0, 6), 'front']) {
      const found = await call('GET', `/networks/${ref}`);
      assert.equal(found.status, 200, ref);
      assert.equal(found.body.Id, id);
      assert.deepEqual(found.body.Containers, { c1: container }, 'this node\'s containers on it, from its local side');
    }
    assert.equal((await call('GET', `/networks/front?scope=swarm`)).body.Id, id, 'as docker service create asks');
    assert.equal((await call('GET', '/networks/lan')).body.Scope, 'local');
    assert.deepEqual((await call('GET', '/networks/lan?scope=swarm')).body, { message: 'network lan not found' });
    assert.deepEqual((await call('GET', '/networks/front?scope=local')).body, { message: 'network front not found' });
    const hidden = await call('GET', '/networks/front-side');
    assert.deepEqual([hidden.status, hidden.body], [404, { message: 'network front-side not found' }]);
    const missing = await call('GET', '/networks/nope');
    assert.deepEqual([missing.status, missing.body], [404, { message: 'network nope not found' }]);
  });

  it('shows, verbosely, each service\'s virtual IP and its tasks\' addresses', async () => {
    const { body: { Id: id } } = await createOverlay('front');
    const created = await call<{ ID: string }>('POST', '/services/create', {
      Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'img' }, Networks: [{ Target: 'front' }] }, Mode: { Replicated: { Replicas: 1 } },
    });
    const service = proposer.state.services[created.body.ID]!;
    proposer.machine.apply({
      type: 'tasks.put',
      tasks: [{ ID: 'task1', Version: { Index: 0 }, CreatedAt: '', UpdatedAt: '', Spec: service.Spec.TaskTemplate, ServiceID: service.ID, Slot: 1, NodeID: 'n1', Status: { Timestamp: '', State: 'running', Message: '' }, DesiredState: 'running' }],
      now: new Date(T0).toISOString(),
    });
    const inspected = await call('GET', `/networks/${id}?verbose=true`);
    assert.deepEqual(inspected.body.Services, {
      web: { VIP: '10.0.2.2', Ports: [], LocalLBIndex: 0, Tasks: [{ Name: 'web.1.task1', EndpointID: '', EndpointIP: '10.0.2.3', Info: { 'Host IP': '10.0.0.1' } }] },
    });
  });

  it('refuses bad requests with what to do, storing nothing', async () => {
    await createOverlay('front', { IPAM: { Config: [{ Subnet: '10.5.0.0/16' }] } });
    const before = JSON.stringify(proposer.state);
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ Name: 'front' }, 409, /^network with name front already exists: choose another name/],
      [{ Name: 'other', IPAM: { Config: [{ Subnet: '10.5.3.0/24' }] } }, 409, /subnet 10\.5\.3\.0\/24 overlaps the subnet 10\.5\.0\.0\/16 of network front/],
      [{ Name: 'other', IPAM: { Config: [{ Subnet: '10.6.0.0/33' }] } }, 400, /invalid subnet "10\.6\.0\.0\/33"/],
      [{ Name: 'other', IPAM: { Config: [{ Subnet: '10.6.0.0/24', Gateway: '10.7.0.1' }] } }, 400, /gateway 10\.7\.0\.1 is not in subnet 10\.6\.0\.0\/24/],
      [{ Name: 'other', IPAM: { Config: [{ Gateway: '10.7.0.1' }] } }, 400, /a gateway needs its subnet/],
      [{ Name: 'other', IPAM: { Config: [{ Subnet: '10.6.0.0/24', IPRange: '10.6.0.0/25' }] } }, 400, /--ip-range is not supported/],
      [{ Name: 'other', IPAM: { Config: [{ Subnet: '10.6.0.0/24' }, { Subnet: '10.7.0.0/24' }] } }, 400, /one IPv4 subnet/],
      [{ Name: 'other', EnableIPv6: true }, 400, /IPv4 only/],
      [{ Name: 'other', Ingress: true }, 400, /no ingress network/],
      [{ Name: 'bridge' }, 400, /bridge is a pre-defined network/],
      [{ Name: 'bad name' }, 400, /invalid network name "bad name"/],
      [{ Name: '' }, 400, /Name is required/],
    ];
    for (const [body, status, message] of cases) {
      const answer = await call('POST', '/networks/create', { Driver: 'overlay', ...body });
      assert.equal(answer.status, status, JSON.stringify(body));
      assert.match(answer.body.message, message);
    }
    assert.equal(JSON.stringify(proposer.state), before);
  });

  it('warns when the subnet asked for overlaps one of the engine\'s networks on this node', async () => {
    const created = await createOverlay('front', { IPAM: { Config: [{ Subnet: '10.0.1.0/25' }] } });
    assert.equal(created.status, 201);
    assert.match(created.body.Warning, /subnet 10\.0\.1\.0\/25 overlaps 10\.0\.1\.0\/24 of the engine's network lan on this node/);
  });

  it('picks again when the subnet it picked was taken through another manager meanwhile', async () => {
    proposer.beforeApply = () =>
      proposer.machine.apply({ type: 'network.create', id: 'other', spec: networkSpec({ name: 'other' }), subnet: '10.0.2.0/24', gateway: '10.0.2.1', now: '' });
    const created = await createOverlay('front');
    assert.equal(created.status, 201);
    assert.deepEqual(proposer.state.networks[created.body.Id]!.IPAMOptions.Configs[0], { Subnet: '10.0.3.0/24', Gateway: '10.0.3.1' });
  });

  it('passes other drivers to the engine unchanged, and refuses overlay off a manager', async () => {
    const body = { Name: 'local', Driver: 'bridge', IPAM: { Config: [{ Subnet: '192.168.9.0/24', IPRange: '192.168.9.0/25' }] }, Options: { 'com.docker.network.bridge.name': 'br9' } };
    const created = await call('POST', '/networks/create', body);
    assert.deepEqual([created.status, created.body], [201, { Id: 'e'.repeat(64), Warning: '' }]);
    assert.deepEqual(engine.created, [body]);
    proposer.machine.apply({ type: 'swarm.leave' });
    const refused = await createOverlay('front');
    assert.equal(refused.status, 503);
    assert.match(refused.body.message ?? '', /not a swarm manager/);
    const listed = await call<Array<{ Name: string }>>('GET', '/networks');
    assert.deepEqual(listed.body.map((network) => network.Name), ['bridge', 'host', 'lan'], 'off a manager, the engine\'s alone');
  });

  it('removes a swarm network unless a service uses it, an engine network through the engine, and never a data-plane bridge', async () => {
    const { body: { Id: id } } = await createOverlay('front');
    await call('POST', '/services/create', { Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'img' }, Networks: [{ Target: 'front' }] } });
    const inUse = await call('DELETE', '/networks/front');
    assert.equal(inUse.status, 409);
    assert.match(inUse.body.message, /network front is in use by service web/);
    await call('DELETE', '/services/web');
    assert.equal((await call('DELETE', `/networks/${id.slice(0, 5)}`)).status, 204);
    assert.deepEqual(proposer.state.networks, {});

    assert.equal((await call('DELETE', '/networks/lan')).status, 204);
    assert.deepEqual(engine.removed, ['l'.repeat(64)]);
    engine.networks.push({ ...engine.networks[0]!, Name: 'side', Id: 's'.repeat(64), Labels: { [SWARMLET_NETWORK_LABEL]: 'x' } });
    const side = await call('DELETE', '/networks/side');
    assert.equal(side.status, 409);
    assert.match(side.body.message, /side is this node's side of the swarm network x, which swarmlet manages: remove the swarm network instead/);
    assert.deepEqual((await call('DELETE', '/networks/nope')).body, { message: 'network nope not found' });
  });

  it('lets services name networks by name or ID prefix, storing the ID, and refuses unknown and local ones', async () => {
    const { body: { Id: id } } = await createOverlay('front');
    const created = await call<{ ID: string }>('POST', '/services/create', {
      Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'img' } }, Networks: [{ Target: id.slice(0, 8), Aliases: ['www'] }],
    });
    assert.equal(created.status, 201);
    const service = (await call<Service>('GET', `/services/${created.body.ID}`)).body;
    assert.deepEqual(service.Spec.TaskTemplate.Networks, [{ Target: id, Aliases: ['www'] }]);
    assert.equal(service.Spec.Networks, undefined);
    assert.deepEqual(service.Endpoint!.VirtualIPs, [{ NetworkID: id, Addr: '10.0.2.2/24' }]);

    const spec = (target: string) => ({ Name: 'api', TaskTemplate: { ContainerSpec: { Image: 'img' }, Networks: [{ Target: target }] } });
    const unknown = await call('POST', '/services/create', spec('nope'));
    assert.deepEqual([unknown.status, unknown.body], [404, { message: 'network nope not found' }]);
    const shapeless = await call('POST', '/services/create', { Name: 'api', TaskTemplate: { ContainerSpec: { Image: 'img' }, Networks: [{ Aliases: ['x'] }] } });
    assert.deepEqual([shapeless.status, shapeless.body.message], [400, 'invalid service spec at TaskTemplate.Networks.0.Target: is required: a network name or ID, e.g. {"Target": "backend"}']);
    const badAlias = await call('POST', '/services/create', { Name: 'api', TaskTemplate: { ContainerSpec: { Image: 'img' }, Networks: [{ Target: 'front', Aliases: ['no spaces'] }] } });
    assert.match(badAlias.body.message, /TaskTemplate\.Networks\.0\.Aliases\.0: an alias is a DNS name/);
    const both = await call('POST', '/services/create', { ...spec('front'), Networks: [{ Target: 'front' }] });
    assert.match(both.body.message, /networks are given both in Networks and in TaskTemplate\.Networks/);
    const local = await call('POST', '/services/create', spec('bridge'));
    assert.equal(local.status, 400);
    assert.match(local.body.message, /network bridge is a local network of this node's engine \(driver bridge\) and cannot be used with services: .*swarmlet network create --driver overlay/);
    const update = await call('POST', `/services/${created.body.ID}/update?version=${service.Version.Index}`, { ...service.Spec, TaskTemplate: { ...service.Spec.TaskTemplate, Networks: [] } });
    assert.equal(update.status, 200);
    assert.equal(proposer.state.services[created.body.ID]!.Endpoint!.VirtualIPs, undefined);
  });

  it('warns when a service on an overlay network declares no port, and refuses a malformed declaration', async () => {
    await createOverlay('mid');
    const on = (name: string, labels?: Record<string, string>) => ({ Name: name, ...(labels ? { Labels: labels } : {}), TaskTemplate: { ContainerSpec: { Image: 'img' }, Networks: [{ Target: 'mid' }] } });
    const silent = await call<{ Warnings?: string[] }>('POST', '/services/create', on('silent'));
    assert.equal(silent.status, 201);
    assert.ok(silent.body.Warnings?.some((w) => /service silent joins an overlay network but declares no port.*--label com\.swarmlet\.expose=PORT/.test(w)), JSON.stringify(silent.body));
    const declared = await call<{ Warnings?: string[] }>('POST', '/services/create', on('declared', { 'com.swarmlet.expose': '80,53/udp' }));
    assert.ok(!declared.body.Warnings?.some((w) => /declares no port/.test(w)), JSON.stringify(declared.body));
    const before = Object.keys(proposer.state.services).length;
    const malformed = await call<{ message: string }>('POST', '/services/create', on('malformed', { 'com.swarmlet.expose': '80/sctp' }));
    assert.equal(malformed.status, 400);
    assert.match(malformed.body.message, /invalid com\.swarmlet\.expose label "80\/sctp": give PORT\[\/tcp\|udp\]/);
    assert.equal(Object.keys(proposer.state.services).length, before, 'nothing stored');
    // 5353/udp is the daemons' own mDNS port.
    const mdns = await call<{ Warnings?: string[] }>('POST', '/services/create', { Name: 'resolver', TaskTemplate: { ContainerSpec: { Image: 'img' } }, EndpointSpec: { Ports: [{ TargetPort: 53, PublishedPort: 5353, Protocol: 'udp' }] } });
    assert.equal(mdns.status, 201);
    assert.ok(mdns.body.Warnings?.some((w) => /published port 5353\/udp is mDNS/.test(w)), JSON.stringify(mdns.body));
    const proxied = await call<{ message: string }>('POST', '/services/create', { Name: 'proxied', Labels: { 'com.swarmlet.proxy-protocol': 'v1' }, TaskTemplate: { ContainerSpec: { Image: 'img' } } });
    assert.equal(proxied.status, 400);
    assert.match(proxied.body.message, /invalid com\.swarmlet\.proxy-protocol label "v1": the one value is v2/);
  });
});
