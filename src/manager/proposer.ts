/**
 * Commits commands: applies them to the state machine and makes them durable before anyone is told. Commands
 * are committed one after another in the order proposed. With Raft (a later issue) the same interface
 * replicates the command to a quorum first; callers do not change.
 */

import type { Disposer } from '../runtime/runtime.ts';
import type { StateStore } from '../store/state-store.ts';
import type { ClusterState } from './state/cluster-state.ts';
import type { Command } from './state/commands.ts';
import type { StateMachine } from './state/state-machine.ts';

export interface Proposer {
  /** Resolves once the command is applied and durable; rejects (changing nothing) when it is invalid. */
  propose(command: Command): Promise<void>;
  /** The committed state, read-only. */
  readonly state: ClusterState;
  /** Called after every committed change. */
  watch(listener: () => void): Disposer;
}

export class LocalProposer implements Proposer {
  private readonly machine: StateMachine;
  private readonly store: StateStore;
  private readonly listeners = new Set<() => void>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(machine: StateMachine, store: StateStore) {
    this.machine = machine;
    this.store = store;
  }

  get state(): ClusterState {
    return this.machine.state;
  }

  propose(command: Command): Promise<void> {
    const result = this.tail.then(async () => {
      this.machine.apply(command);
      await this.store.saveCluster(this.machine.state.swarm ? this.machine.state : null);
      for (const listener of this.listeners) listener();
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  watch(listener: () => void): Disposer {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
