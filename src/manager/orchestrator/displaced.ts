/**
 * Tasks that must leave their node: the node was marked down (it missed its heartbeats), removed, or drained for
 * maintenance. Their slots are refilled elsewhere at once — the task did not fail, its machine went away or was
 * emptied, so the restart policy's delay and attempt count do not apply. The displaced task is only asked to stop:
 * a drained node's agent stops its container (within the stop grace period); what a lost node's task is really
 * doing is unknown until the node reports again, and when it comes back its agent stops it, so a slot never ends
 * up with two live tasks.
 */

import type { Node, Task } from '../../api/types.ts';
import { isLive } from '../state/cluster-state.ts';
import type { Changes } from './changes.ts';
import type { PassContext } from './context.ts';
import { retire } from './slot.ts';

/** Node states in which a node runs nothing the cluster can count on. */
const GONE = new Set<Node['Status']['State']>(['down', 'disconnected']);

/** Whether tasks on `nodeId` must move: the node is gone, or drained. */
export function mustLeave(nodes: Record<string, Node>, nodeId: string): boolean {
  const node = nodes[nodeId];
  return node === undefined || GONE.has(node.Status.State) || node.Spec.Availability === 'drain';
}

/** Retires every live task on a node it must leave; the orchestrators then see the slot empty and fill it. */
export function retireDisplaced(tasks: Task[], nodes: Record<string, Node>, changes: Changes, ctx: PassContext): void {
  for (const original of tasks) {
    const task = changes.view(original);
    if (task.NodeID === undefined || !isLive(task) || !mustLeave(nodes, task.NodeID)) continue;
    retire(changes, task, ctx);
  }
}
