/**
 * The Raft core: a deterministic state machine with no I/O, timers or randomness of its own. Its inputs are
 * tick(), step(message), propose(), proposeConfChange(), readIndex(), transferLeadership() and compact(); its
 * output is a Ready (ready.ts), which a driver persists, sends and applies in a fixed order before calling
 * advance(). Because nothing else happens inside, a simulator can drive many cores in one process under any
 * schedule of faults, and replay a failing schedule exactly from its seed.
 *
 * Roles, transitions and membership live here; message dispatch (step.ts), elections, replication, reads and
 * transfers are in their own files and operate on this object's state (its fields are public for them and for
 * tests; drivers use the methods).
 */

import type { RandomSource } from '../../util/ids.ts';
import { applyConfChange, confChangeProblem, emptyConf, isConfChange } from './confchange.ts';
import { resolveConfig } from './config.ts';
import type { RaftConfig } from './config.ts';
import { zeroCounters } from './counters.ts';
import type { DropCounters, DropReason } from './counters.ts';
import { campaign } from './election.ts';
import { noLeader, RaftError } from './errors.ts';
import { entryBytes, RaftLog } from './log.ts';
import { Progress } from './progress.ts';
import { hasQuorum } from './quorum.ts';
import { ReadIndexQueue, releaseReads, requestRead } from './read-index.ts';
import { isEmptyReady, sameHardState } from './ready.ts';
import type { Ready } from './ready.ts';
import { broadcastAppend, broadcastHeartbeat, maybeCommit } from './replication.ts';
import { stepMessage } from './step.ts';
import type { PersistedRaftState } from './storage.ts';
import { transferLeadership } from './transfer.ts';
import type { ConfChange, ConfState, Entry, EntryType, HardState, MemberId, Message, ReadState, Role, Snapshot, SoftState } from './types.ts';
import { messageProblem } from './validate.ts';

export interface RaftOptions {
  id: MemberId;
  /** Draws election timeouts. Seeded in simulations; crypto-random in production. */
  random: RandomSource;
  /** What storage loaded: bootstrapState() for a new cluster's first members, emptyState() for a joining one. */
  storage: PersistedRaftState;
  /**
   * The index the driver's state machine already reflects, when it keeps its own state durably; entries up to it
   * are not delivered again. Default: the snapshot's index (the driver restores the snapshot, then re-applies).
   */
  applied?: number;
  config?: Partial<RaftConfig>;
}

/** Where a proposal went: into this leader's log at index/term, or to the leader, to be found by its content once applied. */
export type ProposeResult = { status: 'appended'; index: number; term: number } | { status: 'forwarded'; leader: MemberId };

export interface RaftStatus {
  id: MemberId;
  term: number;
  role: Role;
  leader: MemberId | '';
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
  conf: ConfState;
  /** Leader only. */
  progress: Record<MemberId, { match: number; next: number; state: string }>;
  leadTransferee: MemberId | '';
  counters: DropCounters;
}

export class RaftNode {
  readonly id: MemberId;
  readonly config: RaftConfig;
  private readonly random: RandomSource;

  term: number;
  vote: MemberId;
  leader: MemberId | '' = '';
  role: Role = 'follower';
  readonly log: RaftLog;
  /** The configuration after every committed conf change. */
  conf: ConfState;
  /** The configuration at the snapshot, and after each committed change since: snapshots need the one at their index. */
  private confBase: ConfState;
  private confHistory: { index: number; conf: ConfState }[] = [];

  /** Leader only: what each other member has. */
  readonly progress = new Map<MemberId, Progress>();
  /** Candidates only: answers so far. */
  readonly votes = new Map<MemberId, boolean>();
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee: MemberId | '' = '';
  /** The index of the last conf change this leader appended: the next waits until it is committed. */
  pendingConfIndex = 0;
  readonly reads = new ReadIndexQueue();
  readsAwaitingCommit: { from: MemberId; context: string }[] = [];

  /** The newest snapshot (taken here or received), sent to followers too far behind. */
  snapshot: Snapshot | null;
  /** A received snapshot not yet handed to the driver. */
  private pendingSnapshot: Snapshot | null = null;
  private outbox: Message[] = [];
  readStates: ReadState[] = [];
  private prevSoft: SoftState = { leader: '', role: 'follower' };
  private prevHard: HardState;
  private outstanding: Ready | null = null;
  /** Fault injection (voteBeforePersist): a granted vote waits to leave in a Ready of its own. */
  private voteUnpersisted = false;

  readonly counters: DropCounters = zeroCounters();
  /** The last error caught at step()'s boundary (counted as 'internal'), for diagnosis. */
  lastInternalError: unknown = undefined;

