/**
 * The scheduler's invariants on random clusters, and its fast path (task groups, heaps refreshed lazily, shared
 * spread counts) checked against a naive scheduler that takes the tasks one by one and ranks every node each time.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Node, Task, TaskSpec } from '../../src/api/types.ts';
import { defaultFilters } from '../../src/manager/scheduler/filters.ts';
import type { NodeInfo } from '../../src/manager/scheduler/node-info.ts';
import { addTask, buildNodeInfos } from '../../src/manager/scheduler/node-info.ts';
import { holdsResources } from '../../src/manager/state/cluster-state.ts';
import { MB, node, nodeImage, pendingTask, runningTask, scheduleOnce } from '../helpers/fixtures.ts';

const IMAGES = ['app:1', 'app:2', 'tool:1'];
const CONSTRAINTS = ['node.labels.zone==a', 'node.labels.zone!=b', 'node.role!=manager', 'node.platform.arch==x86_64', 'engine.labels.disk==ssd'];
const PREFERENCES = [[], ['node.labels.zone'], ['node.labels.zone', 'node.labels.rack'], ['engine.labels.disk']];

const arbNode = (id: string) =>
  fc
    .record({
      memoryMb: fc.constantFrom(256, 512, 1024),
      cpus: fc.integer({ min: 1, max: 4 }),
      state: fc.constantFrom('ready', 'ready', 'ready', 'down'),
      availability: fc.constantFrom('active', 'active', 'active', 'pause', 'drain'),
      zone: fc.constantFrom('a', 'b', 'c', undefined),
      rack: fc.constantFrom('1', '2', undefined),
      disk: fc.constantFrom('ssd', undefined),
      role: fc.constantFrom('worker', 'worker', 'manager'),
      arch: fc.constantFrom('x86_64', 'x86_64', 'aarch64'),
      images: fc.option(fc.subarray(IMAGES), { nil: undefined }),
      memoryLimit: fc.constantFrom(true, undefined, false),
    })
    .map((n): Node =>
      node(id, {
        memory: n.memoryMb * MB,
        cpus: n.cpus,
        state: n.state as Node['Status']['State'],
        availability: n.availability as Node['Spec']['Availability'],
        labels: { ...(n.zone ? { zone: n.zone } : {}), ...(n.rack ? { rack: n.rack } : {}) },
        engineLabels: n.disk ? { disk: n.disk } : {},
        role: n.role as Node['Spec']['Role'],
        arch: n.arch,
        ...(n.images ? { images: n.images.map((tag, i) => nodeImage([tag], { id: `sha256:${i}${id}`, arch: n.arch === 'x86_64' ? 'amd64' : 'arm64' })) } : {}),
        memoryLimit: n.memoryLimit,
      }),
    );

const arbSpec = fc
  .record({
    image: fc.constantFrom(...IMAGES),
    constraints: fc.subarray(CONSTRAINTS, { maxLength: 2 }),
    preferences: fc.constantFrom(...PREFERENCES),
    maxReplicas: fc.constantFrom(0, 0, 1, 2),
    reserveMb: fc.constantFrom(0, 0, 64, 200),
    reserveCpu: fc.constantFrom(0, 0, 0.5),
    limitMb: fc.constantFrom(0, 0, 128),
  })
  .map(
    (s): TaskSpec => ({
      ContainerSpec: { Image: s.image },
      Resources: {
        Reservations: { MemoryBytes: s.reserveMb * MB, NanoCPUs: s.reserveCpu * 1e9 },
        ...(s.limitMb ? { Limits: { MemoryBytes: s.limitMb * MB } } : {}),
      },
      Placement: {
        Constraints: s.constraints,
        Preferences: s.preferences.map((descriptor) => ({ Spread: { SpreadDescriptor: descriptor } })),
        MaxReplicas: s.maxReplicas,
      },
    }),
  );

/** A cluster, services with one or two specs each (a rolling update), running load, and pending tasks created in any order. */
const arbCluster = fc
  .integer({ min: 1, max: 8 })
  .chain((nodeCount) =>
    fc.record({
      nodes: fc.tuple(...Array.from({ length: nodeCount }, (_, i) => arbNode(`n${i}`))),
      unresponsive: fc.subarray(Array.from({ length: nodeCount }, (_, i) => `n${i}`), { maxLength: Math.min(2, nodeCount) }),
      services: fc.array(fc.record({ specs: fc.array(arbSpec, { minLength: 1, maxLength: 2 }), global: fc.boolean() }), { minLength: 1, maxLength: 4 }),
      tasks: fc.array(
        fc.record({ service: fc.nat(), spec: fc.nat(), node: fc.nat(nodeCount - 1), running: fc.boolean(), createdAt: fc.integer({ min: 0, max: 5 }) }),
        { maxLength: 40 },
      ),
    }),
  )
  .map(({ nodes, unresponsive, services, tasks }) => {
    const made = tasks.map((t, i): Task => {
      const s = t.service % services.length;
      const service = services[s]!;
      const spec = service.specs[t.spec % service.specs.length]!;
      const nodeId = nodes[t.node]!.ID;
      if (t.running) return runningTask(`r${i}`, `s${s}`, spec, nodeId);
      return pendingTask(`t${i}`, `s${s}`, spec, { createdAt: t.createdAt, ...(service.global ? { nodeId } : {}) });
    });
    return { nodes: nodes as Node[], unresponsive: new Set(unresponsive), tasks: made };
  });

