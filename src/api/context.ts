/** What the API routes are given: the committed state and the few daemon-level operations they trigger. */

import type { IncomingMessage } from 'node:http';
import type { ClusterEvent } from '../manager/events/cluster-event.ts';
import type { TaskLogOpener } from '../cluster/log-streams.ts';
import type { Proposer } from '../manager/proposer.ts';
import type { ContainerRuntime, Disposer } from '../runtime/runtime.ts';
import type { RandomSource } from '../util/ids.ts';

export interface SwarmInitRequest {
  advertiseAddr?: string;
  listenAddr?: string;
  forceNewCluster?: boolean;
  /** Node certificate lifetime, nanoseconds. */
  certExpiryNs?: number;
}

export interface SwarmJoinRequest {
  token: string;
  /** Managers' addresses; empty: find them over mDNS. */
  remoteAddrs: string[];
  advertiseAddr?: string;
  listenAddr?: string;
}

/** Raft's view on a manager: who leads, who votes, who answers. */
export interface ManagerView {
  leader: string;
  voters: string[];
  learners: string[];
  reachable(nodeId: string): boolean;
}

/** A manager's cluster events, as GET /events reads them: the recent history, then live ones. */
export interface ClusterEventSource {
  /** Recorded events with `since <= at <= until` (ms since the epoch), oldest first. */
  replay(since: number, until?: number): ClusterEvent[];
  subscribe(listener: (event: ClusterEvent) => void): Disposer;
}

export interface ApiContext {
  proposer: Proposer;
  nodeId: string;
  runtime: ContainerRuntime;
  /** The engine's own /info document; the API adds its Swarm section. */
  engineInfo(): Promise<Record<string, unknown>>;
  /** Creates a one-node cluster with this node as its manager; returns the node ID. */
  initSwarm(request: SwarmInitRequest): Promise<string>;
  /** Joins a cluster with a token. */
  joinSwarm(request: SwarmJoinRequest): Promise<void>;
  /** Leaves the cluster: stops this node's tasks and forgets the cluster state. */
  leaveSwarm(force: boolean): Promise<void>;
  /** Raft's view, on a manager; null elsewhere. */
  cluster(): ManagerView | null;
  /** What a node in a cluster knows locally (workers have no cluster state), or null outside one. */
  localNodeState(): { role: 'manager' | 'worker'; managers: Array<{ nodeId: string; addr: string }> } | null;
  /** The cluster's events on a manager; null on a worker or outside a cluster, which have none. */
  clusterEvents(): ClusterEventSource | null;
  /** The local engine's own GET /events with `query` (Docker's since, until, filters); ended by aborting `signal`. */
  engineEvents(query: Record<string, string | object | undefined>, signal: AbortSignal): Promise<IncomingMessage>;
  /** Opens task log streams on any node (its own engine, or a peer over a bulk channel); absent: no logs to serve. */
  taskLogs?(): TaskLogOpener | null;
  now(): number;
  random: RandomSource;
}
