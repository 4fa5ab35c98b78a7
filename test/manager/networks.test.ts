/**
 * Swarm networks' addresses: subnets checked and picked, the layout each subnet is shared out by, virtual IPs and
 * task addresses given, kept and freed by the state machine — the same on every manager, and the in-memory index
 * always equal to one rebuilt from the stored state.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Network, Service, ServiceSpec, Task, TaskState } from '../../src/api/types.ts';
import { SwarmletError } from '../../src/errors.ts';
import { newTask } from '../../src/manager/orchestrator/task-factory.ts';
import type { Command } from '../../src/manager/state/commands.ts';
import {
  chooseAddressing,
  checkAddressing,
  makeNetwork,
  NetworkAddresses,
  networkLayout,
  networkSpec,
  parseSubnet,
  subnetsOverlap,
} from '../../src/manager/state/networks.ts';
import { StateMachine } from '../../src/manager/state/state-machine.ts';
import { clusterWith, iso, spec, T0 } from '../helpers/fixtures.ts';

const fails = (fn: () => unknown, code: string, message: RegExp) =>
  assert.throws(fn, (err: unknown) => err instanceof SwarmletError && err.code === code && message.test(err.message), `expected ${code} ${message}`);

const createNetwork = (id: string, name: string, subnet = '10.0.1.0/24', gateway = subnet.replace(/\.0\/\d+$/, '.1')): Command => ({
  type: 'network.create',
  id,
  spec: networkSpec({ name }),
  subnet,
  gateway,
  now: iso(T0),
});

const networked = (name: string, networks: string[], overrides: Partial<ServiceSpec> & { replicas?: number } = {}): ServiceSpec => {
  const base = spec(name, overrides);
  return { ...base, TaskTemplate: { ...base.TaskTemplate, Networks: networks.map((Target) => ({ Target })) } };
};

/** New tasks of a service, as the orchestrator makes them. */
const tasksOf = (service: Service, ids: string[], at = T0): Task[] => ids.map((id, i) => newTask(service, id, iso(at), { slot: i + 1 }));

const addressOf = (machine: StateMachine, taskId: string, networkId = 'net1') =>
  machine.state.tasks[taskId]!.NetworksAttachments?.find((attachment) => attachment.Network.ID === networkId)?.Addresses[0];

const report = (machine: StateMachine, taskId: string, state: TaskState) =>
  machine.apply({ type: 'tasks.status', nodeId: 'n1', updates: [{ taskId, status: { Timestamp: iso(T0), State: state, Message: state } }], now: iso(T0) });

/** A cluster with one network `net1` on 10.0.1.0/24 (or `subnet`). */
function withNetwork(subnet = '10.0.1.0/24'): StateMachine {
  const machine = clusterWith();
  machine.apply(createNetwork('net1', 'front', subnet));
  return machine;
}

/** The index kept up to date equals one rebuilt from a copy of the stored state. */
function assertIndexMatchesState(machine: StateMachine): void {
  assert.deepEqual(machine.addresses.snapshot(), new NetworkAddresses(structuredClone(machine.state)).snapshot());
}

