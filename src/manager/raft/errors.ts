/**
 * Why the core refused a request from its driver. Refusals are values a caller can act on (retry elsewhere, wait,
 * tell the user), so each carries a stable `reason` besides the project-wide `code` that maps to an HTTP status.
 * step() never throws: bad messages are counted instead (see counters.ts).
 */

import { SwarmletError } from '../../errors.ts';
import type { ErrorCode } from '../../errors.ts';

export type RaftErrorReason =
  /** No leader is known: the cluster is electing one, or this member cannot reach a quorum. */
  | 'no_leader'
  /** The request must go to the leader (leadership transfer, compaction of someone else's log...). */
  | 'not_leader'
  /** The leader is handing over; proposals resume on the new leader. */
  | 'transfer_in_progress'
  | 'entry_too_large'
  /** One membership change at a time: the previous one is not applied yet. */
  | 'conf_change_pending'
  /** The learner's log is too far behind the leader's to be promoted yet. */
  | 'learner_behind'
  | 'invalid_conf_change'
  | 'invalid_argument';

const CODES: Record<RaftErrorReason, ErrorCode> = {
  no_leader: 'unavailable',
  not_leader: 'unavailable',
  transfer_in_progress: 'unavailable',
  entry_too_large: 'invalid_argument',
  conf_change_pending: 'unavailable',
  learner_behind: 'unavailable',
  invalid_conf_change: 'invalid_argument',
  invalid_argument: 'invalid_argument',
};

export class RaftError extends SwarmletError {
  readonly reason: RaftErrorReason;

  constructor(reason: RaftErrorReason, message: string) {
    super(CODES[reason], message);
    this.name = 'RaftError';
    this.reason = reason;
  }
}

export const noLeader = () =>
  new RaftError('no_leader', 'No manager leader is known. The managers are electing one or this manager cannot reach a quorum; retry in a few seconds.');
