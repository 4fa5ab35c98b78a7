/**
 * Rolling updates and rollbacks in the pure manager: the Sim commits each pass's decisions as the reconciler does and
 * plays the agents, with time moved by hand. What the real hosts add (containers, the mesh, a leader killed mid-way)
 * is in test/cluster/update.test.ts.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceSpec, Task, UpdateConfig } from '../../src/api/types.ts';
import { isLive } from '../../src/manager/state/cluster-state.ts';
import { clusterWith, iso, node, spec, T0, tasksOf } from '../helpers/fixtures.ts';
import { Sim } from '../helpers/sim.ts';

const SECOND = 1_000_000_000;
const live = (sim: Sim, name = 'web') => tasksOf(sim.state, name).filter(isLive);
const running = (sim: Sim, name = 'web') => live(sim, name).filter((t) => t.Status.State === 'running');
const withImage = (tasks: Task[], image: string) => tasks.filter((t) => t.Spec.ContainerSpec.Image === image);
const status = (sim: Sim, id = 's1') => sim.state.services[id]!.UpdateStatus;

function create(sim: Sim, replicas: number, update: UpdateConfig = {}, extra: Partial<ServiceSpec> = {}): void {
  sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('web', { replicas, UpdateConfig: update, ...extra }), now: iso(sim.now) });
  sim.settle();
  sim.runAssigned();
  sim.settle();
}

function update(sim: Sim, change: (next: ServiceSpec) => void, rollback?: string): void {
  const service = sim.state.services.s1!;
  const next = structuredClone(service.Spec);
  change(next);
  sim.machine.apply({ type: 'service.update', id: 's1', version: service.Version.Index, spec: next, now: iso(sim.now), ...(rollback ? { rollback } : {}) });
}

const toImage = (image: string) => (next: ServiceSpec) => (next.TaskTemplate.ContainerSpec.Image = image);

/** Agents start what was assigned, time moves on, the manager passes; `fail` decides which new tasks die instead. */
function step(sim: Sim, ms: number, fail: (task: Task) => boolean = () => false): void {
  for (const task of live(sim)) {
    if (task.Status.State === 'assigned' && fail(task)) sim.report(task.ID, 'failed', { err: 'task: container unhealthy', exitCode: 1 });
  }
  sim.runAssigned();
  sim.settle();
  sim.now += ms;
  sim.settle();
}