describe('subnets', () => {
  it('reads IPv4 subnets and says what to write instead of a wrong one', () => {
    assert.deepEqual(parseSubnet('10.0.1.0/24'), { base: 0x0a000100, prefix: 24, size: 256 });
    fails(() => parseSubnet('10.0.1.5/24'), 'invalid_argument', /host bits set; use 10\.0\.1\.0\/24/);
    fails(() => parseSubnet('10.0.0.0/30'), 'invalid_argument', /between \/8 and \/29/);
    fails(() => parseSubnet('10.0.0.0/7'), 'invalid_argument', /between \/8 and \/29/);
    fails(() => parseSubnet('fd00::/64'), 'invalid_argument', /IPv4 only/);
    for (const bad of ['10.0.1.0', '10.0.1/24', '10.0.1.256/24', '010.0.1.0/24', 'ten/8', '10.0.1.0/24/1']) {
      fails(() => parseSubnet(bad), 'invalid_argument', /CIDR notation, e\.g\. 10\.0\.9\.0\/24/);
    }
    assert.ok(subnetsOverlap('10.0.0.0/16', '10.0.9.0/24'));
    assert.ok(!subnetsOverlap('10.0.0.0/24', '10.0.1.0/24'));
  });

  it('checks a gateway against its subnet', () => {
    assert.deepEqual(checkAddressing([], '10.0.9.0/24', '10.0.9.254'), { subnet: '10.0.9.0/24', gateway: '10.0.9.254' });
    fails(() => checkAddressing([], '10.0.9.0/24', '10.0.8.1'), 'invalid_argument', /gateway 10\.0\.8\.1 is not in subnet 10\.0\.9\.0\/24: use a host address/);
    fails(() => checkAddressing([], '10.0.9.0/24', '10.0.9.0'), 'invalid_argument', /network address/);
    fails(() => checkAddressing([], '10.0.9.0/24', '10.0.9.255'), 'invalid_argument', /broadcast address/);
    fails(() => checkAddressing([], '10.0.9.0/24', 'gw'), 'invalid_argument', /invalid gateway "gw"/);
  });

  it('picks the first free /24 of 10.0.0.0/8 from 10.0.1.0/24 on, around the subnets taken', () => {
    const net = (id: string, name: string, subnet: string): Network => makeNetwork({ id, spec: networkSpec({ name }), subnet, gateway: subnet.replace(/0\/\d+$/, '1'), now: iso(T0), index: 1 });
    assert.deepEqual(chooseAddressing([], {}), { subnet: '10.0.1.0/24', gateway: '10.0.1.1' });
    assert.deepEqual(chooseAddressing([net('a', 'a', '10.0.1.0/24')], {}), { subnet: '10.0.2.0/24', gateway: '10.0.2.1' });
    assert.deepEqual(chooseAddressing([net('a', 'a', '10.0.0.0/16')], {}), { subnet: '10.1.0.0/24', gateway: '10.1.0.1' });
    assert.deepEqual(chooseAddressing([net('a', 'a', '10.0.2.0/24')], {}), { subnet: '10.0.1.0/24', gateway: '10.0.1.1' }, 'a gap is filled');
    assert.deepEqual(chooseAddressing([], {}, { avoid: ['10.0.0.0/23', 'fd00::/64'] }), { subnet: '10.0.2.0/24', gateway: '10.0.2.1' }, 'the engine\'s own subnets are kept clear of');
    const swarm = { DefaultAddrPool: ['192.168.10.0/23'], SubnetSize: 24 };
    assert.deepEqual(chooseAddressing([], {}, { swarm }), { subnet: '192.168.11.0/24', gateway: '192.168.11.1' });
    fails(() => chooseAddressing([net('a', 'a', '192.168.11.0/24')], {}, { swarm }), 'conflict', /no free \/24 subnet is left in the address pool 192\.168\.10\.0\/23: remove networks .* or give one with --subnet/);
  });

  it('takes the subnet asked for unless it overlaps another network, with the first host as the default gateway', () => {
    const taken = makeNetwork({ id: 'a', spec: networkSpec({ name: 'back' }), subnet: '10.0.0.0/16', gateway: '10.0.0.1', now: iso(T0), index: 1 });
    assert.deepEqual(chooseAddressing([taken], { subnet: '10.9.0.0/22' }), { subnet: '10.9.0.0/22', gateway: '10.9.0.1' });
    assert.deepEqual(chooseAddressing([taken], { subnet: '10.9.0.0/22', gateway: '10.9.3.254' }), { subnet: '10.9.0.0/22', gateway: '10.9.3.254' });
    fails(() => chooseAddressing([taken], { subnet: '10.0.7.0/24' }), 'conflict', /subnet 10\.0\.7\.0\/24 overlaps the subnet 10\.0\.0\.0\/16 of network back: choose a subnet outside/);
    fails(() => chooseAddressing([], { gateway: '10.0.9.1' }), 'invalid_argument', /a gateway needs its subnet: give both, e\.g\. --subnet 10\.0\.9\.0\/24 --gateway 10\.0\.9\.1/);
  });
});

