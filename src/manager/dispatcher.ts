/**
 * The dispatcher hands each node its assignments and takes its status reports. Here the node and the manager
 * share a process (the leader's own agent); src/cluster/dispatcher.ts serves the other nodes over the transport
 * from the same assignmentsFor.
 */

import type { Assignment, AssignmentSource, StatusReporter } from '../agent/assignment.ts';
import type { NodeDescription } from '../api/types.ts';
import type { Disposer } from '../runtime/runtime.ts';
import type { ClusterState } from './state/cluster-state.ts';
import type { TaskStatusUpdate } from './state/commands.ts';
import type { Proposer } from './proposer.ts';

/** A node's assignments in the cluster state: its tasks past scheduling, with their services' names. */
export function assignmentsFor(state: ClusterState, nodeId: string): Assignment[] {
  const result: Assignment[] = [];
  for (const task of Object.values(state.tasks)) {
    if (task.NodeID !== nodeId || task.Status.State === 'pending') continue;
    // A removed service's tasks only need stopping, which goes by label, not by name.
    result.push({ task, serviceName: state.services[task.ServiceID]?.Spec.Name ?? task.ServiceID });
  }
  return result;
}

/** Records what a node says it is, unless the state already says exactly that. */
export async function recordDescription(proposer: Proposer, nodeId: string, description: NodeDescription, now: string): Promise<void> {
  const node = proposer.state.nodes[nodeId];
  if (!node) throw new Error(`node ${nodeId} is not in the cluster`);
  if (JSON.stringify(node.Description) === JSON.stringify(description)) return;
  await proposer.propose({ type: 'node.describe', nodeId, description, now });
}

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
    return assignmentsFor(this.proposer.state, this.nodeId);
  }

  watch(onChange: () => void): Disposer {
    return this.proposer.watch(onChange);
  }

  async report(updates: TaskStatusUpdate[]): Promise<void> {
    await this.proposer.propose({ type: 'tasks.status', nodeId: this.nodeId, updates, now: new Date(this.now()).toISOString() });
  }

  async describe(description: NodeDescription): Promise<void> {
    await recordDescription(this.proposer, this.nodeId, description, new Date(this.now()).toISOString());
  }
}