/** Reads a label as a preference does, independently of the scheduler's code; undefined when missing. */
function label(n: Node, descriptor: string): string | undefined {
  if (descriptor.startsWith('node.labels.')) return n.Spec.Labels?.[descriptor.slice('node.labels.'.length)];
  return n.Description.Engine.Labels?.[descriptor.slice('engine.labels.'.length)];
}

/**
 * The obviously correct scheduler: every pending task in age order; every filter over every candidate; the
 * spread counts summed afresh over the cluster for every candidate; a full sort for every task.
 */
function naiveSchedule(nodes: Node[], tasks: Task[], unresponsive: ReadonlySet<string>): Map<string, string> {
  const infos = buildNodeInfos(nodes, tasks, unresponsive);
  const all = [...infos.values()];
  const filters = defaultFilters();
  const decisions = new Map<string, string>();
  const pending = tasks
    .filter((t) => t.Status.State === 'pending' && t.DesiredState === 'running')
    .sort((a, b) => a.CreatedAt.localeCompare(b.CreatedAt) || (a.ID < b.ID ? -1 : 1));
  for (const task of pending) {
    const candidates = task.NodeID ? all.filter((info) => info.node.ID === task.NodeID) : all;
    let remaining = candidates;
    const reasons: string[] = [];
    for (const filter of filters) {
      if (!filter.setTask(task, all)) continue;
      const passed = remaining.filter((info) => filter.check(info));
      if (passed.length < remaining.length) reasons.push(filter.explain(remaining.length - passed.length));
      remaining = passed;
    }
    if (remaining.length === 0) {
      decisions.set(task.ID, candidates.length === 0 ? 'no suitable node (no nodes in the cluster)' : `no suitable node (${reasons.join('; ')})`);
      continue;
    }
    const descriptors = (task.Spec.Placement?.Preferences ?? []).map((p) => p.Spread!.SpreadDescriptor);
    const key = (info: NodeInfo) => [
      ...descriptors.map((_, level) => {
        const path = descriptors.slice(0, level + 1);
        return all
          .filter((other) => path.every((d) => label(other.node, d) === label(info.node, d)))
          .reduce((sum, other) => sum + (other.tasksByService.get(task.ServiceID) ?? 0), 0);
      }),
      info.tasksByService.get(task.ServiceID) ?? 0,
      info.totalTasks,
    ];
    const ranked = remaining
      .map((info) => ({ info, key: key(info) }))
      .sort((a, b) => {
        for (let i = 0; i < a.key.length; i++) if (a.key[i] !== b.key[i]) return a.key[i]! - b.key[i]!;
        return a.info.node.ID < b.info.node.ID ? -1 : 1;
      });
    const best = ranked[0]!.info;
    decisions.set(task.ID, best.node.ID);
    addTask(best, { ...task, NodeID: best.node.ID, Status: { ...task.Status, State: 'assigned' } });
  }
  return decisions;
}

/** The tasks after a pass, as the state would hold them once committed. */
function after(tasks: Task[], decisions: Map<string, string>): Task[] {
  return tasks.map((task) => {
    const decision = decisions.get(task.ID);
    if (decision === undefined || decision.startsWith('no suitable node')) return task;
    return { ...task, NodeID: decision, Status: { ...task.Status, State: 'assigned' } };
  });
}

const placedOn = (tasks: Task[], nodeId: string) => tasks.filter((t) => t.NodeID === nodeId && holdsResources(t));
const RUNS = { numRuns: 300 };