describe('layout', () => {
  it('shares a /24 out as the gateway, .2-.191 for the cluster and the top /26 for each node\'s engine', () => {
    assert.deepEqual(networkLayout('10.0.1.0/24', '10.0.1.1'), {
      subnet: '10.0.1.0/24',
      prefixLength: 24,
      gateway: '10.0.1.1',
      cluster: { first: '10.0.1.2', last: '10.0.1.191', size: 190 },
      local: { range: '10.0.1.192/26', first: '10.0.1.192', last: '10.0.1.254', size: 63 },
    });
  });

  it('leaves at most 4096 addresses to the engine, and at least one on a /29', () => {
    const wide = networkLayout('10.1.0.0/16', '10.1.0.1');
    assert.deepEqual(wide.cluster, { first: '10.1.0.2', last: '10.1.239.255', size: 61438 });
    assert.deepEqual(wide.local, { range: '10.1.240.0/20', first: '10.1.240.0', last: '10.1.255.254', size: 4095 });
    const small = networkLayout('10.0.9.0/29', '10.0.9.1');
    assert.deepEqual(small.cluster, { first: '10.0.9.2', last: '10.0.9.5', size: 4 });
    assert.deepEqual(small.local, { range: '10.0.9.6/31', first: '10.0.9.6', last: '10.0.9.6', size: 1 });
  });

  it('skips a gateway given inside the cluster range, and leaves one in the top block to the engine', () => {
    assert.deepEqual(networkLayout('10.0.1.0/24', '10.0.1.100').cluster, { first: '10.0.1.1', last: '10.0.1.191', size: 190 });
    const top = networkLayout('10.0.1.0/24', '10.0.1.254');
    assert.deepEqual(top.cluster, { first: '10.0.1.1', last: '10.0.1.191', size: 191 });
    assert.equal(top.local.size, 62);
  });

  it('keeps the cluster range and the engine\'s block apart for every prefix length', () => {
    for (let prefix = 8; prefix <= 29; prefix++) {
      const layout = networkLayout(`10.0.0.0/${prefix}`, '10.0.0.1');
      const value = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
      assert.ok(value(layout.cluster.last) < value(layout.local.first), `/${prefix}`);
      assert.ok(layout.cluster.size >= 4 && layout.local.size >= 1 && layout.local.size <= 4095, `/${prefix}`);
    }
  });
});

