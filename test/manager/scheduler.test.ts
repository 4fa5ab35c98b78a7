import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isLive } from '../../src/manager/state/cluster-state.ts';
import { parseConstraint } from '../../src/manager/scheduler/constraints.ts';
import { clusterWith, iso, MB, node, spec, T0, tasksOf } from '../helpers/fixtures.ts';
import { Sim } from '../helpers/sim.ts';

describe('scheduler', () => {
  it('keeps a task pending with Swarm\'s explanation when its reservation fits nowhere', () => {
    const sim = new Sim(clusterWith([node('n1', { memory: 100 * MB })]), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('big', { replicas: 3, reserve: 64 * MB }), now: iso(T0) });
    sim.settle();
    const tasks = tasksOf(sim.state, 'big');
    assert.equal(tasks.filter((t) => t.Status.State === 'assigned').length, 1);
    const pending = tasks.filter((t) => t.Status.State === 'pending');
    assert.equal(pending.length, 2);
    for (const task of pending) assert.equal(task.Status.Err, 'no suitable node (insufficient resources on 1 node)');
  });

  it('spreads a service over nodes and skips drained and down nodes', () => {
    const sim = new Sim(clusterWith([node('n1'), node('n2'), node('n3', { availability: 'drain' }), node('n4', { state: 'down' })]), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('web', { replicas: 4 }), now: iso(T0) });
    sim.settle();
    const perNode = new Map<string, number>();
    for (const task of tasksOf(sim.state, 'web')) perNode.set(task.NodeID!, (perNode.get(task.NodeID!) ?? 0) + 1);
    assert.deepEqual([...perNode.entries()].sort(), [['n1', 2], ['n2', 2]]);
  });

  it('applies constraints and explains them', () => {
    const sim = new Sim(clusterWith([node('n1', { labels: { ssd: 'true' } }), node('n2')]), T0);
    sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('db', { replicas: 2, TaskTemplate: { ...spec('db').TaskTemplate, Placement: { Constraints: ['node.labels.ssd==true'] } } }), now: iso(T0) });
    sim.settle();
    assert.ok(tasksOf(sim.state, 'db').every((t) => t.NodeID === 'n1'));
    sim.machine.apply({ type: 'service.create', id: 's2', spec: spec('gpu', { TaskTemplate: { ...spec('gpu').TaskTemplate, Placement: { Constraints: ['node.labels.gpu==yes'] } } }), now: iso(T0) });
    sim.settle();
    assert.equal(tasksOf(sim.state, 'gpu')[0]!.Status.Err, 'no suitable node (scheduling constraints not satisfied on 2 nodes)');
  });

  it('spreads over zones first and keeps to --replicas-max-per-node, end to end', () => {
    const sim = new Sim(clusterWith([node('n1', { labels: { zone: 'a' } }), node('n2', { labels: { zone: 'a' } }), node('n3', { labels: { zone: 'b' } })]), T0);
    const placement = { Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }], MaxReplicas: 2 };
    sim.machine.apply({ type: 'service.create', id: 's1', spec: spec('web', { replicas: 7, TaskTemplate: { ...spec('web').TaskTemplate, Placement: placement } }), now: iso(T0) });
    sim.settle();
    const perNode = new Map<string, number>();
    for (const task of tasksOf(sim.state, 'web')) if (task.NodeID) perNode.set(task.NodeID, (perNode.get(task.NodeID) ?? 0) + 1);
    // Zone b's one node takes its half until the limit stops it; zone a's two nodes take the rest, two each.
    assert.deepEqual([...perNode.entries()].sort(), [['n1', 2], ['n2', 2], ['n3', 2]]);
    const pending = tasksOf(sim.state, 'web').filter((t) => t.Status.State === 'pending');
    assert.equal(pending.length, 1);
    assert.equal(pending[0]!.Status.Err, 'no suitable node (max replicas per node limit reached on 3 nodes)');
  });

  it('refuses constraints that do not parse', () => {
    assert.throws(() => parseConstraint('node.labels.ssd=true'), /invalid constraint/);
    assert.throws(() => parseConstraint('node.colour==red'), /unknown key/);
    assert.deepEqual(parseConstraint(' node.role != manager '), { key: 'node.role', operator: '!=', value: 'manager' });
  });

  it('never reserves more memory than a node has (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 64, max: 4096 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.record({ replicas: fc.integer({ min: 0, max: 8 }), reserveMb: fc.integer({ min: 0, max: 1024 }) }), { minLength: 1, maxLength: 4 }),
        (memories, services) => {
          const nodes = memories.map((mb, i) => node(`n${i}`, { memory: mb * MB }));
          const sim = new Sim(clusterWith(nodes), T0);
          services.forEach((s, i) => sim.machine.apply({ type: 'service.create', id: `s${i}`, spec: spec(`svc${i}`, { replicas: s.replicas, reserve: s.reserveMb * MB }), now: iso(T0) }));
          sim.settle();
          for (const n of nodes) {
            const reserved = Object.values(sim.state.tasks)
              .filter((t) => t.NodeID === n.ID && isLive(t))
              .reduce((sum, t) => sum + (t.Spec.Resources?.Reservations?.MemoryBytes ?? 0), 0);
            assert.ok(reserved <= n.Description.Resources.MemoryBytes);
          }
          // Every task is placed or explained.
          for (const task of Object.values(sim.state.tasks)) assert.ok(task.NodeID || task.Status.Err);
        },
      ),
      { numRuns: 200 },
    );
  });
});
