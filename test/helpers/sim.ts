/**
 * Drives the pure manager in-process: commits orchestrator and scheduler decisions like the reconciler does, and
 * plays the part of agents by reporting task states — no timers, no engine.
 */

import type { TaskState } from '../../src/api/types.ts';
import { type NodeLiveness, plan } from '../../src/manager/plan.ts';
import type { StateMachine } from '../../src/manager/state/state-machine.ts';
import { seededRandom } from '../../src/util/ids.ts';
import { iso } from './fixtures.ts';

export class Sim {
  readonly machine: StateMachine;
  now: number;
  private readonly random;

  constructor(machine: StateMachine, now: number, seed = 1) {
    this.machine = machine;
    this.now = now;
    this.random = seededRandom(seed);
  }

  get state() {
    return this.machine.state;
  }

  /** One reconcile pass, committed in the reconciler's order. Returns how many decisions it made. */
  reconcile(liveness?: NodeLiveness): number {
    const changes = plan(this.state, { now: this.now, random: this.random }, liveness);
    const now = iso(this.now);
    for (const { id, version, spec, message } of changes.rollbacks) this.machine.apply({ type: 'service.update', id, version, spec, now, rollback: message });
    if (changes.updateStatuses.length) this.machine.apply({ type: 'service.status', updates: changes.updateStatuses, now });
    if (changes.put.length) this.machine.apply({ type: 'tasks.put', tasks: changes.put, now });
    if (changes.deletedIds.length) this.machine.apply({ type: 'tasks.delete', ids: changes.deletedIds });
    return changes.put.length + changes.deletedIds.length + changes.updateStatuses.length + changes.rollbacks.length;
  }

  /** Reconciles until nothing changes (bounded, so a livelock fails the test instead of hanging it). */
  settle(limit = 20, liveness?: NodeLiveness): void {
    for (let i = 0; i < limit; i++) if (this.reconcile(liveness) === 0) return;
    throw new Error(`state did not settle in ${limit} passes`);
  }

  /** An agent's report for one task. */
  report(taskId: string, state: TaskState, extra: { err?: string; exitCode?: number } = {}): void {
    const task = this.state.tasks[taskId]!;
    this.machine.apply({
      type: 'tasks.status',
      nodeId: task.NodeID!,
      updates: [{ taskId, status: { Timestamp: iso(this.now), State: state, Message: state, ...(extra.err ? { Err: extra.err } : {}), ContainerStatus: { ExitCode: extra.exitCode ?? 0 } } }],
      now: iso(this.now),
    });
  }

  /** Every assigned task becomes running, as healthy agents would report. */
  runAssigned(): void {
    for (const task of Object.values(this.state.tasks)) {
      if (task.Status.State === 'assigned' && task.DesiredState === 'running') this.report(task.ID, 'running');
      if (task.DesiredState !== 'running' && !['shutdown', 'complete', 'failed', 'rejected'].includes(task.Status.State) && task.NodeID) {
        this.report(task.ID, 'shutdown');
      }
    }
  }
}
