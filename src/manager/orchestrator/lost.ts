/**
 * Tasks whose node is gone: the node was marked down (it missed its heartbeats) or removed. Their slots are
 * refilled elsewhere at once — the task did not fail, its machine did, so the restart policy's delay and attempt
 * count do not apply. The lost task is only asked to stop: what it is really doing is unknown until its node
 * reports again, and when the node comes back its agent stops it, so a slot never ends up with two live tasks.
 */

import type { Node, Task } from '../../api/types.ts';
import { isLive } from '../state/cluster-state.ts';
import type { Changes } from './changes.ts';
import type { PassContext } from './context.ts';
import { retire } from './slot.ts';

/** Node states in which a node runs nothing the cluster can count on. */
const GONE = new Set<Node['Status']['State']>(['down', 'disconnected']);

export function isLostNode(nodes: Record<string, Node>, nodeId: string): boolean {
  const node = nodes[nodeId];
  return node === undefined || GONE.has(node.Status.State);
}

/** Retires every live task on a lost node; the orchestrators then see the slot empty and fill it. */
export function retireLost(tasks: Task[], nodes: Record<string, Node>, changes: Changes, ctx: PassContext): void {
  for (const original of tasks) {
    const task = changes.view(original);
    if (task.NodeID === undefined || !isLive(task) || !isLostNode(nodes, task.NodeID)) continue;
    retire(changes, task, ctx);
  }
}
