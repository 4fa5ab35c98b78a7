import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceSpec } from '../../src/api/types.ts';
import { isLive } from '../../src/manager/state/cluster-state.ts';
import { clusterWith, iso, MB, node, spec, T0, tasksOf } from '../helpers/fixtures.ts';
import { Sim } from '../helpers/sim.ts';

const live = (sim: Sim, name: string) => tasksOf(sim.state, name).filter(isLive);

describe('replicated orchestrator', () => {
  it('creates one task per slot, and scales up and down', () => {
    const sim = new Sim(clusterWith(), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('web', { replicas: 3 }), now: iso(T0) });
    sim.settle();
    assert.deepEqual(live(sim, 'web').map((t) => t.Slot).sort(), [1, 2, 3]);
    assert.ok(live(sim, 'web').every((t) => t.Status.State === 'assigned' && t.NodeID === 'n1'));
    sim.runAssigned();

    const v = sim.state.services.s1!.Version.Index;
    sim.machine.apply({ type: 'service.update', id: 's1', version: v, spec: spec('web', { replicas: 1 }), now: iso(T0) });
    sim.settle();
    assert.deepEqual(live(sim, 'web').map((t) => t.Slot), [1]);
    const retired = tasksOf(sim.state, 'web').filter((t) => t.DesiredState === 'shutdown');
    assert.deepEqual(retired.map((t) => t.Slot).sort(), [2, 3]);
  });

  it('replaces an exited task after the restart delay, in the same slot', () => {
    const sim = new Sim(clusterWith(), T0);
    const s = spec('web');
    s.TaskTemplate.RestartPolicy = { Condition: 'any', Delay: 2_000_000_000 };
    sim.machine.apply({ type: 'service.create', id: 's1', spec: s, now: iso(T0) });
    sim.settle();
    sim.runAssigned();
    const first = live(sim, 'web')[0]!;
    sim.report(first.ID, 'failed', { err: 'task: non-zero exit (1)', exitCode: 1 });
    sim.settle();
    assert.equal(live(sim, 'web').length, 0, 'no replacement before the delay');
    sim.now += 2_000;
    sim.settle();
    const [replacement] = live(sim, 'web');
    assert.ok(replacement);
    assert.notEqual(replacement.ID, first.ID);
    assert.equal(replacement.Slot, 1);
    assert.equal(sim.state.tasks[first.ID]!.DesiredState, 'shutdown');
  });

  it('honours restart condition none, on-failure and max attempts', () => {
    const run = (condition: 'none' | 'on-failure' | 'any', final: 'complete' | 'failed', maxAttempts = 0) => {
      const sim = new Sim(clusterWith(), T0);
      const s = spec('job');
      s.TaskTemplate.RestartPolicy = { Condition: condition, Delay: 0, MaxAttempts: maxAttempts };
      sim.machine.apply({ type: 'service.create', id: 's1', spec: s, now: iso(T0) });
      let starts = 0;
      for (let round = 0; round < 6; round++) {
        sim.settle();
        sim.runAssigned();
        const current = live(sim, 'job')[0];
        if (!current) break;
        starts++;
        sim.report(current.ID, final, { exitCode: final === 'complete' ? 0 : 1 });
        sim.now += 1;
      }
      return starts;
    };
    assert.equal(run('none', 'failed'), 1);
    assert.equal(run('on-failure', 'complete'), 1);
    assert.equal(run('on-failure', 'failed'), 6);
    assert.equal(run('any', 'failed', 2), 3, 'the first start plus two restarts');
  });

  it('keeps a bounded history per slot', () => {
    const sim = new Sim(clusterWith(), T0);
    const s = spec('web');
    s.TaskTemplate.RestartPolicy = { Condition: 'any', Delay: 0 };
    sim.machine.apply({ type: 'service.create', id: 's1', spec: s, now: iso(T0) });
    for (let i = 0; i < 12; i++) {
      sim.settle();
      sim.runAssigned();
      sim.report(live(sim, 'web')[0]!.ID, 'failed', { exitCode: 1 });
      sim.now += 1;
    }
    sim.settle();
    assert.ok(tasksOf(sim.state, 'web').length <= 5, `history is ${tasksOf(sim.state, 'web').length}`);
  });

  it('replaces out-of-date tasks one slot at a time by default', () => {
    const sim = new Sim(clusterWith(), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('web', { replicas: 3 }), now: iso(T0) });
    sim.settle();
    sim.runAssigned();
    const v = sim.state.services.s1!.Version.Index;
    sim.machine.apply({ type: 'service.update', id: 's1', version: v, spec: spec('web', { replicas: 3, image: 'other:2' }), now: iso(T0) });
    sim.settle();
    const fresh = () => live(sim, 'web').filter((t) => t.Spec.ContainerSpec.Image === 'other:2');
    assert.equal(fresh().length, 1);
    for (let i = 0; i < 3; i++) {
      sim.runAssigned();
      sim.settle();
    }
    assert.equal(fresh().length, 3);
    assert.equal(live(sim, 'web').length, 3);
  });

  it('stops and then forgets the tasks of a removed service', () => {
    const sim = new Sim(clusterWith(), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('web', { replicas: 2 }), now: iso(T0) });
    sim.settle();
    sim.runAssigned();
    sim.machine.apply({ type: 'service.remove', id: 's1', now: iso(T0) });
    sim.settle();
    assert.equal(Object.keys(sim.state.tasks).length, 2, 'kept until their containers stop');
    sim.runAssigned();
    sim.settle();
    assert.equal(Object.keys(sim.state.tasks).length, 0);
  });
});

