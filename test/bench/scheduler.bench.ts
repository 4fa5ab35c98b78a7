/**
 * Benchmark: the scheduler alone, the pure function the leader runs on every pass. A synthetic cluster of 1,000
 * nodes — a third of them arm64, in three zones, each reporting the handful of images it holds, some with the
 * memory cgroup off — and services whose new tasks are all pending at once, as after `stack deploy` or a
 * failover: constraints on labels, role and architecture, memory and CPU reservations, a spread preference,
 * --replicas-max-per-node, and one global service. Two sizes:
 *
 * - 1,000 tasks on 1,000 nodes (swarmkit publishes 189 ms for this size);
 * - 10,000 tasks on 1,000 nodes, goal < 1 s.
 *
 * Each size is run SWARMLET_BENCH_RUNS times (default 7) on fresh tasks after two warm-up runs, and the median
 * is reported. The tasks are made before the clock starts, and handed over the way the reconciler does: added to
 * the pass's Changes by the orchestrator. Takes a few seconds; needs no engine.
 */

import assert from 'node:assert/strict';
import type { Node, Service, ServiceSpec, Task } from '../../src/api/types.ts';
import { Changes } from '../../src/manager/orchestrator/changes.ts';
import { newTask } from '../../src/manager/orchestrator/task-factory.ts';
import { schedule } from '../../src/manager/scheduler/scheduler.ts';
import { seededRandom } from '../../src/util/ids.ts';
import { iso, MB, node, nodeImage, T0 } from '../helpers/fixtures.ts';
import { runBench } from './lib/cleanup.ts';
import { median, millis, printTable, summary, verdict } from './lib/report.ts';

const RUNS = Number(process.env.SWARMLET_BENCH_RUNS ?? 7);
const WARMUPS = 2;
const NODES = 1_000;
const GOAL_MS = 1_000;
const ZONES = ['a', 'b', 'c'];

/** Images every node holds (for its architecture), and one only some nodes have, as after a partial `docker load`. */
const COMMON = ['app/web:1.4', 'app/api:2.0', 'app/worker:2.0', 'redis:7', 'nginx:1.27'];
const PARTIAL = 'app/report:0.9';

function cluster(): Node[] {
  return Array.from({ length: NODES }, (_, i) => {
    const arm = i % 3 === 2;
    const arch = arm ? 'arm64' : 'amd64';
    const images = COMMON.map((tag, k) => nodeImage([tag], { id: `sha256:${arch}${String(k).padStart(59, '0')}`, arch }));
    if (i % 2 === 0) images.push(nodeImage([PARTIAL], { id: `sha256:${arch}${'9'.repeat(59)}`, arch }));
    return node(`node${String(i).padStart(4, '0')}`, {
      memory: (2 + (i % 4) * 2) * 1024 * MB,
      cpus: 4,
      arch: arm ? 'aarch64' : 'x86_64',
      role: i < 5 ? 'manager' : 'worker',
      labels: { zone: ZONES[i % ZONES.length]!, ...(i % 5 === 0 ? { ssd: 'true' } : {}) },
      images,
      memoryLimit: i % 50 !== 8,
    });
  });
}

/** Service specs cycling through the placement features; `replicas` each. */
function specs(count: number, replicas: number): ServiceSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const kind = i % 6;
    const image = [...COMMON, PARTIAL][i % (COMMON.length + 1)]!;
    return {
      Name: `svc${i}`,
      TaskTemplate: {
        ContainerSpec: { Image: image },
        Resources: kind === 5 ? undefined : { Reservations: { MemoryBytes: 64 * MB, NanoCPUs: 0.1e9 }, Limits: { MemoryBytes: 128 * MB } },
        Placement: {
          Constraints: [
            ['node.role!=manager'],
            ['node.labels.zone==a'],
            ['node.platform.arch==x86_64', 'node.labels.ssd!=true'],
            [],
            ['node.role==worker'],
            [],
          ][kind],
          ...(kind === 3 ? { Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }] } : {}),
          ...(kind === 4 ? { MaxReplicas: 2 } : {}),
        },
      },
      Mode: { Replicated: { Replicas: replicas } },
    };
  });
}

function workload(nodes: Node[], taskCount: number): { tasks: Task[]; changes: Changes } {
  const changes = new Changes();
  const tasks: Task[] = [];
  const service = (spec: ServiceSpec, i: number): Service => ({ ID: `service${i}`, Version: { Index: 1 }, CreatedAt: iso(T0), UpdatedAt: iso(T0), Spec: spec });
  const replicas = 50;
  const replicated = specs(Math.floor((taskCount - NODES / 2) / replicas), replicas);
  let n = 0;
  const add = (task: Task) => {
    changes.add(task);
    tasks.push(task);
  };
  replicated.forEach((spec, i) => {
    for (let slot = 1; slot <= replicas; slot++) add(newTask(service(spec, i), `task${n++}`, iso(T0 + n), { slot }));
  });
  // A global agent on half the nodes (the other half has it running already, so its tasks count as load).
  const agent = service({ Name: 'agent', TaskTemplate: { ContainerSpec: { Image: 'nginx:1.27' }, Resources: { Reservations: { MemoryBytes: 32 * MB } } }, Mode: { Global: {} } }, 9999);
  nodes.forEach((target, i) => {
    const task = newTask(agent, `task${n++}`, iso(T0 + n), { nodeId: target.ID });
    if (i % 2 === 0) add(task);
    else tasks.push({ ...task, Status: { ...task.Status, State: 'running' } });
  });
  return { tasks, changes };
}

interface Result {
  ms: number;
  assigned: number;
  pending: number;
}

function runOnce(nodes: Node[], taskCount: number): Result {
  const { tasks, changes } = workload(nodes, taskCount);
  const start = performance.now();
  schedule(nodes, tasks, changes, { now: T0 + 1_000_000, random: seededRandom(1) });
  const ms = performance.now() - start;
  const placed = changes.put.filter((task) => task.Status.State === 'assigned').length;
  return { ms, assigned: placed, pending: changes.put.length - placed };
}

async function main(): Promise<void> {
  const nodes = cluster();
  const rows: (string | number)[][] = [];
  for (const taskCount of [1_000, 10_000]) {
    for (let i = 0; i < WARMUPS; i++) runOnce(nodes, taskCount);
    const results = Array.from({ length: RUNS }, () => runOnce(nodes, taskCount));
    const ms = median(results.map((r) => r.ms));
    const { assigned, pending } = results[0]!;
    // Every run decides the same: the pass is deterministic.
    for (const r of results) assert.deepEqual([r.assigned, r.pending], [assigned, pending]);
    rows.push([taskCount, NODES, millis(ms), millis(Math.min(...results.map((r) => r.ms))), millis(Math.max(...results.map((r) => r.ms))), assigned, pending]);
    summary(
      `scheduler: ${taskCount.toLocaleString('en')} pending tasks on ${NODES.toLocaleString('en')} nodes in ${millis(ms)} (median of ${RUNS}; ` +
        `${assigned} assigned, ${pending} left pending with a reason; goal < 1 s: ${verdict(ms < GOAL_MS)})`,
    );
  }
  printTable(
    `scheduler: one pass of the pure function, median of ${RUNS} runs (constraints, reservations, spread, max per node, a global service)`,
    ['tasks', 'nodes', 'median', 'min', 'max', 'assigned', 'pending'],
    rows,
  );
}

runBench('scheduler', main);