describe('virtual IPs', () => {
  it('gives a vip service one address per network, keeps it across updates and frees it when the network is left', () => {
    const machine = withNetwork();
    machine.apply(createNetwork('net2', 'back', '10.0.2.0/24'));
    machine.apply({ type: 'service.create', id: 's1', spec: networked('web', ['net1', 'net2']), now: iso(T0) });
    machine.apply({ type: 'service.create', id: 's2', spec: networked('api', ['net1']), now: iso(T0) });
    assert.deepEqual(machine.state.services.s1!.Endpoint!.VirtualIPs, [
      { NetworkID: 'net1', Addr: '10.0.1.2/24' },
      { NetworkID: 'net2', Addr: '10.0.2.2/24' },
    ]);
    assert.deepEqual(machine.state.services.s2!.Endpoint!.VirtualIPs, [{ NetworkID: 'net1', Addr: '10.0.1.3/24' }]);

    const update = (id: string, next: ServiceSpec) =>
      machine.apply({ type: 'service.update', id, version: machine.state.services[id]!.Version.Index, spec: next, now: iso(T0 + 1) });
    update('s1', networked('web', ['net2', 'net1'], { replicas: 3 }));
    assert.deepEqual(machine.state.services.s1!.Endpoint!.VirtualIPs, [
      { NetworkID: 'net2', Addr: '10.0.2.2/24' },
      { NetworkID: 'net1', Addr: '10.0.1.2/24' },
    ], 'kept, in the spec\'s order');
    update('s1', networked('web', ['net2']));
    assert.deepEqual(machine.state.services.s1!.Endpoint!.VirtualIPs, [{ NetworkID: 'net2', Addr: '10.0.2.2/24' }]);
    update('s1', networked('web', ['net2'], { EndpointSpec: { Mode: 'dnsrr' } }));
    assert.equal(machine.state.services.s1!.Endpoint!.VirtualIPs, undefined, 'dnsrr holds none');
    assert.equal(machine.addresses.inUse('net2'), 0);
    update('s1', networked('web', ['net1']));
    assert.deepEqual(machine.state.services.s1!.Endpoint!.VirtualIPs, [{ NetworkID: 'net1', Addr: '10.0.1.4/24' }], 'in turn: .2 was freed last, .4 is next');
    machine.apply({ type: 'service.remove', id: 's1', now: iso(T0 + 2) });
    assert.equal(machine.addresses.inUse('net1'), 1);
    assertIndexMatchesState(machine);
  });

  it('refuses a service whose network is unknown, named twice, or full, and stores nothing', () => {
    const machine = withNetwork('10.0.9.0/29');
    const before = JSON.stringify(machine.state);
    fails(() => machine.apply({ type: 'service.create', id: 's1', spec: networked('web', ['nope']), now: iso(T0) }), 'not_found', /^network nope not found$/);
    fails(() => machine.apply({ type: 'service.create', id: 's1', spec: networked('web', ['net1', 'net1']), now: iso(T0) }), 'invalid_argument', /network front is attached to service web twice/);
    assert.equal(JSON.stringify(machine.state), before);
    for (let i = 0; i < 4; i++) machine.apply({ type: 'service.create', id: `s${i}`, spec: networked(`svc${i}`, ['net1']), now: iso(T0) });
    const full = JSON.stringify(machine.state);
    fails(
      () => machine.apply({ type: 'service.create', id: 's9', spec: networked('late', ['net1']), now: iso(T0) }),
      'conflict',
      /network front \(10\.0\.9\.0\/29\) has no free address left for service late's virtual IP: all 4 are in use\. Remove services .* larger subnet/,
    );
    assert.equal(JSON.stringify(machine.state), full);
    assertIndexMatchesState(machine);
  });
});

