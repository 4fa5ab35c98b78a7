/**
 * The agent against the fake engine. While no manager answers, a container that exits is started again (the same
 * container, after the restart policy's delay); online the same exit is only reported. Stops, which mostly wait out
 * grace periods, run many at once; a stop waits first for the task's routing-mesh connections to drain.
 */

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Agent } from '../../src/agent/agent.ts';
import type { Assignment } from '../../src/agent/assignment.ts';
import type { Task } from '../../src/api/types.ts';
import type { TaskStatusUpdate } from '../../src/manager/state/commands.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { FakeRuntime } from '../fakes/fake-runtime.ts';
import { iso, spec, T0 } from '../helpers/fixtures.ts';

const IMAGE = 'swarmlet-test/busybox:1';

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 3_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function setup(delayMs: number, drain?: (taskId: string, graceMs: number) => Promise<void>) {
  const runtime = new FakeRuntime({ images: [IMAGE] });
  const task: Task = {
    ID: 'task1', Version: { Index: 1 }, CreatedAt: iso(T0), UpdatedAt: iso(T0), ServiceID: 's1', Slot: 1, NodeID: 'n1',
    Spec: { ...spec('web').TaskTemplate, RestartPolicy: { Condition: 'any', Delay: delayMs * 1e6 } },
    Status: { Timestamp: iso(T0), State: 'assigned', Message: '' }, DesiredState: 'running',
  };
  const assignments: Assignment[] = [{ task, serviceName: 'web' }];
  const reports: TaskStatusUpdate[] = [];
  const died: string[] = [];
  let offline = false;
  const listeners = new Set<() => void>();
  const agent = new Agent({
    nodeId: 'n1',
    runtime,
    source: { assignments: () => assignments, offline: () => offline, watch: (fn) => (listeners.add(fn), () => listeners.delete(fn)) },
    reporter: {
      report: async (updates) => {
        reports.push(...updates);
        // A manager would commit what it is told; offline nobody does, and the assignment keeps saying running.
        for (const update of updates) if (!offline) task.Status = update.status;
      },
    },
    log: silentLogger,
    onContainerDied: (taskId) => died.push(taskId),
    ...(drain ? { drain } : {}),
  });
  const setOffline = (value: boolean) => {
    offline = value;
    for (const listener of listeners) listener();
  };
  return { runtime, task, agent, reports, died, setOffline };
}

const runningIds = async (runtime: FakeRuntime) => (await runtime.listContainers([])).filter((c) => c.state === 'running').map((c) => c.id);

describe('agent', () => {
  it('starts an exited container again while offline, waiting the restart delay between attempts', async () => {
    const { runtime, task, agent, reports, setOffline } = setup(300);
    agent.start();
    try {
      await until('the task running', () => task.Status.State === 'running');
      const [id] = await runningIds(runtime);
      setOffline(true);
      runtime.exitContainer(id!, 137);
      await until('the same container running again', async () => (await runningIds(runtime)).includes(id!));
      const firstRestart = performance.now();
      runtime.exitContainer(id!, 137);
      await until('a second restart', async () => (await runningIds(runtime)).includes(id!));
      assert.ok(performance.now() - firstRestart >= 250, 'the second attempt waited for the restart delay');
      assert.equal((await runtime.listContainers([])).length, 1, 'no second container');
      assert.ok(!reports.some((r) => r.status.State === 'failed'), 'the slot never went without its task: nothing failed to report');
    } finally {
      await agent.stop();
    }
  });

  it('only reports the exit while a manager answers, and tells the routing mesh at once', async () => {
    const { runtime, task, agent, died } = setup(0);
    agent.start();
    try {
      await until('the task running', () => task.Status.State === 'running');
      const [id] = await runningIds(runtime);
      runtime.exitContainer(id!, 1);
      await until('the mesh told', () => died.includes('task1'));
      await until('the failure reported', () => task.Status.State === 'failed');
      await sleep(100);
      assert.deepEqual(await runningIds(runtime), [], 'the managers decide what replaces it');
    } finally {
      await agent.stop();
    }
  });

  it("drains the task's mesh connections, with its grace period, before stopping its container", async () => {
    const drains: Array<{ taskId: string; graceMs: number }> = [];
    let finishDrain!: () => void;
    const { runtime, task, agent, reports } = setup(0, (taskId, graceMs) => {
      drains.push({ taskId, graceMs });
      return new Promise<void>((resolve) => (finishDrain = resolve));
    });
    task.Spec = { ...task.Spec, ContainerSpec: { ...task.Spec.ContainerSpec, StopGracePeriod: 3e9 } };
    agent.start();
    try {
      await until('the task running', () => task.Status.State === 'running');
      const [id] = await runningIds(runtime);
      task.DesiredState = 'shutdown';
      agent.kick();
      await until('the drain asked for', () => drains.length === 1);
      assert.deepEqual(drains, [{ taskId: 'task1', graceMs: 3_000 }]);
      await sleep(100);
      assert.deepEqual(await runningIds(runtime), [id], 'the container runs until its connections are drained');
      finishDrain();
      await until('the container stopped', async () => (await runningIds(runtime)).length === 0);
      await until('shutdown reported', () => reports.some((r) => r.status.State === 'shutdown'));
    } finally {
      await agent.stop();
    }
  });

  it('stops many tasks at once instead of a few grace periods in turn', async () => {
    const { runtime, task, agent } = setup(0);
    agent.start();
    try {
      await until('the task running', () => task.Status.State === 'running');
    } finally {
      await agent.stop();
    }
    // Twelve tasks whose stops each take 200 ms of engine time, as a grace period would.
    const ids = await Promise.all(Array.from({ length: 12 }, async (_, i) => {
      const id = await runtime.createContainer({ name: `web.${i + 2}.t${i}`, image: IMAGE, labels: { 'com.swarmlet.managed': '1', 'com.docker.swarm.node.id': 'n1', 'com.docker.swarm.task.id': `t${i}` } });
      await runtime.startContainer(id);
      return id;
    }));
    let stopping = 0;
    let peak = 0;
    const stop = runtime.stopContainer.bind(runtime);
    runtime.stopContainer = async (id, seconds) => {
      stopping++;
      peak = Math.max(peak, stopping);
      await sleep(200);
      stopping--;
      return stop(id, seconds);
    };
    const assignments: Assignment[] = ids.map((_, i) => ({
      serviceName: 'web',
      task: { ...task, ID: `t${i}`, Slot: i + 2, DesiredState: 'shutdown', Status: { ...task.Status, State: 'running' } },
    }));
    const stopper = new Agent({ nodeId: 'n1', runtime, source: { assignments: () => assignments, watch: () => () => {} }, reporter: { report: async () => {} }, log: silentLogger });
    const t0 = performance.now();
    stopper.start();
    try {
      await until('every container stopped', async () => (await runningIds(runtime)).filter((id) => ids.includes(id)).length === 0, 5_000);
      assert.ok(peak > 4, `stops ran ${peak} at a time`);
      assert.ok(performance.now() - t0 < 1_500, 'well under three rounds of four');
    } finally {
      await stopper.stop();
    }
  });
});