describe('orchestrator edge cases', () => {
  const update = (sim: Sim, id: string, change: (next: ServiceSpec) => void) => {
    const service = sim.state.services[id]!;
    const next = structuredClone(service.Spec);
    change(next);
    sim.machine.apply({ type: 'service.update', id, version: service.Version.Index, spec: next, now: iso(sim.now) });
  };

  it('ends and forgets the tasks of a removed service that never reached a node', () => {
    const sim = new Sim(clusterWith([node('n1', { memory: 10 * MB })]), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('big', { replicas: 3, reserve: 64 * MB }), now: iso(T0) });
    sim.settle();
    assert.ok(tasksOf(sim.state, 'big').every((t) => t.Status.State === 'pending'));
    sim.machine.apply({ type: 'service.remove', id: 's1', now: iso(T0) });
    sim.settle();
    assert.equal(Object.keys(sim.state.tasks).length, 0);
  });

  it('ends a pending global task when its service is removed', () => {
    const sim = new Sim(clusterWith([node('n1', { memory: 10 * MB })]), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: { ...spec('agent', { reserve: 64 * MB }), Mode: { Global: {} } }, now: iso(T0) });
    sim.settle();
    const [task] = tasksOf(sim.state, 'agent');
    assert.equal(task?.Status.State, 'pending');
    assert.equal(task?.NodeID, 'n1');
    sim.machine.apply({ type: 'service.remove', id: 's1', now: iso(T0) });
    sim.settle();
    assert.equal(Object.keys(sim.state.tasks).length, 0);
  });

  it('does not count tasks stopped by an update against MaxAttempts', () => {
    const sim = new Sim(clusterWith(), T0);
    const s = spec('web');
    s.TaskTemplate.RestartPolicy = { Condition: 'any', Delay: 0, MaxAttempts: 1 };
    sim.machine.apply({ type: 'service.create', id: 's1', spec: s, now: iso(T0) });
    for (const force of [1, 2]) {
      sim.settle();
      sim.runAssigned();
      update(sim, 's1', (next) => (next.TaskTemplate.ForceUpdate = force));
      sim.settle();
      sim.runAssigned();
    }
    sim.settle();
    sim.runAssigned();
    const [current] = live(sim, 'web');
    sim.report(current!.ID, 'failed', { exitCode: 137 });
    sim.now += 1;
    sim.settle();
    assert.equal(live(sim, 'web').length, 1, 'one restart is still allowed');
  });

  it('gives an exhausted slot a fresh start when the service is updated', () => {
    const sim = new Sim(clusterWith(), T0);
    const s = spec('web');
    s.TaskTemplate.RestartPolicy = { Condition: 'any', Delay: 0, MaxAttempts: 1 };
    sim.machine.apply({ type: 'service.create', id: 's1', spec: s, now: iso(T0) });
    for (let i = 0; i < 2; i++) {
      sim.settle();
      sim.runAssigned();
      sim.report(live(sim, 'web')[0]!.ID, 'failed', { exitCode: 1 });
      sim.now += 1;
    }
    sim.settle();
    assert.equal(live(sim, 'web').length, 0, 'the restart limit is reached');
    update(sim, 's1', (next) => (next.TaskTemplate.RestartPolicy = { Condition: 'any', Delay: 0, MaxAttempts: 5 }));
    sim.settle();
    assert.equal(live(sim, 'web').length, 1);
  });
});