describe('task addresses', () => {
  it('gives each new task an address on each of its networks, in turn, with the network as it is', () => {
    const machine = withNetwork();
    machine.apply({ type: 'service.create', id: 's1', spec: networked('web', ['net1'], { replicas: 3 }), now: iso(T0) });
    machine.apply({ type: 'tasks.put', tasks: tasksOf(machine.state.services.s1!, ['t1', 't2', 't3']), now: iso(T0) });
    assert.deepEqual(['t1', 't2', 't3'].map((id) => addressOf(machine, id)), ['10.0.1.3/24', '10.0.1.4/24', '10.0.1.5/24']);
    const attachment = machine.state.tasks.t1!.NetworksAttachments![0]!;
    assert.equal(attachment.Network.ID, 'net1');
    assert.equal(attachment.Network.Spec.Name, 'front');
    assert.deepEqual(attachment.Network.IPAMOptions.Configs, [{ Subnet: '10.0.1.0/24', Gateway: '10.0.1.1' }]);
    assert.equal(machine.state.addressCursors.net1, '10.0.1.6');
  });

  it('keeps a task\'s addresses while it lives, whatever a later decision carries, and frees them when it ends or is deleted', () => {
    const machine = withNetwork();
    machine.apply({ type: 'service.create', id: 's1', spec: networked('web', ['net1'], { replicas: 2 }), now: iso(T0) });
    machine.apply({ type: 'tasks.put', tasks: tasksOf(machine.state.services.s1!, ['t1', 't2']), now: iso(T0) });
    const assigned = { ...structuredClone(machine.state.tasks.t1!), NodeID: 'n1', Status: { Timestamp: iso(T0), State: 'assigned' as const, Message: '' } };
    delete assigned.NetworksAttachments;
    machine.apply({ type: 'tasks.put', tasks: [assigned], now: iso(T0) });
    assert.equal(addressOf(machine, 't1'), '10.0.1.3/24');
    assert.equal(machine.addresses.taskAddresses('net1'), 2);

    report(machine, 't1', 'failed');
    assert.equal(machine.addresses.taskAddresses('net1'), 1);
    assert.equal(addressOf(machine, 't1'), '10.0.1.3/24', 'an ended task still shows where it was');
    machine.apply({ type: 'tasks.delete', ids: ['t1', 't2'] });
    assert.equal(machine.addresses.taskAddresses('net1'), 0);
    assert.equal(machine.addresses.inUse('net1'), 1, 'the virtual IP stays');
    machine.apply({ type: 'tasks.put', tasks: tasksOf(machine.state.services.s1!, ['t3']), now: iso(T0) });
    assert.equal(addressOf(machine, 't3'), '10.0.1.5/24', 'a freed address is not handed out again at once');
    assertIndexMatchesState(machine);
  });

  it('frees the addresses of tasks ended by a service\'s or a node\'s removal', () => {
    const machine = withNetwork();
    machine.state.nodes.n2 = { ...structuredClone(machine.state.nodes.n1!), ID: 'n2', Spec: { Role: 'worker', Availability: 'active' } };
    machine.apply({ type: 'service.create', id: 's1', spec: networked('web', ['net1'], { replicas: 2 }), now: iso(T0) });
    const [onNode, pending] = tasksOf(machine.state.services.s1!, ['t1', 't2']);
    machine.apply({ type: 'tasks.put', tasks: [{ ...onNode!, NodeID: 'n2', Status: { ...onNode!.Status, State: 'running' } }, pending!], now: iso(T0) });
    machine.apply({ type: 'node.remove', id: 'n2', force: true, now: iso(T0) });
    assert.equal(machine.addresses.taskAddresses('net1'), 1);
    machine.apply({ type: 'service.remove', id: 's1', now: iso(T0) });
    assert.equal(machine.addresses.inUse('net1'), 0);
    assertIndexMatchesState(machine);
  });

  it('rejects a task whose network has no free address, with the reason, holding nothing', () => {
    const machine = withNetwork('10.0.9.0/29');
    machine.apply(createNetwork('net2', 'back', '10.0.2.0/24'));
    machine.apply({ type: 'service.create', id: 's1', spec: networked('web', ['net2', 'net1'], { replicas: 4 }), now: iso(T0) });
    const tasks = tasksOf(machine.state.services.s1!, ['t1', 't2', 't3', 't4']).map((task) => ({ ...task, NodeID: 'n1', Status: { ...task.Status, State: 'assigned' as const } }));
    machine.apply({ type: 'tasks.put', tasks, now: iso(T0 + 5) });
    assert.deepEqual(['t1', 't2', 't3'].map((id) => machine.state.tasks[id]!.Status.State), ['assigned', 'assigned', 'assigned']);
    const rejected = machine.state.tasks.t4!;
    assert.equal(rejected.Status.State, 'rejected');
    assert.equal(rejected.Status.Timestamp, iso(T0 + 5));
    assert.match(rejected.Status.Err ?? '', /^network front \(10\.0\.9\.0\/29\) has no free address left for the task: all 4 are in use/);
    assert.equal(rejected.NetworksAttachments, undefined);
    assert.equal(machine.addresses.inUse('net2'), 4, 'the address it got on the first network is free again');
    assertIndexMatchesState(machine);
  });
});

