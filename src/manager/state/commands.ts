/**
 * Commands: the only way the cluster state changes. They carry every value that is not derived (IDs,
 * timestamps), so applying the same stream on any manager gives the same state — that stream is what Raft
 * replicates.
 */

import type { Node, NodeDescription, ServiceSpec, Swarm, Task, TaskStatus } from '../../api/types.ts';

export interface InitSwarm {
  type: 'swarm.init';
  swarm: Swarm;
  node: Node;
}

export interface LeaveSwarm {
  type: 'swarm.leave';
}

/** A node reports what it is (its engine's description) and that it is alive. */
export interface NodeReport {
  type: 'node.report';
  nodeId: string;
  description: NodeDescription;
  addr: string;
  now: string;
}

export interface CreateService {
  type: 'service.create';
  id: string;
  spec: ServiceSpec;
  now: string;
}

export interface UpdateService {
  type: 'service.update';
  id: string;
  /** The Version.Index the caller read; a mismatch is a conflict, as Docker's `?version=` is. */
  version: number;
  spec: ServiceSpec;
  now: string;
}

export interface RemoveService {
  type: 'service.remove';
  id: string;
  now: string;
}

/** New or changed tasks decided by the orchestrators and the scheduler, committed as one batch. */
export interface PutTasks {
  type: 'tasks.put';
  tasks: Task[];
  now: string;
}

export interface TaskStatusUpdate {
  taskId: string;
  status: TaskStatus;
}

/** Observed task states reported by a node's agent. */
export interface ReportTaskStatus {
  type: 'tasks.status';
  nodeId: string;
  updates: TaskStatusUpdate[];
  now: string;
}

/** Forget tasks that have ended and are beyond the history limit, or whose service is gone. */
export interface DeleteTasks {
  type: 'tasks.delete';
  ids: string[];
}

export type Command =
  | InitSwarm
  | LeaveSwarm
  | NodeReport
  | CreateService
  | UpdateService
  | RemoveService
  | PutTasks
  | ReportTaskStatus
  | DeleteTasks;