describe('rolling updates', () => {
  it('replaces Parallelism slots at a time, waits Delay after each is ready, and completes after Monitor', () => {
    const sim = new Sim(clusterWith(), T0);
    create(sim, 6, { Parallelism: 2, Delay: 10 * SECOND, Monitor: 5 * SECOND });
    update(sim, toImage('web:2'));
    sim.settle();
    assert.equal(status(sim)?.State, 'updating');
    assert.equal(status(sim)?.StartedAt, iso(sim.now));
    assert.equal(withImage(live(sim), 'web:2').length, 2, 'the first two slots');

    const updatedOverTime: number[] = [];
    let fewestRunning = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 8; i++) {
      step(sim, 5_000);
      updatedOverTime.push(withImage(live(sim), 'web:2').length);
      fewestRunning = Math.min(fewestRunning, running(sim).length);
    }
    // Ready at once, then 10 s of delay: two more every other 5 s step.
    assert.deepEqual(updatedOverTime, [2, 4, 4, 6, 6, 6, 6, 6]);
    assert.ok(fewestRunning >= 6 - 2, `running tasks fell to ${fewestRunning}`);
    assert.equal(withImage(live(sim), 'swarmlet-test/busybox:1').length, 0);
    assert.equal(status(sim)?.State, 'completed');
    assert.equal(status(sim)?.Message, 'update completed');
    assert.ok(status(sim)?.CompletedAt);
  });

  it('is not completed before the last new task has been ready for the monitor period', () => {
    const sim = new Sim(clusterWith(), T0);
    create(sim, 1, { Monitor: 30 * SECOND });
    update(sim, toImage('web:2'));
    sim.settle();
    step(sim, 10_000);
    assert.equal(withImage(running(sim), 'web:2').length, 1);
    assert.equal(status(sim)?.State, 'updating');
    step(sim, 25_000);
    assert.equal(status(sim)?.State, 'completed');
  });

  it('with parallelism 0 replaces every slot at once', () => {
    const sim = new Sim(clusterWith(), T0);
    create(sim, 5, { Parallelism: 0 });
    update(sim, toImage('web:2'));
    sim.settle();
    assert.equal(withImage(live(sim), 'web:2').length, 5);
  });

  it('start-first keeps the old task until the new one is ready', () => {
    const sim = new Sim(clusterWith(), T0);
    create(sim, 1, { Order: 'start-first', Monitor: 0 });
    const old = live(sim)[0]!;
    update(sim, toImage('web:2'));
    sim.settle();
    assert.equal(live(sim).length, 2, 'both run while the new one starts');
    assert.equal(sim.state.tasks[old.ID]!.DesiredState, 'running');
    sim.runAssigned();
    sim.settle();
    assert.equal(sim.state.tasks[old.ID]!.DesiredState, 'shutdown', 'retired once the new one is ready');
    assert.deepEqual(live(sim).map((t) => t.Spec.ContainerSpec.Image), ['web:2']);
    assert.equal(status(sim)?.State, 'completed');
  });

  it('stop-first retires the old task in the same pass as it makes the new one', () => {
    const sim = new Sim(clusterWith(), T0);
    create(sim, 1);
    const old = live(sim)[0]!;
    update(sim, toImage('web:2'));
    sim.settle();
    assert.equal(sim.state.tasks[old.ID]!.DesiredState, 'shutdown');
    assert.equal(withImage(live(sim), 'web:2').length, 1);
  });

  it('a task still starting (its healthcheck not passed yet) keeps its slot in flight', () => {
    const sim = new Sim(clusterWith(), T0);
    create(sim, 3, { Parallelism: 1, Monitor: 0 });
    update(sim, toImage('web:2'));
    sim.settle();
    const first = withImage(live(sim), 'web:2')[0]!;
    sim.report(first.ID, 'starting');
    sim.now += 60_000;
    sim.settle();
    assert.equal(withImage(live(sim), 'web:2').length, 1, 'no second slot while the first is not healthy');
    sim.report(first.ID, 'running');
    sim.settle();
    assert.equal(withImage(live(sim), 'web:2').length, 2);
  });

  it('pauses at the first failure by default, and a new service update resumes', () => {
    const sim = new Sim(clusterWith(), T0);
    create(sim, 4, { Parallelism: 1 });
    update(sim, toImage('web:2'));
    sim.settle();
    step(sim, 1_000, (task) => task.Spec.ContainerSpec.Image === 'web:2');
    assert.equal(status(sim)?.State, 'paused');
    assert.match(status(sim)!.Message!, /^update paused: task \w+ failed while being updated: task: container unhealthy$/);
    assert.equal(status(sim)?.StartedAt, iso(T0));
    for (let i = 0; i < 5; i++) step(sim, 10_000, () => true);
    assert.equal(withImage(live(sim), 'swarmlet-test/busybox:1').length, 3, 'the other slots keep the old spec while paused');
    assert.equal(status(sim)?.State, 'paused');

    update(sim, toImage('web:3'));
    assert.equal(status(sim), undefined, 'a new update clears the status');
    sim.settle();
    assert.equal(status(sim)?.State, 'updating');
    for (let i = 0; i < 12; i++) step(sim, 6_000);
    assert.equal(withImage(live(sim), 'web:3').length, 4);
    assert.equal(status(sim)?.State, 'completed');
  });

  it('rolls back by itself when the failure action is rollback, under the rollback policy', () => {
    const sim = new Sim(clusterWith(), T0);
    create(sim, 4, {}, {});
    update(sim, (next) => {
      next.TaskTemplate.ContainerSpec.Image = 'web:2';
      next.UpdateConfig = { Parallelism: 2, FailureAction: 'rollback', Monitor: 5 * SECOND };
      next.RollbackConfig = { Parallelism: 0, Monitor: 0 };
    });
    sim.settle();
    step(sim, 1_000, (task) => task.Spec.ContainerSpec.Image === 'web:2');
    const service = sim.state.services.s1!;
    assert.equal(service.Spec.TaskTemplate.ContainerSpec.Image, 'swarmlet-test/busybox:1', 'the previous spec is back');
    assert.equal(service.PreviousSpec?.TaskTemplate.ContainerSpec.Image, 'web:2');
    assert.equal(service.Spec.RollbackConfig?.Parallelism, 0, 'under the policy of the update it undoes');
    assert.equal(status(sim)?.State, 'rollback_started');
    assert.match(status(sim)!.Message!, /^update rolled back: task \w+ failed while being updated/);
    for (let i = 0; i < 4; i++) step(sim, 2_000);
    assert.equal(withImage(live(sim), 'swarmlet-test/busybox:1').length, 4);
    assert.equal(status(sim)?.State, 'rollback_completed');
    assert.equal(status(sim)?.Message, 'rollback completed');
  });

  it('a manual rollback runs as rollback_started and ends rollback_completed; a rollback that fails pauses', () => {
    const sim = new Sim(clusterWith(), T0);
    create(sim, 2, { Monitor: 0 });
    update(sim, toImage('web:2'));
    for (let i = 0; i < 4; i++) step(sim, 1_000);
    assert.equal(status(sim)?.State, 'completed');
    update(sim, toImage('swarmlet-test/busybox:1'), 'manually requested rollback');
    assert.equal(status(sim)?.State, 'rollback_started');
    sim.settle();
    step(sim, 1_000, () => true);
    assert.equal(status(sim)?.State, 'rollback_paused');
    assert.match(status(sim)!.Message!, /^rollback paused: task \w+ failed while being rolled back/);
  });

  it('counts failures against MaxFailureRatio of the slots, and continue carries on', () => {
    const run = (config: UpdateConfig) => {
      const sim = new Sim(clusterWith(), T0);
      create(sim, 4, { Parallelism: 4, Monitor: 5 * SECOND, ...config });
      update(sim, toImage('web:2'));
      sim.settle();
      const doomed = new Set(withImage(live(sim), 'web:2').slice(0, 2).map((t) => t.ID));
      step(sim, 1_000, (task) => doomed.has(task.ID));
      return status(sim)?.State;
    };
    assert.equal(run({ MaxFailureRatio: 0.5 }), 'updating', '2 of 4 is not over 0.5');
    assert.equal(run({ MaxFailureRatio: 0.25 }), 'paused', '2 of 4 is over 0.25');
    assert.equal(run({ MaxFailureRatio: 0, FailureAction: 'continue' }), 'updating');
  });

  it('does not count a task that failed after its monitor period', () => {
    const sim = new Sim(clusterWith(), T0);
    create(sim, 2, { Parallelism: 1, Monitor: 5 * SECOND, Delay: 60 * SECOND });
    update(sim, toImage('web:2'));
    sim.settle();
    step(sim, 10_000);
    const first = withImage(running(sim), 'web:2')[0]!;
    sim.report(first.ID, 'failed', { exitCode: 1 });
    sim.settle();
    assert.equal(status(sim)?.State, 'updating');
  });

  it('a new leader carries the update on from the replicated state, without starting over', () => {
    const sim = new Sim(clusterWith(), T0);
    create(sim, 6, { Parallelism: 2, Delay: 10 * SECOND });
    update(sim, toImage('web:2'));
    sim.settle();
    step(sim, 5_000);
    const started = status(sim)?.StartedAt;
    const updated = new Set(withImage(live(sim), 'web:2').map((t) => t.ID));
    assert.equal(updated.size, 2);

    const successor = new Sim(sim.machine, sim.now, 99);
    successor.settle();
    assert.equal(withImage(live(successor), 'web:2').length, 2, 'the delay is still running: nothing new');
    successor.now += 6_000;
    successor.settle();
    const now = withImage(live(successor), 'web:2');
    assert.equal(now.length, 4);
    assert.ok([...updated].every((id) => now.some((t) => t.ID === id)), 'tasks already updated are kept');
    assert.equal(status(successor)?.StartedAt, started);
  });

  it('a decision about a spec replaced since is dropped', () => {
    const sim = new Sim(clusterWith(), T0);
    create(sim, 1);
    const version = sim.state.services.s1!.Version.Index;
    update(sim, toImage('web:2'));
    sim.machine.apply({ type: 'service.status', updates: [{ id: 's1', version, status: { State: 'completed' } }], now: iso(sim.now) });
    assert.equal(status(sim), undefined);
  });

  it('updates a global service node by node', () => {
    const sim = new Sim(clusterWith([node('n1'), node('n2'), node('n3')]), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('web', { Mode: { Global: {} }, UpdateConfig: { Parallelism: 1, Monitor: 0 } }), now: iso(T0) });
    sim.settle();
    sim.runAssigned();
    sim.settle();
    update(sim, toImage('web:2'));
    sim.settle();
    assert.equal(withImage(live(sim), 'web:2').length, 1);
    for (let i = 0; i < 4; i++) step(sim, 1_000);
    assert.equal(withImage(live(sim), 'web:2').length, 3);
    assert.deepEqual(new Set(live(sim).map((t) => t.NodeID)), new Set(['n1', 'n2', 'n3']));
    assert.equal(status(sim)?.State, 'completed');
  });

  it('records when a task first ran, in the managers\' clock, and keeps it through later reports', () => {
    const sim = new Sim(clusterWith(), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('web'), now: iso(sim.now) });
    sim.settle();
    const [task] = live(sim);
    sim.report(task!.ID, 'starting');
    assert.equal(sim.state.tasks[task!.ID]!.ReadyAt, undefined, 'starting (healthcheck pending) is not ready');
    sim.now += 3_000;
    sim.report(task!.ID, 'running');
    assert.equal(sim.state.tasks[task!.ID]!.ReadyAt, iso(T0 + 3_000));
    sim.now += 3_000;
    sim.report(task!.ID, 'running');
    assert.equal(sim.state.tasks[task!.ID]!.ReadyAt, iso(T0 + 3_000));
  });

  it('a scale-only update starts no rolling update', () => {
    const sim = new Sim(clusterWith(), T0);
    create(sim, 2);
    update(sim, (next) => (next.Mode = { Replicated: { Replicas: 3 } }));
    sim.settle();
    assert.equal(status(sim), undefined);
  });
});
