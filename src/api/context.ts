/** What the API routes are given: the committed state and the few daemon-level operations they trigger. */

import type { Proposer } from '../manager/proposer.ts';
import type { ContainerRuntime } from '../runtime/runtime.ts';
import type { RandomSource } from '../util/ids.ts';

export interface SwarmInitRequest {
  advertiseAddr?: string;
  forceNewCluster?: boolean;
}

export interface ApiContext {
  proposer: Proposer;
  nodeId: string;
  runtime: ContainerRuntime;
  /** The engine's own /info document; the API adds its Swarm section. */
  engineInfo(): Promise<Record<string, unknown>>;
  /** Creates a one-node cluster with this node as its manager; returns the node ID. */
  initSwarm(request: SwarmInitRequest): Promise<string>;
  /** Leaves the cluster: stops this node's tasks and forgets the cluster state. */
  leaveSwarm(force: boolean): Promise<void>;
  now(): number;
  random: RandomSource;
}