describe('scheduler properties', () => {
  it('decides exactly as the naive scheduler does', () => {
    fc.assert(
      fc.property(arbCluster, ({ nodes, unresponsive, tasks }) => {
        assert.deepEqual(scheduleOnce(nodes, tasks, { unresponsive }), naiveSchedule(nodes, tasks, unresponsive));
      }),
      { numRuns: 1000 },
    );
  });

  it('never places a task where its reservation does not fit', () => {
    fc.assert(
      fc.property(arbCluster, ({ nodes, unresponsive, tasks }) => {
        const decisions = scheduleOnce(nodes, tasks, { unresponsive });
        const final = after(tasks, decisions);
        for (const n of nodes) {
          if (![...decisions.values()].includes(n.ID)) continue;
          const held = placedOn(final, n.ID);
          const memory = held.reduce((sum, t) => sum + (t.Spec.Resources?.Reservations?.MemoryBytes ?? 0), 0);
          const cpus = held.reduce((sum, t) => sum + (t.Spec.Resources?.Reservations?.NanoCPUs ?? 0), 0);
          // Load that was there before may overcommit (it was placed by a different spec); what is added never does.
          const before = placedOn(tasks, n.ID);
          const memoryBefore = before.reduce((sum, t) => sum + (t.Spec.Resources?.Reservations?.MemoryBytes ?? 0), 0);
          const cpusBefore = before.reduce((sum, t) => sum + (t.Spec.Resources?.Reservations?.NanoCPUs ?? 0), 0);
          assert.ok(memory <= Math.max(n.Description.Resources.MemoryBytes, memoryBefore) && (memory === memoryBefore || memory <= n.Description.Resources.MemoryBytes));
          assert.ok(cpus === cpusBefore || cpus <= n.Description.Resources.NanoCPUs);
        }
      }),
      RUNS,
    );
  });

  it('keeps constraints, max replicas per node, and global tasks on their node', () => {
    fc.assert(
      fc.property(arbCluster, ({ nodes, unresponsive, tasks }) => {
        const decisions = scheduleOnce(nodes, tasks, { unresponsive });
        const final = after(tasks, decisions);
        const byId = new Map(nodes.map((n) => [n.ID, n]));
        for (const task of tasks) {
          const target = decisions.get(task.ID);
          if (target === undefined || target.startsWith('no suitable node')) continue;
          const n = byId.get(target)!;
          assert.ok(n.Status.State === 'ready' && n.Spec.Availability === 'active' && !unresponsive.has(n.ID));
          if (task.NodeID) assert.equal(target, task.NodeID, 'a global task goes to its own node');
          for (const constraint of task.Spec.Placement?.Constraints ?? []) {
            const [key, value] = constraint.split(/==|!=/) as [string, string];
            const actual = key === 'node.role' ? n.Spec.Role : key === 'node.platform.arch' ? n.Description.Platform.Architecture : label(n, key);
            assert.equal(actual === value, constraint.includes('=='), `${constraint} on ${n.ID}`);
          }
          // Tasks of one service with another limit (mid-update) may legitimately fill the node further.
          const max = task.Spec.Placement?.MaxReplicas ?? 0;
          const oneLimit = tasks.every((t) => t.ServiceID !== task.ServiceID || (t.Spec.Placement?.MaxReplicas ?? 0) === max);
          if (max > 0 && oneLimit) {
            const live = placedOn(final, target).filter((t) => t.ServiceID === task.ServiceID && t.DesiredState === 'running').length;
            const liveBefore = placedOn(tasks, target).filter((t) => t.ServiceID === task.ServiceID && t.DesiredState === 'running').length;
            assert.ok(live <= Math.max(max, liveBefore));
          }
        }
      }),
      RUNS,
    );
  });

  it('spreads a service evenly over identical nodes, whatever else runs there', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 60 }), fc.array(fc.nat(11), { maxLength: 20 }), (nodeCount, replicas, otherLoad) => {
        const nodes = Array.from({ length: nodeCount }, (_, i) => node(`n${i}`));
        const spec: TaskSpec = { ContainerSpec: { Image: 'app:1' } };
        const load = otherLoad.map((i, k) => runningTask(`o${k}`, 'other', spec, `n${i % nodeCount}`));
        const pending = Array.from({ length: replicas }, (_, i) => pendingTask(`t${i}`, 's1', spec, { createdAt: i }));
        const counts = nodes.map((n) => [...scheduleOnce(nodes, [...load, ...pending]).values()].filter((v) => v === n.ID).length);
        assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `per node: ${counts}`);
      }),
      RUNS,
    );
  });

  it('balances a service over the groups of a spread preference, nodes without the label being one more group', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c', undefined), { minLength: 1, maxLength: 10 }), fc.integer({ min: 0, max: 40 }), (zones, replicas) => {
        const nodes = zones.map((zone, i) => node(`n${i}`, { labels: zone ? { zone } : {} }));
        const spec: TaskSpec = { ContainerSpec: { Image: 'app:1' }, Placement: { Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }] } };
        const pending = Array.from({ length: replicas }, (_, i) => pendingTask(`t${i}`, 's1', spec, { createdAt: i }));
        const decisions = [...scheduleOnce(nodes, pending).values()];
        const groups = [...new Set(zones)];
        const perGroup = groups.map((zone) => decisions.filter((id) => zones[Number(id.slice(1))] === zone).length);
        assert.ok(Math.max(...perGroup) - Math.min(...perGroup) <= 1, `per group ${groups}: ${perGroup}`);
      }),
      RUNS,
    );
  });
});