  constructor(options: RaftOptions) {
    this.id = options.id;
    this.config = resolveConfig(options.id, options.config);
    this.random = options.random;
    const { hardState, snapshot, entries } = options.storage;
    const snapIndex = snapshot?.metadata.index ?? 0;
    entries.forEach((e, i) => {
      if (e.index !== snapIndex + 1 + i) throw new RaftError('invalid_argument', `stored Raft log is not contiguous at index ${e.index}`);
    });
    const committed = Math.max(hardState.commit, snapIndex);
    if (committed > snapIndex + entries.length) {
      throw new RaftError('invalid_argument', `stored Raft commit index ${committed} is beyond the stored log (${snapIndex + entries.length})`);
    }
    const applied = Math.min(Math.max(options.applied ?? snapIndex, snapIndex), committed);
    this.log = new RaftLog(snapIndex, snapshot?.metadata.term ?? 0, entries, snapIndex, applied);
    this.snapshot = snapshot;
    this.confBase = snapshot ? cloneConf(snapshot.metadata.conf) : emptyConf();
    this.conf = this.confBase;
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.commitTo(committed);
    this.prevHard = { ...hardState };
    this.resetRandomizedElectionTimeout();
  }

  // ---- driver API ------------------------------------------------------------------------------------------

  /** Advances logical time by one tick (DEFAULT_TICK_MS in production). */
  tick(): void {
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Feeds a message from the network. Never throws: bad input is dropped and counted in `counters`. */
  step(input: unknown): void {
    if (messageProblem(input) !== null) return this.drop('malformed');
    const m = input as Message;
    if (m.to !== this.id || m.from === this.id) return this.drop('misaddressed');
    try {
      stepMessage(this, m);
    } catch (err) {
      this.lastInternalError = err;
      this.drop('internal');
    }
  }

  /**
   * Proposes a command. On the leader it is appended at once; on a follower it is forwarded to the leader and
   * may be lost (the caller recognises it when applied, or times out). Throws RaftError no_leader when no leader
   * is known, transfer_in_progress during a hand-over, entry_too_large.
   */
  propose(data: unknown): ProposeResult {
    return this.proposeEntry('normal', data);
  }

  /** Proposes a membership change (leader only; see confchange.ts for why one at a time). */
  proposeConfChange(cc: ConfChange): ProposeResult {
    if (!isConfChange(cc)) throw new RaftError('invalid_argument', 'not a membership change');
    if (this.role !== 'leader') {
      if (this.leader === '') throw noLeader();
      throw new RaftError('not_leader', `Membership changes are made by the leader (${this.leader}); send the request there.`);
    }
    if (this.pendingConfIndex > this.log.committed) {
      throw new RaftError('conf_change_pending', 'Another membership change is in progress; retry when it completes.');
    }
    const problem = confChangeProblem(this.conf, cc);
    if (problem !== null) throw new RaftError('invalid_conf_change', problem);
    if (cc.type === 'promote') {
      const pr = this.progress.get(cc.member);
      // A learner that holds nothing yet is never close enough, however short the log: as a voter it could not
      // even know the membership it votes in.
      if (!pr || pr.match === 0 || pr.match < this.log.snapshotIndex || pr.match + this.config.promotionLag < this.log.lastIndex()) {
        throw new RaftError('learner_behind', `${cc.member} is still catching up with the leader's log; retry once it has.`);
      }
    }
    return this.proposeEntry('conf-change', cc);
  }

  /**
   * Asks for a linearizable read. A ReadState{index, context} appears in a later Ready once the leader has
   * confirmed it still leads; the read may then be served by this node as soon as it has applied `index`.
   * Throws RaftError no_leader when no leader is known.
   */
  readIndex(context: string): void {
    if (this.role === 'leader') return requestRead(this, this.id, context);
    if (this.config.faults.followerReadWithoutReadIndex && this.role === 'follower') {
      this.readStates.push({ index: this.log.committed, context });
      return;
    }
    if (this.leader === '') throw noLeader();
    this.send({ type: 'read-index', to: this.leader, context });
  }

  /** Hands leadership to `to` (leader only); proposals are refused until it completes or times out. */
  transferLeadership(to: MemberId): void {
    transferLeadership(this, to);
  }

  /** Starts an election now, as if the election timer had fired (tests; a single new member bootstrapping). */
  campaign(): void {
    if (this.role !== 'leader') campaign(this, this.config.preVote ? 'pre-vote' : 'election');
  }

  /**
   * The driver took a snapshot of its state machine at `index` (≤ applied): entries up to it are dropped from
   * memory, and followers that need them get the snapshot instead. Returns the snapshot for the driver to save
   * (RaftStorage.save({entries: [], snapshot}) then compact(index)). Keep some entries behind the applied index
   * (compact at applied − N) so that briefly slow followers catch up from the log, not a whole snapshot.
   */
  compact(index: number, data: unknown): Snapshot {
    if (!Number.isSafeInteger(index) || index <= this.log.snapshotIndex || index > this.log.applied) {
      throw new RaftError('invalid_argument', `cannot compact at ${index}: it must be after ${this.log.snapshotIndex} and applied (≤ ${this.log.applied})`);
    }
    const snap: Snapshot = { metadata: { index, term: this.log.term(index)!, conf: cloneConf(this.confAt(index)) }, data };
    this.log.compactTo(index);
    this.confBase = snap.metadata.conf;
    this.confHistory = this.confHistory.filter((h) => h.index > index);
    this.snapshot = snap;
    return snap;
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    return !isEmptyReady(this.peekReady());
  }

  /** What the driver must do now (see ready.ts for the order). One Ready at a time: advance() it first. */
  ready(): Ready {
    if (this.outstanding) throw new Error('raft: advance() the previous Ready before asking for another');
    let rd: Ready;
    if (this.voteUnpersisted) {
      // Fault injection only: the vote leaves before the hard state recording it is persisted.
      this.voteUnpersisted = false;
      const isVote = (m: Message) => m.type === 'vote-response' && !m.reject;
      rd = { entries: [], messages: this.outbox.filter(isVote), committedEntries: [], readStates: [], mustSync: false };
      this.outbox = this.outbox.filter((m) => !isVote(m));
    } else {
      rd = this.peekReady();
      this.outbox = [];
      this.readStates = [];
      if (rd.softState) this.prevSoft = rd.softState;
    }
    this.outstanding = rd;
    return rd;
  }

  /** The driver has persisted, sent and applied `rd`. */
  advance(rd: Ready): void {
    if (rd !== this.outstanding) throw new Error('raft: advance() takes the Ready returned by the last ready()');
    this.outstanding = null;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.snapshot) {
      if (this.pendingSnapshot === rd.snapshot) this.pendingSnapshot = null;
      this.log.appliedTo(rd.snapshot.metadata.index);
    }
    const last = rd.entries.at(-1);
    if (last) this.log.stableTo(last.index, last.term);
    const applied = rd.committedEntries.at(-1);
    if (applied) this.log.appliedTo(applied.index);
    // The leader's own entries now count towards a quorum.
    if (last && maybeCommit(this)) broadcastAppend(this);
  }

