/**
 * The agent's decisions, as a pure function of what it was assigned and what the engine has. The driver
 * (agent.ts) carries them out. Because containers are found by their task label, the plan is the same whether
 * the agent has run all along or was just restarted after kill -9 — even one that died between creating a
 * container and recording it: the container is adopted, never duplicated.
 */

import type { TaskState } from '../api/types.ts';
import { isTerminal } from '../manager/state/cluster-state.ts';
import type { ContainerSummary } from '../runtime/runtime.ts';
import type { Assignment } from './assignment.ts';
import { LABEL } from './labels.ts';

export type AgentAction =
  /** Make the task's container and start it. */
  | { kind: 'create'; assignment: Assignment }
  /** The container exists (perhaps made just before a crash) but never started. */
  | { kind: 'start'; assignment: Assignment; containerId: string }
  /**
   * The container runs: tell the manager (after a restart, this is adoption). A container whose healthcheck has
   * not passed yet is `starting`; it counts as running once healthy, as in Swarm.
   */
  | { kind: 'running'; assignment: Assignment; containerId: string; state: 'starting' | 'running' }
  /** The engine judged the container unhealthy: stop it and report the task failed; its restart policy decides. */
  | { kind: 'unhealthy'; assignment: Assignment; containerId: string }
  /** The container ended on its own: read its exit code and report complete or failed. */
  | { kind: 'exited'; assignment: Assignment; containerId: string }
  /** Offline, no manager can replace the task: start its own container again, as its restart policy says. */
  | { kind: 'restart'; assignment: Assignment; containerId: string }
  /** The task should no longer run: stop the container (grace period), then report shutdown. */
  | { kind: 'stop'; assignment: Assignment; containerId: string }
  /** The task ended without a container to stop: just report its final state. */
  | { kind: 'report'; assignment: Assignment; state: TaskState; message: string; err?: string }
  /** No task owns this container any more. */
  | { kind: 'remove'; containerId: string };

/** States at which the agent has not yet started the task's container. */
const BEFORE_START = new Set<TaskState>(['assigned', 'accepted', 'preparing', 'ready']);

export interface PlanOptions {
  /** No manager answers (AssignmentSource.offline): exited containers are restarted here. */
  offline?: boolean;
}

/** Whether a task's restart policy restarts a container that exited with `exitCode` (unknown: treated as a failure). */
function restartsAfter(assignment: Assignment, exitCode: number | undefined): boolean {
  const condition = assignment.task.Spec.RestartPolicy?.Condition ?? 'any';
  return condition === 'any' || (condition === 'on-failure' && exitCode !== 0);
}

function planTask(assignment: Assignment, container: ContainerSummary | undefined, options: PlanOptions): AgentAction | undefined {
  const { task } = assignment;
  const status = task.Status.State;
  const running = container?.state === 'running' || container?.state === 'restarting' || container?.state === 'paused';

  if (task.DesiredState !== 'running') {
    if (container && running) return { kind: 'stop', assignment, containerId: container.id };
    if (isTerminal(status)) return undefined;
    return { kind: 'report', assignment, state: 'shutdown', message: 'shutdown' };
  }
  if (isTerminal(status)) return undefined;
  if (!container) {
    if (BEFORE_START.has(status)) return { kind: 'create', assignment };
    return { kind: 'report', assignment, state: 'failed', message: 'container vanished', err: 'task: container removed outside swarmlet' };
  }
  if (running) {
    if (container.health === 'unhealthy') return { kind: 'unhealthy', assignment, containerId: container.id };
    const state = container.health === 'starting' ? 'starting' : 'running';
    return status === state ? undefined : { kind: 'running', assignment, containerId: container.id, state };
  }
  if (container.state === 'created' && status !== 'running') return { kind: 'start', assignment, containerId: container.id };
  if (options.offline && container.state === 'exited' && restartsAfter(assignment, container.exitCode)) {
    return { kind: 'restart', assignment, containerId: container.id };
  }
  return { kind: 'exited', assignment, containerId: container.id };
}

export function planAgent(assignments: Assignment[], containers: ContainerSummary[], options: PlanOptions = {}): AgentAction[] {
  const byTask = new Map<string, ContainerSummary>();
  for (const container of containers) {
    const taskId = container.labels[LABEL.taskId];
    if (taskId) byTask.set(taskId, container);
  }
  const actions: AgentAction[] = [];
  const owned = new Set<string>();
  for (const assignment of assignments) {
    owned.add(assignment.task.ID);
    const action = planTask(assignment, byTask.get(assignment.task.ID), options);
    if (action) actions.push(action);
  }
  for (const [taskId, container] of byTask) {
    if (!owned.has(taskId)) actions.push({ kind: 'remove', containerId: container.id });
  }
  return actions;
}
