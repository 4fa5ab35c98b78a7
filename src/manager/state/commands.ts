/**
 * Commands: the only way the cluster state changes. They carry every value that is not derived (IDs,
 * timestamps), so applying the same stream on any manager gives the same state — that stream is what Raft
 * replicates.
 */

import type { NetworkSpec, Node, NodeDescription, NodeSpec, NodeState, ServiceSpec, Swarm, Task, TaskStatus, UpdateStatus } from '../../api/types.ts';
import type { NodeRole } from '../../identity/certificate.ts';
import type { ClusterSecurity, MemberRecord, RootKeyRecord, TokenRecord } from './security.ts';

export interface InitSwarm {
  type: 'swarm.init';
  swarm: Swarm;
  node: Node;
  security: ClusterSecurity;
}

/** A node admitted with a join token: its record and the keys its certificate binds. */
export interface JoinNode {
  type: 'node.join';
  node: Node;
  member: MemberRecord;
}

/** `node update`: a new spec (role, availability, labels, name), checked against the version read. */
export interface UpdateNode {
  type: 'node.update';
  id: string;
  version: number;
  spec: NodeSpec;
  now: string;
}

/** `node rm`: the node is forgotten and its certificate revoked. */
export interface RemoveNode {
  type: 'node.remove';
  id: string;
  force: boolean;
  now: string;
}

/** What the leader's heartbeat tracking concluded: nodes that went down or came back. */
export interface NodeStatusChange {
  type: 'node.status';
  changes: Array<{ nodeId: string; state: NodeState; message: string }>;
  now: string;
}

/** A member's transport address changed (DHCP) or its certificate was renewed under another root. */
export interface UpdateMember {
  type: 'member.update';
  nodeId: string;
  addr?: string;
  issuer?: string;
}

export interface RotateToken {
  type: 'token.rotate';
  role: NodeRole;
  token: TokenRecord;
}

/** `ca --rotate`, in two steps: trust a new root beside the old one, then (all certificates moved) drop the old. */
export interface RotateRoot {
  type: 'ca.rotate';
  root: RootKeyRecord;
  tokens: Record<NodeRole, TokenRecord>;
  /** Docker's Spec.CAConfig.ForceRotate as the request set it. */
  forceRotate?: number;
}

export interface FinishRootRotation {
  type: 'ca.finish';
  /** The public key of the root that stays. */
  root: string;
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

/** What a node is changed (an image loaded, an engine label added): its description alone is replaced. */
export interface DescribeNode {
  type: 'node.describe';
  nodeId: string;
  description: NodeDescription;
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
  /**
   * Set when the spec is the service's previous one put back (`--rollback`, or an update whose failure action is
   * rollback): why, for the rollback's UpdateStatus. Without it the update clears UpdateStatus, as Swarm does.
   */
  rollback?: string;
}

/**
 * Where rolling updates stand, as the leader's updater decided it from the tasks. Each applies only while its service is
 * still at `version` — a decision about a spec the user has replaced since is dropped. It does not bump the
 * service's Version, so a client's read-modify-write is not refused because an update moved on.
 */
export interface SetUpdateStatus {
  type: 'service.status';
  updates: Array<{ id: string; version: number; status: UpdateStatus }>;
  now: string;
}

export interface RemoveService {
  type: 'service.remove';
  id: string;
  now: string;
}

/**
 * `network create --driver overlay`: the spec as asked, with the subnet and gateway the proposing manager chose
 * (networks.ts), so that applying it is the same everywhere; refused if the subnet overlaps a network made since.
 */
export interface CreateNetwork {
  type: 'network.create';
  id: string;
  spec: NetworkSpec;
  subnet: string;
  gateway: string;
  now: string;
}

/** `network rm`: refused while a service or a running task uses the network. */
export interface RemoveNetwork {
  type: 'network.remove';
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
  | DescribeNode
  | JoinNode
  | UpdateNode
  | RemoveNode
  | NodeStatusChange
  | UpdateMember
  | RotateToken
  | RotateRoot
  | FinishRootRotation
  | CreateService
  | UpdateService
  | SetUpdateStatus
  | RemoveService
  | CreateNetwork
  | RemoveNetwork
  | PutTasks
  | ReportTaskStatus
  | DeleteTasks;
