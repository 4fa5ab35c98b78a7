/**
 * The Raft vocabulary shared by the pure core (src/manager/raft/), its storage (src/store/raft/) and the
 * transport that carries messages between managers. Everything is plain JSON: entries and snapshots are written
 * to disk as they are, and messages cross the wire as they are.
 */

/** A member's identity: the node ID of the manager. */
export type MemberId = string;

export type EntryType = 'normal' | 'conf-change';

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /**
   * For `normal` entries, the command (src/manager/state/commands.ts) or null for the empty entry a new leader
   * appends; for `conf-change` entries, a ConfChange.
   */
  data: unknown;
}

/** Single-server membership change. Learners receive the log but do not vote until promoted. */
export interface ConfChange {
  type: 'add-learner' | 'promote' | 'remove';
  member: MemberId;
}

export interface ConfState {
  voters: MemberId[];
  learners: MemberId[];
}

/** What must be durable before any message that depends on it is sent (Raft's "persistent state"). */
export interface HardState {
  term: number;
  /** The member voted for in `term`, or '' for none. */
  vote: MemberId;
  commit: number;
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  conf: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  /** The state machine's state at `metadata.index` (the cluster state, as JSON). */
  data: unknown;
}

export type MessageType =
  | 'pre-vote'
  | 'pre-vote-response'
  | 'vote'
  | 'vote-response'
  | 'append'
  | 'append-response'
  | 'heartbeat'
  | 'heartbeat-response'
  | 'snapshot'
  | 'timeout-now'
  | 'read-index'
  | 'read-index-response'
  | 'propose';

export interface Message {
  type: MessageType;
  from: MemberId;
  to: MemberId;
  term: number;
  /** append: the index/term of the entry before `entries`; vote: the candidate's last index/term. */
  index?: number;
  logTerm?: number;
  entries?: Entry[];
  commit?: number;
  reject?: boolean;
  /** On a rejected append: the follower's hint for where to retry (fast backtracking). */
  rejectHint?: number;
  /** On a rejected append: the term of the follower's entry at rejectHint, for term-based backtracking. */
  rejectTerm?: number;
  snapshot?: Snapshot;
  /** read-index and heartbeats: the request context a read is waiting on. */
  context?: string;
}

/** A linearizable read may be served once the state machine has applied `index`. */
export interface ReadState {
  index: number;
  context: string;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

export interface SoftState {
  leader: MemberId | '';
  role: Role;
}
