/**
 * A manager's cluster events: derived from every command it applies, kept in a bounded in-memory history (so
 * `events --since` replays the recent past without a write to the SD card), and handed to live subscribers.
 *
 * The history is rebuilt from what the manager applies: after a restart it holds the changes replayed from the
 * Raft log (back to its last snapshot), with the times they first happened; changes folded into a snapshot the
 * manager installed are not in it.
 */

import { describeError } from '../../errors.ts';
import type { Disposer } from '../../runtime/runtime.ts';
import type { Logger } from '../../util/logger.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import type { Command } from '../state/commands.ts';
import type { ClusterEvent } from './cluster-event.ts';
import { deriveEvents, touchedBy, type Touched } from './derive.ts';
import { RingBuffer } from './ring-buffer.ts';

/** Events kept for `since`: a few hundred kilobytes, hours of an ordinary cluster's changes. */
export const EVENT_HISTORY = 4096;

export type EventListener = (event: ClusterEvent) => void;

export interface ClusterEventLogOptions {
  capacity?: number;
  /** Milliseconds since the epoch: the time of commands that carry none. */
  clock?: () => number;
  log?: Logger;
}

export class ClusterEventLog {
  private readonly history: RingBuffer<ClusterEvent>;
  private readonly listeners = new Set<EventListener>();
  private readonly clock: () => number;
  private readonly log: Logger | undefined;

  constructor(options: ClusterEventLogOptions = {}) {
    this.history = new RingBuffer(options.capacity ?? EVENT_HISTORY);
    this.clock = options.clock ?? Date.now;
    this.log = options.log;
  }

  /** Before `command` is applied to `state`: what it may change, to compare with afterwards. Never throws. */
  before(state: ClusterState, command: Command): Touched {
    try {
      return touchedBy(state, command);
    } catch (err) {
      this.log?.error(`reading what a ${command.type} command touches: ${describeError(err)}`);
      return { nodes: new Map(), services: new Map(), tasks: new Map(), networks: new Map() };
    }
  }

  /**
   * After `command` was applied: records its events and tells the subscribers. Never throws — events are a view
   * of the cluster, and a fault in them must not stop a manager applying its log.
   */
  applied(touched: Touched, command: Command, state: ClusterState): void {
    let events: ClusterEvent[];
    try {
      events = deriveEvents(touched, command, state, this.clock());
    } catch (err) {
      this.log?.error(`deriving the events of a ${command.type} command: ${describeError(err)}`);
      return;
    }
    for (const event of events) this.publish(event);
  }

  /** Adds one event to the history and hands it to every subscriber. */
  publish(event: ClusterEvent): void {
    this.history.push(event);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.log?.warn(`an event subscriber failed: ${describeError(err)}`);
      }
    }
  }

  /** Recorded events with `since <= at <= until` (ms), in the order they happened. */
  replay(since: number, until = Number.POSITIVE_INFINITY): ClusterEvent[] {
    return this.history.toArray().filter((event) => event.at >= since && event.at <= until);
  }

  /** Live events from now on, until the returned disposer is called. */
  subscribe(listener: EventListener): Disposer {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** How many subscribers are listening: what a test checks to prove a client that left released its own. */
  get subscribers(): number {
    return this.listeners.size;
  }
}