describe('network removal', () => {
  it('is refused while a service uses the network, or a task still holds an address on it', () => {
    const machine = withNetwork();
    machine.apply({ type: 'service.create', id: 's1', spec: networked('web', ['net1']), now: iso(T0) });
    machine.apply({ type: 'tasks.put', tasks: tasksOf(machine.state.services.s1!, ['t1']).map((t) => ({ ...t, NodeID: 'n1', Status: { ...t.Status, State: 'running' as const } })), now: iso(T0) });
    const before = JSON.stringify(machine.state);
    fails(() => machine.apply({ type: 'network.remove', id: 'net1', now: iso(T0) }), 'conflict', /network front is in use by service web: remove the service, or detach it with "swarmlet service update --network-rm front web", first/);
    machine.apply({ type: 'service.update', id: 's1', version: machine.state.services.s1!.Version.Index, spec: networked('web', []), now: iso(T0) });
    fails(() => machine.apply({ type: 'network.remove', id: 'net1', now: iso(T0) }), 'conflict', /network front is in use by task web\.1 \(t1\), which has not stopped yet/);
    assert.notEqual(JSON.stringify(machine.state), before);
    report(machine, 't1', 'shutdown');
    machine.apply({ type: 'network.remove', id: 'net1', now: iso(T0) });
    assert.equal(machine.state.networks.net1, undefined);
    assert.equal(machine.state.addressCursors.net1, undefined);
    fails(() => machine.apply({ type: 'network.remove', id: 'net1', now: iso(T0) }), 'not_found', /network net1 not found/);
    assertIndexMatchesState(machine);
  });
});

