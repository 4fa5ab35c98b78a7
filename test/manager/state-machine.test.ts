import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task, TaskState } from '../../src/api/types.ts';
import { SwarmletError } from '../../src/errors.ts';
import { networkSpec } from '../../src/manager/state/networks.ts';
import { StateMachine } from '../../src/manager/state/state-machine.ts';
import { clusterWith, iso, spec, T0 } from '../helpers/fixtures.ts';

const code = (fn: () => void) => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SwarmletError, `expected a SwarmletError, got ${err}`);
    return err.code;
  }
  assert.fail('expected an error');
};

/** Task t1 in slot 1 of service `serviceId`, as an orchestrator would put it. */
function taskOf(serviceId: string, { nodeId, state }: { nodeId?: string; state: TaskState }): Task {
  return {
    ID: 't1', Version: { Index: 0 }, CreatedAt: iso(T0), UpdatedAt: iso(T0), Spec: spec('web').TaskTemplate, ServiceID: serviceId, Slot: 1,
    ...(nodeId ? { NodeID: nodeId } : {}), Status: { Timestamp: iso(T0), State: state, Message: '' }, DesiredState: 'running',
  };
}

describe('state machine', () => {
  it('refuses every change before a swarm exists, and a second init', () => {
    const machine = new StateMachine();
    assert.equal(code(() => machine.apply({ type: 'service.create', id: 's1', spec: spec('web'), now: iso(T0) })), 'unavailable');
    const cluster = clusterWith();
    const init = { ...cluster.state, swarm: cluster.state.swarm! };
    assert.equal(code(() => cluster.apply({ type: 'swarm.init', swarm: init.swarm, node: Object.values(init.nodes)[0]!, security: init.security! })), 'unavailable');
  });

  it('creates services with versions and refuses duplicate names without changing anything', () => {
    const machine = clusterWith();
    machine.apply({ type: 'service.create', id: 's1', spec: spec('web'), now: iso(T0) });
    const before = JSON.stringify(machine.state);
    assert.equal(code(() => machine.apply({ type: 'service.create', id: 's2', spec: spec('web'), now: iso(T0) })), 'conflict');
    assert.equal(JSON.stringify(machine.state), before);
    assert.equal(machine.state.services.s1!.Version.Index, machine.state.index);
  });

  it('rejects an update against a stale version (Docker ?version= semantics) and keeps the previous spec', () => {
    const machine = clusterWith();
    machine.apply({ type: 'service.create', id: 's1', spec: spec('web'), now: iso(T0) });
    const version = machine.state.services.s1!.Version.Index;
    machine.apply({ type: 'service.update', id: 's1', version, spec: spec('web', { replicas: 3 }), now: iso(T0 + 1) });
    assert.equal(code(() => machine.apply({ type: 'service.update', id: 's1', version, spec: spec('web', { replicas: 5 }), now: iso(T0 + 2) })), 'conflict');
    const service = machine.state.services.s1!;
    assert.equal(service.Spec.Mode?.Replicated?.Replicas, 3);
    assert.equal(service.PreviousSpec?.Mode?.Replicated?.Replicas, 1);
  });

  it('moves task states forward only, and only from the assigned node', () => {
    const machine = clusterWith();
    machine.apply({ type: 'service.create', id: 's1', spec: spec('web'), now: iso(T0) });
    const task = taskOf('s1', { nodeId: 'n1', state: 'assigned' });
    machine.apply({ type: 'tasks.put', tasks: [task], now: iso(T0) });
    const report = (nodeId: string, state: 'running' | 'failed' | 'starting') =>
      machine.apply({ type: 'tasks.status', nodeId, updates: [{ taskId: 't1', status: { Timestamp: iso(T0), State: state, Message: '' } }], now: iso(T0) });
    report('other-node', 'running');
    assert.equal(machine.state.tasks.t1!.Status.State, 'assigned');
    report('n1', 'failed');
    report('n1', 'running');
    assert.equal(machine.state.tasks.t1!.Status.State, 'failed');
  });

  it('skips a stale decision about a task that changed since it was read', () => {
    const machine = clusterWith();
    machine.apply({ type: 'service.create', id: 's1', spec: spec('web'), now: iso(T0) });
    const task = taskOf('s1', { nodeId: 'n1', state: 'assigned' });
    machine.apply({ type: 'tasks.put', tasks: [task], now: iso(T0) });
    const read = structuredClone(machine.state.tasks.t1!);
    machine.apply({ type: 'tasks.status', nodeId: 'n1', updates: [{ taskId: 't1', status: { Timestamp: iso(T0), State: 'failed', Message: '' } }], now: iso(T0) });
    machine.apply({ type: 'tasks.put', tasks: [{ ...read, DesiredState: 'shutdown' }], now: iso(T0) });
    assert.equal(machine.state.tasks.t1!.Status.State, 'failed', 'the newer observation survives');
    assert.equal(machine.state.tasks.t1!.DesiredState, 'running');
  });

  it('marks a removed service\'s tasks for removal', () => {
    const machine = clusterWith();
    machine.apply({ type: 'service.create', id: 's1', spec: spec('web'), now: iso(T0) });
    const task = taskOf('s1', { state: 'pending' });
    machine.apply({ type: 'tasks.put', tasks: [task], now: iso(T0) });
    machine.apply({ type: 'service.remove', id: 's1', now: iso(T0) });
    assert.equal(machine.state.services.s1, undefined);
    assert.equal(machine.state.tasks.t1!.DesiredState, 'remove');
  });

  it('creates swarm networks as Docker shows them, and refuses a taken name or ID, an overlap or a bad subnet without changing anything', () => {
    const machine = clusterWith();
    const create = (id: string, name: string, subnet: string, gateway = subnet.replace(/0\/\d+$/, '1')) =>
      machine.apply({ type: 'network.create', id, spec: networkSpec({ name, labels: { team: 'a' }, options: { encrypted: '' }, attachable: true }), subnet, gateway, now: iso(T0) });
    create('net1', 'front', '10.0.1.0/24');
    assert.deepEqual(machine.state.networks.net1, {
      ID: 'net1',
      Version: { Index: machine.state.index },
      CreatedAt: iso(T0),
      UpdatedAt: iso(T0),
      Spec: {
        Name: 'front',
        Labels: { team: 'a' },
        DriverConfiguration: { Name: 'overlay', Options: { encrypted: '' } },
        Scope: 'swarm',
        Attachable: true,
        Internal: false,
        Ingress: false,
      },
      DriverState: { Name: 'overlay', Options: { encrypted: '' } },
      IPAMOptions: { Driver: { Name: 'default' }, Configs: [{ Subnet: '10.0.1.0/24', Gateway: '10.0.1.1' }] },
    });
    const before = JSON.stringify(machine.state);
    assert.equal(code(() => create('net2', 'front', '10.0.2.0/24')), 'conflict');
    assert.equal(code(() => create('net1', 'back', '10.0.2.0/24')), 'conflict');
    assert.equal(code(() => create('net2', 'back', '10.0.0.0/16')), 'conflict');
    assert.equal(code(() => create('net2', 'back', '10.0.2.9/24')), 'invalid_argument');
    assert.equal(code(() => create('net2', 'back', '10.0.2.0/24', '10.0.3.1')), 'invalid_argument');
    assert.equal(code(() => create('net2', 'bridge', '10.0.2.0/24')), 'invalid_argument');
    assert.equal(JSON.stringify(machine.state), before);
  });

  it('stores a service\'s networks by ID in its task template, moving Docker\'s deprecated top-level list there', () => {
    const machine = clusterWith();
    machine.apply({ type: 'network.create', id: 'net1', spec: networkSpec({ name: 'front' }), subnet: '10.0.1.0/24', gateway: '10.0.1.1', now: iso(T0) });
    machine.apply({ type: 'service.create', id: 's1', spec: { ...spec('web'), Networks: [{ Target: 'net1', Aliases: ['www'] }] }, now: iso(T0) });
    const stored = machine.state.services.s1!.Spec;
    assert.equal(stored.Networks, undefined);
    assert.deepEqual(stored.TaskTemplate.Networks, [{ Target: 'net1', Aliases: ['www'] }]);
    assert.equal(code(() => machine.apply({ type: 'service.update', id: 's1', version: machine.state.services.s1!.Version.Index, spec: { ...spec('web'), TaskTemplate: { ...spec('web').TaskTemplate, Networks: [{ Target: 'front' }] } }, now: iso(T0) })), 'not_found');
    assert.equal(code(() => machine.apply({ type: 'network.remove', id: 'net1', now: iso(T0) })), 'conflict');
    machine.apply({ type: 'service.remove', id: 's1', now: iso(T0) });
    machine.apply({ type: 'network.remove', id: 'net1', now: iso(T0) });
    assert.deepEqual(machine.state.networks, {});
  });

  it('forgets the networks with the swarm it leaves', () => {
    const machine = clusterWith();
    machine.apply({ type: 'network.create', id: 'net1', spec: networkSpec({ name: 'front' }), subnet: '10.0.1.0/24', gateway: '10.0.1.1', now: iso(T0) });
    machine.apply({ type: 'swarm.leave' });
    assert.deepEqual(machine.state.networks, {});
    assert.deepEqual(machine.addresses.snapshot(), {});
  });
});
