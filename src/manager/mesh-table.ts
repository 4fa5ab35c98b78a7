/**
 * What every node's routing mesh needs to know, computed from the cluster state: each service's published ingress
 * ports and the tasks that may take connections — running (a task with a healthcheck is `starting`, not running,
 * until it passes), still wanted, on a node that is not down. The leader pushes it to every node whenever it
 * changes (dispatcher.ts) and uses it itself, so a node that holds no cluster state (a worker) forwards to tasks
 * anywhere. Pure.
 */

import type { ClusterState } from './state/cluster-state.ts';

export interface MeshPort {
  published: number;
  target: number;
  protocol: 'tcp' | 'udp';
}

export interface MeshBackend {
  taskId: string;
  nodeId: string;
  /** The task's container; only its own node can turn it into an address. */
  containerId: string;
}

export interface MeshService {
  serviceId: string;
  ports: MeshPort[];
  backends: MeshBackend[];
}

export interface MeshTable {
  services: MeshService[];
  /**
   * The transport address of every node that runs a backend. A worker holds no cluster state and knows only the
   * managers' addresses by itself; without these it could not reach a task on another worker.
   */
  addresses?: Record<string, string>;
  /** The cluster's members now (removed nodes left out): the workers a worker may take mesh streams from. */
  members?: string[];
}

export function meshTable(state: ClusterState): MeshTable {
  const services: MeshService[] = [];
  for (const service of Object.values(state.services)) {
    const ports: MeshPort[] = (service.Endpoint?.Ports ?? [])
      .filter((port) => (port.PublishMode ?? 'ingress') === 'ingress' && port.PublishedPort)
      .map((port) => ({ published: port.PublishedPort!, target: port.TargetPort, protocol: port.Protocol === 'udp' ? 'udp' : 'tcp' }));
    if (ports.length === 0) continue;
    const backends: MeshBackend[] = [];
    for (const task of Object.values(state.tasks)) {
      if (task.ServiceID !== service.ID || task.DesiredState !== 'running' || task.Status.State !== 'running') continue;
      const containerId = task.Status.ContainerStatus?.ContainerID;
      const node = task.NodeID ? state.nodes[task.NodeID] : undefined;
      if (!containerId || !node || node.Status.State === 'down') continue;
      backends.push({ taskId: task.ID, nodeId: node.ID, containerId });
    }
    backends.sort((a, b) => (a.taskId < b.taskId ? -1 : 1));
    services.push({ serviceId: service.ID, ports, backends });
  }
  services.sort((a, b) => (a.serviceId < b.serviceId ? -1 : 1));
  const addresses: Record<string, string> = {};
  for (const nodeId of [...new Set(services.flatMap((service) => service.backends.map((backend) => backend.nodeId)))].sort()) {
    const addr = state.security?.members[nodeId]?.addr;
    if (addr) addresses[nodeId] = addr;
  }
  const security = state.security;
  const members = security ? Object.keys(security.members).filter((id) => !security.revoked[id]).sort() : [];
  return { services, addresses, members };
}
