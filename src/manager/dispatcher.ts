/**
 * The dispatcher hands each node its assignments and takes its status reports. Here the node and the manager
 * share a process; the membership issue puts the encrypted transport between them without changing either side.
 */

import type { Assignment, AssignmentSource, StatusReporter } from '../agent/assignment.ts';
import type { Disposer } from '../runtime/runtime.ts';
import type { TaskStatusUpdate } from './state/commands.ts';
import type { Proposer } from './proposer.ts';

export class LocalDispatcher implements AssignmentSource, StatusReporter {
  private readonly proposer: Proposer;
  private readonly nodeId: string;
  private readonly now: () => number;

  constructor(proposer: Proposer, nodeId: string, now: () => number = Date.now) {
    this.proposer = proposer;
    this.nodeId = nodeId;
    this.now = now;
  }

  assignments(): Assignment[] {
    const { tasks, services } = this.proposer.state;
    const result: Assignment[] = [];
    for (const task of Object.values(tasks)) {
      if (task.NodeID !== this.nodeId || task.Status.State === 'pending') continue;
      // A removed service's tasks only need stopping, which goes by label, not by name.
      const serviceName = services[task.ServiceID]?.Spec.Name ?? task.ServiceID;
      result.push({ task, serviceName });
    }
    return result;
  }

  watch(onChange: () => void): Disposer {
    return this.proposer.watch(onChange);
  }

  async report(updates: TaskStatusUpdate[]): Promise<void> {
    await this.proposer.propose({ type: 'tasks.status', nodeId: this.nodeId, updates, now: new Date(this.now()).toISOString() });
  }
}