  /** A summary for logs, metrics and benchmarks (committed proposals/s, who leads, how far each member is). */
  status(): RaftStatus {
    return {
      id: this.id,
      term: this.term,
      role: this.role,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.snapshotIndex,
      conf: cloneConf(this.conf),
      progress: Object.fromEntries([...this.progress].map(([id, pr]) => [id, { match: pr.match, next: pr.next, state: pr.state }])),
      leadTransferee: this.leadTransferee,
      counters: { ...this.counters },
    };
  }

  get softState(): SoftState {
    return { leader: this.leader, role: this.role };
  }

  get hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  // ---- role transitions (used by election.ts and friends) ----------------------------------------------------

  isPromotable(): boolean {
    return this.conf.voters.includes(this.id);
  }

  becomeFollower(term: number, leader: MemberId | ''): void {
    this.reset(term);
    this.role = 'follower';
    this.leader = leader;
  }

  becomePreCandidate(): void {
    // No term change and no vote: a pre-candidate promises nothing.
    this.votes.clear();
    this.role = 'pre-candidate';
    this.leader = '';
  }

  becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    for (const id of [...this.conf.voters, ...this.conf.learners]) {
      if (id !== this.id) this.progress.set(id, new Progress(this.log.lastIndex() + 1, this.config.maxInflight));
    }
    // Any uncommitted entry may be a conf change: the next one waits until all of them are committed.
    this.pendingConfIndex = this.log.lastIndex();
    // Commits every earlier entry once it is (figure 8), and tells followers who leads.
    this.appendNew('normal', null);
    broadcastAppend(this);
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = '';
    }
    this.leader = '';
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.votes.clear();
    this.progress.clear();
    this.leadTransferee = '';
    this.reads.clear();
    this.readsAwaitingCommit = [];
  }

  private resetRandomizedElectionTimeout(): void {
    const b = this.random(4);
    const n = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
    this.randomizedElectionTimeout = this.config.electionTick + (n % this.config.electionTick);
  }

  // ---- helpers shared with the other files ---------------------------------------------------------------

  send(m: Omit<Message, 'from' | 'term'> & { term?: number }): void {
    this.outbox.push({ ...m, from: this.id, term: m.term ?? this.term } as Message);
  }

  drop(reason: DropReason): void {
    this.counters[reason]++;
  }

  noteVoteGranted(): void {
    if (this.config.faults.voteBeforePersist) this.voteUnpersisted = true;
  }

  /** Commits up to `index`, applying membership changes as they become committed. */
  commitTo(index: number): void {
    const from = this.log.committed + 1;
    if (!this.log.commitTo(index)) return;
    const to = this.log.committed;
    for (let i = from; i <= to; i++) {
      const entry = this.log.entry(i)!;
      if (entry.type === 'conf-change') this.applyConf(entry);
    }
    if (this.role === 'leader') releaseReads(this);
  }

  /** Replaces the log with a snapshot from the leader. */
  restoreSnapshot(snap: Snapshot): void {
    this.log.restore(snap.metadata.index, snap.metadata.term);
    this.confBase = cloneConf(snap.metadata.conf);
    this.conf = this.confBase;
    this.confHistory = [];
    this.snapshot = snap;
    this.pendingSnapshot = snap;
  }

  // ---- internals -------------------------------------------------------------------------------------------

  private peekReady(): Ready {
    const soft = this.softState;
    const hard = this.hardState;
    const entries = this.log.unstableEntries();
    const snapshot = this.pendingSnapshot ?? undefined;
    const changedHard = !sameHardState(hard, this.prevHard);
    return {
      ...(soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role ? { softState: soft } : {}),
      ...(changedHard ? { hardState: hard } : {}),
      entries,
      ...(snapshot ? { snapshot } : {}),
      messages: this.outbox,
      committedEntries: this.log.committedUnapplied(),
      readStates: this.readStates,
      mustSync: entries.length > 0 || snapshot !== undefined || hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote,
    };
  }

  private proposeEntry(type: EntryType, data: unknown): ProposeResult {
    const entry: Entry = { term: 0, index: 0, type, data };
    if (entryBytes(entry) > this.config.maxEntryBytes) {
      throw new RaftError('entry_too_large', `The change is larger than ${this.config.maxEntryBytes} bytes; split it into smaller ones.`);
    }
    if (this.role !== 'leader') {
      if (this.leader === '') throw noLeader();
      this.send({ type: 'propose', to: this.leader, entries: [entry] });
      return { status: 'forwarded', leader: this.leader };
    }
    if (this.leadTransferee !== '') {
      throw new RaftError('transfer_in_progress', `Leadership is moving to ${this.leadTransferee}; retry in a moment.`);
    }
    const appended = this.appendNew(type, data);
    broadcastAppend(this);
    return { status: 'appended', index: appended.index, term: appended.term };
  }

  /** Leader: appends one entry of its term; it counts towards commitment once persisted (see advance). */
  appendNew(type: EntryType, data: unknown): Entry {
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, type, data };
    this.log.append([entry]);
    if (type === 'conf-change') this.pendingConfIndex = entry.index;
    return entry;
  }

  private applyConf(entry: Entry): void {
    const next = applyConfChange(this.conf, entry.data as ConfChange);
    if (next === null) return this.drop('conflict');
    this.conf = next;
    this.confHistory.push({ index: entry.index, conf: next });
    if (this.role === 'leader') this.syncProgress();
  }

  /** Leader: tracks exactly the members of the new configuration; steps down if it is no longer a voter. */
  private syncProgress(): void {
    const members = [...this.conf.voters, ...this.conf.learners].filter((id) => id !== this.id);
    for (const id of members) {
      if (!this.progress.has(id)) {
        const pr = new Progress(this.log.lastIndex() + 1, this.config.maxInflight);
        pr.recentActive = true;
        this.progress.set(id, pr);
      }
    }
    for (const id of [...this.progress.keys()]) if (!members.includes(id)) this.progress.delete(id);
    if (this.leadTransferee !== '' && !this.conf.voters.includes(this.leadTransferee)) this.leadTransferee = '';
    if (!this.isPromotable()) {
      // Tell the others that the change is committed, then leave them to elect a leader among themselves.
      broadcastAppend(this);
      this.becomeFollower(this.term, '');
    }
  }

  private confAt(index: number): ConfState {
    let conf = this.confBase;
    for (const h of this.confHistory) if (h.index <= index) conf = h.conf;
    return conf;
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.isPromotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      campaign(this, this.config.preVote ? 'pre-vote' : 'election');
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    for (const pr of this.progress.values()) if (pr.state === 'snapshot') pr.snapshotElapsed++;
    if (this.electionElapsed >= this.config.electionTick) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum) {
        // Without a quorum of recent contacts this leader may be on the minority side of a partition.
        if (!hasQuorum(this.conf.voters, (id) => id === this.id || this.progress.get(id)?.recentActive === true)) {
          this.becomeFollower(this.term, '');
          return;
        }
        for (const pr of this.progress.values()) pr.recentActive = false;
      }
      this.leadTransferee = '';
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTick) {
      this.heartbeatElapsed = 0;
      broadcastHeartbeat(this, this.reads.latestContext());
    }
  }
}

function cloneConf(conf: ConfState): ConfState {
  return { voters: [...conf.voters], learners: [...conf.learners] };
}
