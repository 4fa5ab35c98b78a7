/**
 * What the scheduler knows of a node during one pass: the node itself and what its tasks already hold. Placing
 * a task updates these figures, so later decisions of the same pass see earlier ones. They only ever grow
 * during a pass — nothing is freed until tasks end — which the scheduler relies on (see scheduler.ts).
 */

import type { Node, Task } from '../../api/types.ts';
import { hostModePorts } from '../orchestrator/task-factory.ts';
import { holdsResources } from '../state/cluster-state.ts';
import type { Platform } from './platform.ts';
import { nodePlatform } from './platform.ts';

export interface NodeInfo {
  node: Node;
  /** The node's machine in the images' spelling, worked out once per pass. */
  platform: Platform;
  /** The leader has not heard from the node lately: it is treated like a node that is not ready. */
  unresponsive: boolean;
  reservedMemory: number;
  reservedNanoCpus: number;
  /** Tasks on the node, per service, for spreading: everything that holds resources, even if being stopped. */
  tasksByService: Map<string, number>;
  /** Tasks on the node that are wanted running, per service, for --replicas-max-per-node. */
  liveByService: Map<string, number>;
  totalTasks: number;
  /** Host-mode ports the node's tasks bind, as `8080/tcp`: two tasks cannot both bind one. */
  hostPorts: Set<string>;
}

/** The `PORT/PROTOCOL` keys of the host-mode ports a task binds on its node; a port the engine picks never clashes. */
export function boundHostPorts(task: Task): string[] {
  return hostModePorts(task.Endpoint)
    .filter((port) => port.PublishedPort)
    .map((port) => `${port.PublishedPort}/${port.Protocol ?? 'tcp'}`);
}

export function buildNodeInfos(nodes: Node[], tasks: Task[], unresponsive?: ReadonlySet<string>): Map<string, NodeInfo> {
  const infos = new Map<string, NodeInfo>();
  for (const node of nodes) {
    infos.set(node.ID, {
      node,
      platform: nodePlatform(node.Description),
      unresponsive: unresponsive?.has(node.ID) ?? false,
      reservedMemory: 0,
      reservedNanoCpus: 0,
      tasksByService: new Map(),
      liveByService: new Map(),
      totalTasks: 0,
      hostPorts: new Set(),
    });
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
  if (task.DesiredState === 'running') info.liveByService.set(task.ServiceID, (info.liveByService.get(task.ServiceID) ?? 0) + 1);
  info.totalTasks += 1;
  for (const port of boundHostPorts(task)) info.hostPorts.add(port);
}
