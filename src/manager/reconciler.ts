/**
 * The manager's control loop: after every change, and on a timer for time-based decisions (restart delays, update
 * delays and monitor periods), run the orchestrators and the scheduler over the state and commit what they decide:
 * automatic rollbacks first, then where updates stand, then the tasks.
 */

import { describeError } from '../errors.ts';
import type { Disposer } from '../runtime/runtime.ts';
import type { RandomSource } from '../util/ids.ts';
import type { Logger } from '../util/logger.ts';
import { SerialRunner } from '../util/serial-runner.ts';
import { isoTime } from './orchestrator/context.ts';
import { type NodeLiveness, plan } from './plan.ts';
import type { Proposer } from './proposer.ts';

export interface ReconcilerOptions {
  proposer: Proposer;
  random: RandomSource;
  log: Logger;
  now?: () => number;
  /** Milliseconds between passes when nothing changes. */
  interval?: number;
  /** Only the leader orchestrates; other managers would only race it. Default: always. */
  isLeader?: () => boolean;
  /** The leader's view of which nodes are alive now (its dispatcher's). Default: the recorded status alone. */
  liveness?: () => NodeLiveness | undefined;
}

export class Reconciler {
  private readonly options: Required<ReconcilerOptions>;
  private disposers: Disposer[] = [];
  private readonly runner = new SerialRunner(async () => {
    try {
      await this.pass();
    } catch (err) {
      this.options.log.warn(`reconcile pass failed: ${describeError(err)}`);
    }
  });

  constructor(options: ReconcilerOptions) {
    this.options = { now: Date.now, interval: 500, isLeader: () => true, liveness: () => undefined, ...options };
  }

  start(): void {
    this.disposers.push(this.options.proposer.watch(() => this.kick()));
    const timer = setInterval(() => this.kick(), this.options.interval);
    timer.unref();
    this.disposers.push(() => clearInterval(timer));
    this.kick();
  }

  async stop(): Promise<void> {
    for (const dispose of this.disposers.splice(0)) dispose();
    await this.runner.stop();
  }

  kick(): void {
    this.runner.kick();
  }

  /** One pass: compute, then commit. Exposed for tests. */
  async pass(): Promise<void> {
    const { proposer, random } = this.options;
    const state = proposer.state;
    if (!state.swarm || !this.options.isLeader()) return;
    const ctx = { now: this.options.now(), random };
    const changes = plan(state, ctx, this.options.liveness());
    if (changes.empty) return;
    const now = isoTime(ctx.now);
    const statuses = changes.updateStatuses;
    for (const rollback of changes.rollbacks) {
      const { id, version, spec, message } = rollback;
      try {
        await proposer.propose({ type: 'service.update', id, version, spec, now, rollback: message });
      } catch (err) {
        // The previous spec no longer fits (a network it names was removed): the update pauses instead, saying why.
        const status = proposer.state.services[id]?.UpdateStatus;
        statuses.push({ id, version, status: { State: 'paused', StartedAt: status?.StartedAt, Message: `${message}; the rollback failed: ${describeError(err)}` } });
      }
    }
    if (statuses.length > 0) await proposer.propose({ type: 'service.status', updates: statuses, now });
    if (changes.put.length > 0) await proposer.propose({ type: 'tasks.put', tasks: changes.put, now });
    if (changes.deletedIds.length > 0) await proposer.propose({ type: 'tasks.delete', ids: changes.deletedIds });
  }
}