describe('determinism', () => {
  it('reads states written before networks existed', () => {
    const machine = clusterWith();
    const old = structuredClone(machine.state) as Partial<typeof machine.state>;
    delete old.networks;
    delete old.addressCursors;
    const restored = new StateMachine();
    restored.reset(old as typeof machine.state);
    restored.apply(createNetwork('net1', 'front'));
    assert.equal(restored.state.networks.net1!.Spec.Name, 'front');
    assert.deepEqual(new StateMachine(old as typeof machine.state).state.networks, {});
  });

  /** One step of a random workload over two networks, three services and their tasks. */
  type Step =
    | { kind: 'service'; service: number; networks: number[]; dnsrr: boolean }
    | { kind: 'remove'; service: number }
    | { kind: 'tasks'; service: number; count: number }
    | { kind: 'end'; pick: number; state: 'failed' | 'shutdown' | 'running' }
    | { kind: 'delete'; pick: number };

  const arbStep: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ kind: fc.constant('service' as const), service: fc.integer({ min: 0, max: 2 }), networks: fc.shuffledSubarray([0, 1]), dnsrr: fc.boolean() }),
    fc.record({ kind: fc.constant('remove' as const), service: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ kind: fc.constant('tasks' as const), service: fc.integer({ min: 0, max: 2 }), count: fc.integer({ min: 1, max: 5 }) }),
    fc.record({ kind: fc.constant('end' as const), pick: fc.nat(), state: fc.constantFrom('failed' as const, 'shutdown' as const, 'running' as const) }),
    fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
  );

  /** The commands a workload makes against `machine`'s state (tiny subnets, so that they fill up). */
  function commandFor(machine: StateMachine, step: Step, n: number): Command | undefined {
    const state = machine.state;
    const serviceId = 'service' in step ? `s${step.service}` : '';
    const tasks = Object.values(state.tasks).sort((a, b) => (a.ID < b.ID ? -1 : 1));
    switch (step.kind) {
      case 'service': {
        const next = networked(`svc${step.service}`, step.networks.map((i) => `net${i}`), step.dnsrr ? { EndpointSpec: { Mode: 'dnsrr' } } : {});
        const existing = state.services[serviceId];
        return existing
          ? { type: 'service.update', id: serviceId, version: existing.Version.Index, spec: next, now: iso(T0 + n) }
          : { type: 'service.create', id: serviceId, spec: next, now: iso(T0 + n) };
      }
      case 'remove':
        return state.services[serviceId] ? { type: 'service.remove', id: serviceId, now: iso(T0 + n) } : undefined;
      case 'tasks': {
        const service = state.services[serviceId];
        return service ? { type: 'tasks.put', tasks: tasksOf(service, Array.from({ length: step.count }, (_, i) => `t${n}-${i}`), T0 + n).map((t) => ({ ...t, NodeID: 'n1' })), now: iso(T0 + n) } : undefined;
      }
      case 'end': {
        const task = tasks[step.pick % Math.max(tasks.length, 1)];
        return task ? { type: 'tasks.status', nodeId: 'n1', updates: [{ taskId: task.ID, status: { Timestamp: iso(T0 + n), State: step.state, Message: '' } }], now: iso(T0 + n) } : undefined;
      }
      case 'delete': {
        const task = tasks[step.pick % Math.max(tasks.length, 1)];
        return task ? { type: 'tasks.delete', ids: [task.ID] } : undefined;
      }
    }
  }

  it('gives the same addresses on every manager, never one address twice, and keeps its index equal to the state', () => {
    fc.assert(
      fc.property(fc.array(arbStep, { minLength: 1, maxLength: 60 }), (steps) => {
        const leader = clusterWith();
        leader.apply(createNetwork('net0', 'zero', '10.0.9.0/29'));
        leader.apply(createNetwork('net1', 'one', '10.0.8.0/28'));
        const follower = new StateMachine(structuredClone(leader.state));
        steps.forEach((step, n) => {
          const command = commandFor(leader, step, n);
          if (!command) return;
          const outcome = (machine: StateMachine) => {
            try {
              machine.apply(structuredClone(command));
              return 'ok';
            } catch (err) {
              return (err as SwarmletError).code;
            }
          };
          assert.equal(outcome(follower), outcome(leader));
          // A manager that restarts from the stored state carries on as one that did not.
          if (n % 7 === 3) follower.reset(JSON.parse(JSON.stringify(follower.state)));
          assertIndexMatchesState(leader);
          const held = new Set<string>();
          const hold = (networkId: string, address: string) => {
            const key = `${networkId} ${address}`;
            assert.ok(!held.has(key), `${key} is held twice`);
            held.add(key);
          };
          for (const service of Object.values(leader.state.services)) for (const vip of service.Endpoint?.VirtualIPs ?? []) hold(vip.NetworkID, vip.Addr);
          for (const task of Object.values(leader.state.tasks)) {
            if (['failed', 'shutdown', 'rejected', 'complete', 'orphaned', 'remove'].includes(task.Status.State)) continue;
            for (const attachment of task.NetworksAttachments ?? []) hold(attachment.Network.ID, attachment.Addresses[0]!);
          }
        });
        assert.deepEqual(follower.state, leader.state);
      }),
      { numRuns: 150 },
    );
  });

  it('puts 10,000 new tasks on a network in one batch quickly', () => {
    const machine = withNetwork('10.4.0.0/16');
    machine.apply({ type: 'service.create', id: 's1', spec: networked('web', ['net1'], { replicas: 10_000 }), now: iso(T0) });
    const tasks = tasksOf(machine.state.services.s1!, Array.from({ length: 10_000 }, (_, i) => `t${i}`));
    const started = performance.now();
    machine.apply({ type: 'tasks.put', tasks, now: iso(T0) });
    const elapsed = performance.now() - started;
    assert.equal(machine.addresses.taskAddresses('net1'), 10_000);
    assert.equal(addressOf(machine, 't9999'), '10.4.39.18/16');
    // About 15 ms on a laptop; the bound is generous for slow CI machines and small ARM boards.
    assert.ok(elapsed < 300, `took ${elapsed.toFixed(0)} ms`);
  });
});
