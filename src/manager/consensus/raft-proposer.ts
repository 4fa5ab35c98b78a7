/**
 * The manager's Proposer on top of Raft: a command is committed when a quorum of managers holds it, then every
 * manager applies it to its state machine in the same order. The caller is answered once its own manager has
 * applied the command — with the state machine's verdict, so a refused command (a name clash, a stale version)
 * is refused on every manager alike and reported to the one caller.
 */

import { describeError, SwarmletError } from '../../errors.ts';
import type { Disposer } from '../../runtime/runtime.ts';
import { newId, type RandomSource } from '../../util/ids.ts';
import type { Logger } from '../../util/logger.ts';
import { ClusterEventLog } from '../events/event-log.ts';
import type { Proposer } from '../proposer.ts';
import type { Entry } from '../raft/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import type { Command } from '../state/commands.ts';
import type { StateMachine } from '../state/state-machine.ts';
import type { RaftDriver, ReplicatedStateMachine } from './raft-driver.ts';

/** What a Raft entry carries: the command, and the request it answers (so the proposing manager finds its caller). */
export interface ProposalData {
  request: string;
  command: Command;
}

/** Long enough for a leader election and a slow SD card, short enough that a client is not left hanging. */
export const PROPOSAL_TIMEOUT_MS = 10_000;

interface Waiting {
  resolve: () => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

export class RaftProposer implements Proposer, ReplicatedStateMachine {
  private readonly machine: StateMachine;
  /** The cluster events this manager derives from what it applies: what GET /events streams. */
  readonly events: ClusterEventLog;
  private readonly listeners = new Set<() => void>();
  private readonly waiting = new Map<string, Waiting>();
  private readonly random: RandomSource;
  private readonly log: Logger;
  private driver: RaftDriver | null = null;

  constructor(machine: StateMachine, random: RandomSource, log: Logger) {
    this.machine = machine;
    this.random = random;
    this.log = log;
    this.events = new ClusterEventLog({ log });
  }

  /** The driver is made with this object as its state machine, then attached. */
  attach(driver: RaftDriver): void {
    this.driver = driver;
  }

  get state(): ClusterState {
    return this.machine.state;
  }

  async propose(command: Command): Promise<void> {
    const driver = this.driver;
    if (!driver) throw new SwarmletError('unavailable', 'the manager is not running');
    await driver.whenLeaderKnown();
    const request = newId(this.random);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(request);
        const why = driver.storageError ? ` (storage: ${driver.storageError})` : ' (is a quorum of managers reachable?)';
        reject(new SwarmletError('unavailable', `the change was not committed within ${PROPOSAL_TIMEOUT_MS / 1000} s${why}; it may still take effect: check before retrying`));
      }, PROPOSAL_TIMEOUT_MS);
      timer.unref();
      this.waiting.set(request, { resolve, reject, timer });
      try {
        driver.propose({ request, command } satisfies ProposalData);
      } catch (err) {
        clearTimeout(timer);
        this.waiting.delete(request);
        reject(err);
      }
    });
  }

  read(): Promise<void> {
    if (!this.driver) return Promise.resolve();
    return this.driver.linearizableRead();
  }

  watch(listener: () => void): Disposer {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Fails every waiting caller, e.g. when the manager stops. */
  abandon(reason: string): void {
    for (const [request, waiting] of this.waiting) {
      clearTimeout(waiting.timer);
      waiting.reject(new SwarmletError('unavailable', reason));
      this.waiting.delete(request);
    }
  }

  // ReplicatedStateMachine: called by the driver, on every manager, in log order.

  apply(entry: Entry): void {
    const { request, command } = entry.data as ProposalData;
    const waiting = this.waiting.get(request);
    if (waiting) {
      clearTimeout(waiting.timer);
      this.waiting.delete(request);
    }
    // The events are recorded before the caller is answered, so `events --since` right after a change shows it.
    const touched = this.events.before(this.machine.state, command);
    try {
      this.machine.apply(command);
      this.events.applied(touched, command, this.machine.state);
      waiting?.resolve();
    } catch (err) {
      if (!(err instanceof SwarmletError)) this.log.error(`applying entry ${entry.index}: ${describeError(err)}`);
      waiting?.reject(err);
    }
  }

  restore(data: unknown): void {
    this.machine.reset(structuredClone(data) as ClusterState);
  }

  snapshot(): unknown {
    return structuredClone(this.machine.state);
  }

  appliedBatch(): void {
    for (const listener of this.listeners) listener();
  }
}
