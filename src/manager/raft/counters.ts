/**
 * Counts of everything the core refused or dropped, by reason. Bad input never throws out of step(): it is
 * counted here, so an operator (and the simulator) can see a misbehaving or misconfigured peer.
 */

export const DROP_REASONS = [
  /** The message does not have the shape its type requires. */
  'malformed',
  /** Addressed to another member, or claiming to come from this one. */
  'misaddressed',
  /** From a member not in this node's configuration (vote requests, responses, forwarded requests). */
  'unknown-member',
  /** From an older term. */
  'stale-term',
  /** An index or commit that cannot be right (beyond the log, entries out of order). */
  'out-of-range',
  /** An entry larger than maxEntryBytes. */
  'oversized',
  /** A vote request ignored because this node heard from a live leader recently (leader lease). */
  'lease',
  /** A request only a leader serves (forwarded proposal or read) reached a non-leader. */
  'not-leader',
  /** A forwarded proposal refused by the leader (leadership transfer, pending membership change...). */
  'proposal-refused',
  /** A second leader for this node's term, or an append rewriting committed entries: a broken peer. */
  'conflict',
  /** A response this node no longer waits for (a previous election, an older probe). */
  'stale-response',
  /** A bug in the core caught at step()'s boundary. The simulator requires this to stay 0. */
  'internal',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

export type DropCounters = Record<DropReason, number>;

export function zeroCounters(): DropCounters {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as DropCounters;
}