describe('global orchestrator', () => {
  it('runs one task on every node that can take work', () => {
    const sim = new Sim(clusterWith([node('n1'), node('n2'), node('n3', { availability: 'drain' })]), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: { ...spec('agent'), Mode: { Global: {} } }, now: iso(T0) });
    sim.settle();
    assert.deepEqual(live(sim, 'agent').map((t) => t.NodeID).sort(), ['n1', 'n2']);
    assert.ok(live(sim, 'agent').every((t) => t.Status.State === 'assigned'));
  });

  it('runs only on the nodes its constraints admit, following label changes', () => {
    const sim = new Sim(clusterWith([node('n1', { labels: { gpio: 'yes' } }), node('n2'), node('n3', { labels: { gpio: 'yes' } })]), T0);
    const s = { ...spec('sensor'), Mode: { Global: {} } };
    s.TaskTemplate.Placement = { Constraints: ['node.labels.gpio==yes'] };
    sim.machine.apply({ type: 'service.create', id: 's1', spec: s, now: iso(T0) });
    sim.settle();
    sim.runAssigned();
    assert.deepEqual(live(sim, 'sensor').map((t) => t.NodeID).sort(), ['n1', 'n3']);
    assert.ok(!tasksOf(sim.state, 'sensor').some((t) => t.NodeID === 'n2'), 'no task left pending on a node that does not match');
    const relabel = (id: string, labels: Record<string, string>) => {
      const current = sim.state.nodes[id]!;
      sim.machine.apply({ type: 'node.update', id, version: current.Version.Index, spec: { ...current.Spec, Labels: labels }, now: iso(sim.now) });
    };
    relabel('n2', { gpio: 'yes' });
    relabel('n3', {});
    sim.settle();
    sim.runAssigned();
    sim.settle();
    assert.deepEqual(live(sim, 'sensor').map((t) => t.NodeID).sort(), ['n1', 'n2']);
  });
});

