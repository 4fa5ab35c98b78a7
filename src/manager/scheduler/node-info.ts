/**
 * What the scheduler knows of a node during one pass: the node itself and what its tasks already hold. Placing
 * a task updates these figures, so later decisions of the same pass see earlier ones.
 */

import type { Node, Task } from '../../api/types.ts';
import { holdsResources } from '../state/cluster-state.ts';

export interface NodeInfo {
  node: Node;
  reservedMemory: number;
  reservedNanoCpus: number;
  /** Live tasks on the node, per service, for spreading. */
  tasksByService: Map<string, number>;
  totalTasks: number;
}

export function buildNodeInfos(nodes: Node[], tasks: Task[]): Map<string, NodeInfo> {
  const infos = new Map<string, NodeInfo>();
  for (const node of nodes) {
    infos.set(node.ID, { node, reservedMemory: 0, reservedNanoCpus: 0, tasksByService: new Map(), totalTasks: 0 });
  }
  for (const task of tasks) {
    if (!task.NodeID || !holdsResources(task)) continue;
    const info = infos.get(task.NodeID);
    if (info) addTask(info, task);
  }
  return infos;
}

export function addTask(info: NodeInfo, task: Task): void {
  info.reservedMemory += task.Spec.Resources?.Reservations?.MemoryBytes ?? 0;
  info.reservedNanoCpus += task.Spec.Resources?.Reservations?.NanoCPUs ?? 0;
  info.tasksByService.set(task.ServiceID, (info.tasksByService.get(task.ServiceID) ?? 0) + 1);
  info.totalTasks += 1;
}
