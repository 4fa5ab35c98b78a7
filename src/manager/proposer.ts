/**
 * Commits commands: applies them to the state machine and makes them durable before anyone is told. Commands
 * are committed one after another in the order proposed. With Raft (a later issue) the same interface
 * replicates the command to a quorum first; callers do not change.
 */

import type { Disposer } from '../runtime/runtime.ts';
import type { StateStore } from '../store/state-store.ts';
import type { ClusterState } from './state/cluster-state.ts';
import { emptyClusterState } from './state/cluster-state.ts';
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

interface Pending {
  command: Command;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: commands proposed while a write is under way are applied together and made durable by one
 * write — a burst of task reports costs one fsync, not one each (SD cards wear by the write). A command that
 * fails validation is refused alone, before anything is written; a write that fails refuses every command it
 * carried and rolls the state back to what the disk holds.
 */
export class LocalProposer implements Proposer {
  private readonly machine: StateMachine;
  private readonly store: StateStore;
  private readonly listeners = new Set<() => void>();
  private queue: Pending[] = [];
  private writing = false;

  constructor(machine: StateMachine, store: StateStore) {
    this.machine = machine;
    this.store = store;
  }

  get state(): ClusterState {
    return this.machine.state;
  }

  propose(command: Command): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ command, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  watch(listener: () => void): Disposer {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async drain(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const applied: Pending[] = [];
      for (const pending of batch) {
        try {
          this.machine.apply(pending.command);
          applied.push(pending);
        } catch (err) {
          pending.reject(err);
        }
      }
      if (applied.length === 0) continue;
      try {
        await this.store.saveCluster(this.machine.state.swarm ? this.machine.state : null);
      } catch (err) {
        // Not durable, so not committed: back to what the disk holds, and every caller is told.
        this.machine.reset(this.store.restoreDurable() ?? emptyClusterState());
        this.notify();
        for (const pending of applied) pending.reject(err);
        continue;
      }
      this.notify();
      for (const pending of applied) pending.resolve();
    }
    this.writing = false;
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
