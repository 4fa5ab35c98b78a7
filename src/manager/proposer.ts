/**
 * How the API and the control loops change the cluster state: they propose commands, which are committed (with
 * Raft: held by a quorum of managers) and applied in the same order everywhere, and they read the committed state.
 */

import { unavailable } from '../errors.ts';
import type { Disposer } from '../runtime/runtime.ts';
import type { ClusterState } from './state/cluster-state.ts';
import { emptyClusterState } from './state/cluster-state.ts';
import type { Command } from './state/commands.ts';

export interface Proposer {
  /** Resolves once the command is committed and applied here; rejects (changing nothing) when it is refused. */
  propose(command: Command): Promise<void>;
  /** Resolves once `state` reflects every change committed before the call: what a linearizable read waits for. */
  read(): Promise<void>;
  /** The applied state, read-only. */
  readonly state: ClusterState;
  /** Called after every batch of applied changes. */
  watch(listener: () => void): Disposer;
}

/** The proposer of a node that is in no cluster: an empty state, and every change refused. */
export class NoClusterProposer implements Proposer {
  readonly state = emptyClusterState();

  propose(): Promise<void> {
    return Promise.reject(unavailable('This node is not a swarm manager. Use "swarmlet init" to create a cluster and try again.'));
  }

  read(): Promise<void> {
    return Promise.resolve();
  }

  watch(): Disposer {
    return () => {};
  }
}
