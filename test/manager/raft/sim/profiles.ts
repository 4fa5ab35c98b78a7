/**
 * Fault mixes for the simulator. Times are simulated milliseconds; rates are per message. `calm` is a healthy
 * LAN; `stormy` is the CI fuzz mix; the `hunt-*` mixes make one injected bug's window likely, so a mutant is
 * caught within a small seed budget (they are still valid Raft environments: a correct core passes them).
 */

import type { RaftConfig } from '../../../../src/manager/raft/config.ts';

export interface SimProfile {
  name: string;
  nodes: number;
  /** Faults happen during this much simulated time, then the cluster heals and must converge. */
  durationMs: number;
  /** Quiet time after healing, before convergence is checked. */
  settleMs: number;
  tickMs: number;
  /** Each node's tick interval is tickMs × a factor in [1/skew, skew]: clocks that run at different rates. */
  skew: number;
  minDelayMs: number;
  maxDelayMs: number;
  dropRate: number;
  duplicateRate: number;
  /** Messages delayed by up to longDelayMs more, overtaking each other. */
  reorderRate: number;
  longDelayMs: number;
  /** Mean time between partitions (0: none) and mean partition length. */
  partitionEveryMs: number;
  partitionMs: number;
  crashEveryMs: number;
  downMs: number;
  /** fsync latency, uniform in [0, diskLatencyMs]: the window in which a crash loses unsynced writes. */
  diskLatencyMs: number;
  clients: number;
  thinkMs: number;
  opTimeoutMs: number;
  readRatio: number;
  casRatio: number;
  keys: number;
  /** Members compact their log every this many applied entries (0: never). */
  compactEvery: number;
  /**
   * Voters the cluster starts with (default: `nodes`). With churn, the voters never drop below this, and members
   * (voters and learners) never exceed `nodes`.
   */
  voters?: number;
  /** Mean time between membership changes during the faults (0 or absent: none). */
  churnEveryMs?: number;
  config: Partial<RaftConfig>;
}

export const CALM: SimProfile = {
  name: 'calm',
  nodes: 3,
  durationMs: 8_000,
  settleMs: 4_000,
  tickMs: 100,
  skew: 1.1,
  minDelayMs: 1,
  maxDelayMs: 5,
  dropRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
  longDelayMs: 0,
  partitionEveryMs: 0,
  partitionMs: 0,
  crashEveryMs: 0,
  downMs: 0,
  diskLatencyMs: 2,
  clients: 3,
  thinkMs: 20,
  opTimeoutMs: 3_000,
  readRatio: 0.4,
  casRatio: 0.2,
  keys: 3,
  compactEvery: 40,
  config: {},
};

export const STORMY: SimProfile = {
  ...CALM,
  name: 'stormy',
  nodes: 5,
  durationMs: 20_000,
  settleMs: 6_000,
  skew: 1.5,
  maxDelayMs: 20,
  dropRate: 0.05,
  duplicateRate: 0.03,
  reorderRate: 0.05,
  longDelayMs: 400,
  partitionEveryMs: 2_500,
  partitionMs: 1_500,
  crashEveryMs: 2_500,
  downMs: 1_200,
  diskLatencyMs: 8,
  clients: 4,
  compactEvery: 25,
};

/**
 * Many short-lived leaders on a lossy network, so entries from a deposed leader's term sit on a majority while a
 * later leader's do not (figure 8). Valid settings, if aggressive: pre-vote and check-quorum off, tiny timeouts.
 */
export const HUNT_OLD_TERM: SimProfile = {
  ...STORMY,
  name: 'hunt-old-term',
  nodes: 3,
  durationMs: 15_000,
  partitionEveryMs: 600,
  partitionMs: 500,
  crashEveryMs: 500,
  downMs: 400,
  dropRate: 0.3,
  compactEvery: 0,
  thinkMs: 5,
  clients: 5,
  // One entry per append, so a follower catching up acknowledges an old entry before the new leader's own.
  config: { maxMessageBytes: 1, electionTick: 2, heartbeatTick: 1, preVote: false, checkQuorum: false },
};

/** Crashes during slow fsyncs while elections split. */
export const HUNT_VOTE: SimProfile = {
  ...STORMY,
  name: 'hunt-vote',
  nodes: 3,
  durationMs: 15_000,
  diskLatencyMs: 60,
  crashEveryMs: 150,
  downMs: 10,
  partitionEveryMs: 800,
  partitionMs: 400,
  dropRate: 0.1,
  // Without pre-vote a restarted member campaigns in the term it forgot it voted in.
  config: { electionTick: 3, heartbeatTick: 1, preVote: false, checkQuorum: false },
};

/** Partitions that leave a follower behind while reads keep arriving at it. */
export const HUNT_STALE_READ: SimProfile = {
  ...STORMY,
  name: 'hunt-stale-read',
  durationMs: 8_000,
  readRatio: 0.6,
};

/**
 * Membership churn under the stormy mix: members join as learners, are promoted and removed (leaders included)
 * while messages are lost and members crash, between 3 and 5 voters.
 */
export const CHURN: SimProfile = {
  ...STORMY,
  name: 'churn',
  nodes: 5,
  voters: 3,
  churnEveryMs: 700,
  // Small logs, so a joining member often needs a snapshot.
  compactEvery: 15,
};

export const PROFILES: Record<string, SimProfile> = {
  calm: CALM,
  stormy: STORMY,
  'hunt-old-term': HUNT_OLD_TERM,
  'hunt-vote': HUNT_VOTE,
  'hunt-stale-read': HUNT_STALE_READ,
  churn: CHURN,
};

/**
 * Seeds per profile for the linearizability run in CI (test/manager/raft/linearizability.test.ts), weighted
 * towards the full fault mix; `npm run soak` scales the same mix up to 100,000 seeds. The hunt mixes are here
 * because their extremes (a leader a second, crashes mid-fsync, followers serving reads behind partitions) are
 * where a history would first go wrong; churn changes the membership under the same faults.
 */
export const SEED_MIX: readonly (readonly [SimProfile, number])[] = [
  [STORMY, 1_000],
  [CALM, 50],
  [HUNT_OLD_TERM, 100],
  [HUNT_VOTE, 150],
  [HUNT_STALE_READ, 200],
  [CHURN, 300],
];
