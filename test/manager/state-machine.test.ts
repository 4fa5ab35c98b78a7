import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task, TaskState } from '../../src/api/types.ts';
import { SwarmletError } from '../../src/errors.ts';
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
});