describe('self-healing when a node is lost', () => {
  const setStatus = (sim: Sim, nodeId: string, state: 'down' | 'ready') =>
    sim.machine.apply({ type: 'node.status', changes: [{ nodeId, state, message: state === 'down' ? 'heartbeat failure' : '' }], now: iso(sim.now) });

  it('refills the slots of a down node elsewhere at once, and the slot keeps one live task when it returns', () => {
    const sim = new Sim(clusterWith([node('n1'), node('n2'), node('n3')]), T0);
    const s = spec('web', { replicas: 6 });
    // A long restart delay: a lost node must not wait for it.
    s.TaskTemplate.RestartPolicy = { Condition: 'any', Delay: 60_000_000_000, MaxAttempts: 1 };
    sim.machine.apply({ type: 'service.create', id: 's1', spec: s, now: iso(T0) });
    sim.settle();
    sim.runAssigned();
    const onN3 = live(sim, 'web').filter((t) => t.NodeID === 'n3');
    assert.equal(onN3.length, 2);

    setStatus(sim, 'n3', 'down');
    sim.settle();
    const current = live(sim, 'web');
    assert.equal(current.length, 6);
    assert.ok(current.every((t) => t.NodeID !== 'n3'), 'nothing new lands on the down node');
    assert.deepEqual(current.map((t) => t.Slot).sort(), [1, 2, 3, 4, 5, 6]);
    for (const lost of onN3) {
      const task = sim.state.tasks[lost.ID]!;
      assert.equal(task.DesiredState, 'shutdown');
      assert.equal(task.Status.State, 'running', 'what a lost task does is unknown until its node reports');
    }

    // The node returns and its agent stops the replaced tasks: still six, one per slot, none on n3.
    setStatus(sim, 'n3', 'ready');
    sim.settle();
    sim.runAssigned();
    sim.settle();
    assert.equal(live(sim, 'web').length, 6);
    for (const lost of onN3) assert.equal(sim.state.tasks[lost.ID]!.Status.State, 'shutdown');
    assert.ok(live(sim, 'web').every((t) => t.Status.State === 'running'));
  });

  it('does not count a lost node against the restart policy', () => {
    const sim = new Sim(clusterWith([node('n1'), node('n2')]), T0);
    const s = spec('job');
    s.TaskTemplate.RestartPolicy = { Condition: 'on-failure', Delay: 0, MaxAttempts: 1 };
    s.TaskTemplate.Placement = { Constraints: ['node.id!=n1'] };
    sim.machine.apply({ type: 'service.create', id: 's1', spec: s, now: iso(T0) });
    sim.settle();
    sim.runAssigned();
    // One real failure uses the only attempt.
    sim.report(live(sim, 'job')[0]!.ID, 'failed', { exitCode: 1 });
    sim.settle();
    sim.runAssigned();
    assert.equal(live(sim, 'job').length, 1);
    // Losing the node is no failure of the task: it is replaced (pending until a node fits).
    setStatus(sim, 'n2', 'down');
    sim.settle();
    const [replacement] = live(sim, 'job');
    assert.ok(replacement, 'the slot is refilled');
    assert.equal(replacement.Status.State, 'pending');
    assert.match(replacement.Status.Err ?? '', /no suitable node/);
    setStatus(sim, 'n2', 'ready');
    sim.settle();
    assert.equal(live(sim, 'job')[0]!.Status.State, 'assigned');
  });

  it('moves a global service off a down node and back when it returns', () => {
    const sim = new Sim(clusterWith([node('n1'), node('n2')]), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: { ...spec('agent'), Mode: { Global: {} } }, now: iso(T0) });
    sim.settle();
    sim.runAssigned();
    const first = live(sim, 'agent').find((t) => t.NodeID === 'n2')!;
    setStatus(sim, 'n2', 'down');
    sim.settle();
    assert.deepEqual(live(sim, 'agent').map((t) => t.NodeID), ['n1']);
    assert.equal(sim.state.tasks[first.ID]!.DesiredState, 'shutdown');
    setStatus(sim, 'n2', 'ready');
    sim.settle();
    assert.deepEqual(live(sim, 'agent').map((t) => t.NodeID).sort(), ['n1', 'n2']);
  });

  it('places nothing while the leader settles, and nothing on a node that missed its heartbeats', () => {
    const sim = new Sim(clusterWith([node('n1'), node('n2'), node('n3')]), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('web', { replicas: 4 }), now: iso(T0) });
    sim.settle(20, { settling: true, unresponsive: new Set(['n2', 'n3']) });
    assert.ok(live(sim, 'web').every((t) => t.Status.State === 'pending'), 'a new leader waits for its nodes');
    sim.settle(20, { settling: false, unresponsive: new Set(['n3']) });
    const placed = live(sim, 'web').map((t) => t.NodeID).sort();
    assert.deepEqual(placed, ['n1', 'n1', 'n2', 'n2']);
  });

  it('moves the tasks of a drained node at once, and leaves a paused node\'s tasks where they are', () => {
    const sim = new Sim(clusterWith([node('n1'), node('n2'), node('n3')]), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('web', { replicas: 3 }), now: iso(T0) });
    sim.settle();
    sim.runAssigned();
    const setAvailability = (id: string, availability: 'drain' | 'pause' | 'active') => {
      const current = sim.state.nodes[id]!;
      sim.machine.apply({ type: 'node.update', id, version: current.Version.Index, spec: { ...current.Spec, Availability: availability }, now: iso(sim.now) });
    };
    setAvailability('n2', 'pause');
    sim.settle();
    assert.equal(live(sim, 'web').filter((t) => t.NodeID === 'n2').length, 1, 'pause takes no new tasks but keeps its own');
    setAvailability('n3', 'drain');
    sim.settle();
    sim.runAssigned();
    sim.settle();
    assert.deepEqual(live(sim, 'web').map((t) => t.NodeID).sort(), ['n1', 'n1', 'n2']);
    assert.ok(tasksOf(sim.state, 'web').filter((t) => t.NodeID === 'n3').every((t) => t.DesiredState === 'shutdown' && t.Status.State === 'shutdown'));
  });

  it('treats a task whose node is not in the cluster any more as lost', () => {
    const sim = new Sim(clusterWith([node('n1'), node('n2')]), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('web', { replicas: 2 }), now: iso(T0) });
    sim.settle();
    sim.runAssigned();
    delete sim.state.nodes.n2;
    sim.settle();
    assert.deepEqual(live(sim, 'web').map((t) => t.NodeID), ['n1', 'n1']);
  });
});
