import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task, TaskState } from '../../src/api/types.ts';
import type { Assignment } from '../../src/agent/assignment.ts';
import { LABEL } from '../../src/agent/labels.ts';
import { planAgent } from '../../src/agent/plan.ts';
import type { ContainerSummary } from '../../src/runtime/runtime.ts';
import { iso, spec, T0 } from '../helpers/fixtures.ts';

function assignment(id: string, state: TaskState, desired: TaskState = 'running'): Assignment {
  const task: Task = {
    ID: id, Version: { Index: 1 }, CreatedAt: iso(T0), UpdatedAt: iso(T0), Spec: spec('web').TaskTemplate, ServiceID: 's1', Slot: 1,
    NodeID: 'n1', Status: { Timestamp: iso(T0), State: state, Message: '' }, DesiredState: desired,
  };
  return { task, serviceName: 'web' };
}

const container = (taskId: string, state: string, health: ContainerSummary['health'] = 'none'): ContainerSummary => ({
  id: `c-${taskId}`, name: `web.1.${taskId}`, image: 'img', state, health, labels: { [LABEL.taskId]: taskId },
});

const kinds = (assignments: Assignment[], containers: ContainerSummary[]) => planAgent(assignments, containers).map((a) => a.kind);

describe('agent plan', () => {
  it('creates the container of a newly assigned task', () => {
    assert.deepEqual(kinds([assignment('t1', 'assigned')], []), ['create']);
  });

  it('adopts a container made just before a crash instead of making another', () => {
    assert.deepEqual(kinds([assignment('t1', 'assigned')], [container('t1', 'created')]), ['start']);
    assert.deepEqual(kinds([assignment('t1', 'assigned')], [container('t1', 'running')]), ['running']);
  });

  it('holds a task at starting until its healthcheck passes, and fails it when the engine judges it unhealthy', () => {
    const [starting] = planAgent([assignment('t1', 'assigned')], [container('t1', 'running', 'starting')]);
    assert.deepEqual(starting?.kind === 'running' && starting.state, 'starting');
    assert.deepEqual(kinds([assignment('t1', 'starting')], [container('t1', 'running', 'starting')]), []);
    const [healthy] = planAgent([assignment('t1', 'starting')], [container('t1', 'running', 'healthy')]);
    assert.deepEqual(healthy?.kind === 'running' && healthy.state, 'running');
    assert.deepEqual(kinds([assignment('t1', 'running')], [container('t1', 'running', 'healthy')]), []);
    assert.deepEqual(kinds([assignment('t1', 'running')], [container('t1', 'running', 'unhealthy')]), ['unhealthy']);
    assert.deepEqual(kinds([assignment('t1', 'starting')], [container('t1', 'running', 'unhealthy')]), ['unhealthy']);
    // A task being stopped anyway is stopped, whatever its health.
    assert.deepEqual(kinds([assignment('t1', 'running', 'shutdown')], [container('t1', 'running', 'unhealthy')]), ['stop']);
  });

  it('restarts an exited container itself only while offline, as the restart policy says', () => {
    const exited = (code: number) => ({ ...container('t1', 'exited'), exitCode: code });
    assert.deepEqual(kinds([assignment('t1', 'running')], [exited(1)]), ['exited'], 'online, the managers decide');
    const offline = (a: Assignment, code: number) => planAgent([a], [exited(code)], { offline: true }).map((x) => x.kind);
    assert.deepEqual(offline(assignment('t1', 'running'), 137), ['restart']);
    const onFailure = assignment('t1', 'running');
    onFailure.task.Spec = { ...onFailure.task.Spec, RestartPolicy: { Condition: 'on-failure' } };
    assert.deepEqual(offline(onFailure, 0), ['exited'], 'a clean exit is complete');
    assert.deepEqual(offline(onFailure, 2), ['restart']);
    const never = assignment('t1', 'running');
    never.task.Spec = { ...never.task.Spec, RestartPolicy: { Condition: 'none' } };
    assert.deepEqual(offline(never, 1), ['exited']);
    assert.deepEqual(planAgent([assignment('t1', 'running', 'shutdown')], [exited(1)], { offline: true }).map((x) => x.kind), ['report']);
  });

  it('does nothing for a running task whose container runs', () => {
    assert.deepEqual(kinds([assignment('t1', 'running')], [container('t1', 'running')]), []);
  });

  it('reports a container that exited, and one that vanished', () => {
    assert.deepEqual(kinds([assignment('t1', 'running')], [container('t1', 'exited')]), ['exited']);
    const [action] = planAgent([assignment('t1', 'running')], []);
    assert.equal(action?.kind, 'report');
    assert.equal(action?.kind === 'report' && action.state, 'failed');
  });

  it('stops the container of a task that should no longer run, and reports one without a container', () => {
    assert.deepEqual(kinds([assignment('t1', 'running', 'shutdown')], [container('t1', 'running')]), ['stop']);
    assert.deepEqual(kinds([assignment('t1', 'assigned', 'shutdown')], []), ['report']);
    assert.deepEqual(kinds([assignment('t1', 'shutdown', 'shutdown')], [container('t1', 'exited')]), []);
  });

  it('removes containers that no task owns, and keeps those of history tasks', () => {
    assert.deepEqual(kinds([assignment('t1', 'failed')], [container('t1', 'exited'), container('t9', 'running')]), ['remove']);
  });
});
