/**
 * The manager's replicated state: every object the cluster agrees on. It is plain JSON so it can be stored by
 * lowdb as it is and, with the Raft issue, snapshotted and shipped to other managers.
 */

import type { Network, Node, Service, Swarm, Task } from '../../api/types.ts';
import type { ClusterSecurity } from './security.ts';

export interface ClusterState {
  /** Raised by every applied command; objects take it as their Version.Index (Swarm's store does the same). */
  index: number;
  swarm: Swarm | null;
  nodes: Record<string, Node>;
  services: Record<string, Service>;
  tasks: Record<string, Task>;
  /** Swarm-scoped (overlay) networks; states written before networks existed have none (see `withDefaults`). */
  networks: Record<string, Network>;
  /**
   * Per network, the address its allocator tries next (see networks.ts): addresses are handed out in turn, so one
   * just freed is not given to another task at once. Kept here, not in memory, so every manager hands out the same.
   */
  addressCursors: Record<string, string>;
  /** Root keys, join token hashes, members' keys and revocations; null until init (and in states written before it). */
  security: ClusterSecurity | null;
}

export function emptyClusterState(): ClusterState {
  return { index: 0, swarm: null, nodes: {}, services: {}, tasks: {}, networks: {}, addressCursors: {}, security: null };
}

/** A state as stored, completed with the fields added since it may have been written. */
export function withDefaults(state: ClusterState): ClusterState {
  return { ...state, networks: state.networks ?? {}, addressCursors: state.addressCursors ?? {}, security: state.security ?? null };
}

/** Task states a task never leaves: the agent is done with it. */
const TERMINAL = new Set(['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned']);

export function isTerminal(state: string): boolean {
  return TERMINAL.has(state);
}

/** A task that still occupies its slot: it is wanted running and has not ended. */
export function isLive(task: Task): boolean {
  return task.DesiredState === 'running' && !isTerminal(task.Status.State);
}

/** A task some node's agent has been given: from then on only that agent may end it. */
export function isDelivered(task: Task): boolean {
  return task.NodeID !== undefined && task.Status.State !== 'new' && task.Status.State !== 'pending';
}

/** Tasks whose resources are held on their node: anything not ended, whatever is desired of it. */
export function holdsResources(task: Task): boolean {
  return task.NodeID !== undefined && !isTerminal(task.Status.State) && task.Status.State !== 'pending';
}
