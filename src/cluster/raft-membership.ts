/**
 * The leader keeps Raft's membership in step with the nodes' roles, as Swarm's role manager does: a node whose
 * role became manager is added as a learner, and promoted to voter once its log has caught up (so a promotion
 * never stalls commits waiting on a voter with an empty log); a node whose role became worker, or that is gone,
 * is removed. A leader that is itself being demoted hands leadership over first, and the next leader removes it.
 * One change at a time: Raft refuses a second while one is uncommitted, and the next pass retries.
 */

import { describeError } from '../errors.ts';
import type { RaftDriver } from '../manager/consensus/raft-driver.ts';
import type { RaftProposer } from '../manager/consensus/raft-proposer.ts';
import type { ConfChange } from '../manager/raft/types.ts';
import type { ClusterState } from '../manager/state/cluster-state.ts';
import type { Disposer } from '../runtime/runtime.ts';
import type { Logger } from '../util/logger.ts';
import { SerialRunner } from '../util/serial-runner.ts';

/** The next membership change that brings Raft's configuration to the nodes' roles, or null when none is due. */
export function nextConfChange(state: ClusterState, conf: { voters: string[]; learners: string[] }, self: string): ConfChange | 'hand-off' | null {
  const wanted = new Set(Object.values(state.nodes).filter((node) => node.Spec.Role === 'manager').map((node) => node.ID));
  for (const id of conf.learners) if (!wanted.has(id)) return { type: 'remove', member: id };
  for (const id of conf.voters) {
    if (wanted.has(id)) continue;
    return id === self ? 'hand-off' : { type: 'remove', member: id };
  }
  for (const id of conf.learners) return { type: 'promote', member: id };
  for (const id of wanted) if (!conf.voters.includes(id)) return { type: 'add-learner', member: id };
  return null;
}

export class RaftMembership {
  readonly #driver: RaftDriver;
  readonly #proposer: RaftProposer;
  readonly #log: Logger;
  readonly #disposers: Disposer[] = [];
  readonly #runner = new SerialRunner(() => this.#pass());
  #lastProblem = '';

  constructor(driver: RaftDriver, proposer: RaftProposer, log: Logger) {
    this.#driver = driver;
    this.#proposer = proposer;
    this.#log = log;
  }

  start(): void {
    this.#disposers.push(this.#proposer.watch(() => this.#runner.kick()));
    const timer = setInterval(() => this.#runner.kick(), 250);
    timer.unref();
    this.#disposers.push(() => clearInterval(timer));
  }

  async stop(): Promise<void> {
    for (const dispose of this.#disposers.splice(0)) dispose();
    await this.#runner.stop();
  }

  async #pass(): Promise<void> {
    const status = this.#driver.node.status();
    if (status.role !== 'leader' || !this.#proposer.state.swarm) return;
    const change = nextConfChange(this.#proposer.state, status.conf, status.id);
    if (change === null) return;
    try {
      if (change === 'hand-off') {
        this.#log.info('this manager was demoted: handing leadership over before leaving the managers');
        await this.#driver.handOffLeadership();
        return;
      }
      await this.#driver.changeMembership(change);
      this.#lastProblem = '';
      this.#log.info(`raft membership: ${change.type} ${change.member}`);
    } catch (err) {
      const problem = describeError(err);
      const what = change === 'hand-off' ? 'leadership hand-off' : `${change.type} ${change.member}`;
      // A learner still catching up is the normal case for a few passes; say other problems once.
      if (problem !== this.#lastProblem && !problem.includes('catching up')) this.#log.warn(`raft membership ${what}: ${problem}`);
      this.#lastProblem = problem;
    }
  }
}
