/**
 * Tunables of the Raft core, and the defaults swarmlet ships with. The defaults are sized for a LAN of small boxes
 * (Raspberry Pis on Ethernet or Wi-Fi) driven by a 100 ms tick: a follower notices a dead leader after 10–20 ticks
 * (1–2 s), a pre-vote and a vote round trip take a few milliseconds on a LAN, so failover stays under 3 s even
 * when the first election splits. Swarm's defaults (10 s election timeout) give 10–20 s.
 */

import type { MemberId } from './types.ts';

/**
 * Deliberate bugs, used ONLY by the test fixtures that prove the simulator and its invariants catch them. A
 * production driver never sets these; `resolveConfig` passes them through untouched so a test can switch one on.
 */
export interface RaftFaults {
  /** Commit any entry replicated on a quorum, whatever its term (the bug of the paper's figure 8). */
  commitOldTermByCount?: boolean;
  /**
   * Send a granted vote in a Ready of its own before the Ready that persists the vote: a crash in between lets
   * the node vote twice in one term.
   */
  voteBeforePersist?: boolean;
  /** Answer a follower's read at its own commit index, without confirming with the leader. */
  followerReadWithoutReadIndex?: boolean;
}

export interface RaftConfig {
  /**
   * Ticks a follower waits without hearing from a leader before it campaigns. The actual timeout is drawn
   * uniformly from [electionTick, 2·electionTick) so that two followers rarely campaign at once. Default 10.
   */
  electionTick: number;
  /** Ticks between a leader's heartbeats. Must be well under electionTick. Default 1. */
  heartbeatTick: number;
  /**
   * Ask for votes without raising the term first, so a node that was cut off (and kept timing out) cannot force
   * a healthy leader to step down when it comes back. Default true.
   */
  preVote: boolean;
  /**
   * A leader that has not heard from a quorum within an election timeout steps down, and a follower that hears
   * from its leader ignores vote requests (the leader lease): one member on flaky Wi-Fi cannot depose a healthy
   * leader. Default true.
   */
  checkQuorum: boolean;
  /** The largest entry accepted, in bytes of JSON. Larger proposals are refused; larger received entries are dropped. Default 1 MiB. */
  maxEntryBytes: number;
  /** A soft cap on the entry bytes carried by one append message (at least one entry is always sent). Default 256 KiB. */
  maxMessageBytes: number;
  /** Append messages in flight to one follower before the leader waits for acknowledgements. Default 64. */
  maxInflight: number;
  /**
   * A learner is promoted to voter only once its log is within this many entries of the leader's, so that
   * promoting it never leaves the cluster waiting on a voter that cannot yet help commit. Default 64.
   */
  promotionLag: number;
  /** Test-only fault injection; see RaftFaults. */
  faults: RaftFaults;
}

export const DEFAULT_RAFT_CONFIG: Readonly<RaftConfig> = Object.freeze({
  electionTick: 10,
  heartbeatTick: 1,
  preVote: true,
  checkQuorum: true,
  maxEntryBytes: 1024 * 1024,
  maxMessageBytes: 256 * 1024,
  maxInflight: 64,
  promotionLag: 64,
  faults: Object.freeze({}),
});

/** The tick interval the defaults are sized for. */
export const DEFAULT_TICK_MS = 100;

/** Fills in defaults and refuses settings under which Raft cannot work (a programming error: it throws). */
export function resolveConfig(id: MemberId, partial: Partial<RaftConfig> = {}): RaftConfig {
  const config: RaftConfig = { ...DEFAULT_RAFT_CONFIG, ...partial, faults: { ...(partial.faults ?? {}) } };
  if (id === '') throw new RangeError('a Raft member needs a non-empty id');
  const positive = ['electionTick', 'heartbeatTick', 'maxEntryBytes', 'maxMessageBytes', 'maxInflight'] as const;
  for (const key of positive) {
    if (!Number.isInteger(config[key]) || config[key] < 1) throw new RangeError(`raft ${key} must be a positive integer`);
  }
  if (config.heartbeatTick >= config.electionTick) throw new RangeError('raft heartbeatTick must be less than electionTick');
  if (!Number.isInteger(config.promotionLag) || config.promotionLag < 0) throw new RangeError('raft promotionLag must be ≥ 0');
  return config;
}
