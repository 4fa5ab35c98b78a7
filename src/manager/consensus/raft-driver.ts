/**
 * The Raft driver: the I/O around the pure core. It ticks the core on a timer, feeds it messages from the
 * transport, and handles each Ready in the fixed order the core requires — persist (one durable write), send,
 * apply, advance — then takes a snapshot of the state machine now and then so the log stays short.
 */

import { describeError } from '../../errors.ts';
import type { Disposer } from '../../runtime/runtime.ts';
import type { RandomSource } from '../../util/ids.ts';
import type { Logger } from '../../util/logger.ts';
import { SerialRunner } from '../../util/serial-runner.ts';
import type { RaftConfig } from '../raft/config.ts';
import { DEFAULT_TICK_MS } from '../raft/config.ts';
import { noLeader } from '../raft/errors.ts';
import { type ProposeResult, RaftNode } from '../raft/raft.ts';
import type { Ready } from '../raft/ready.ts';
import type { PersistedRaftState, RaftStorage } from '../raft/storage.ts';
import type { ConfChange, Entry, MemberId, Message } from '../raft/types.ts';

/** Carries Raft messages between managers. Until multi-node membership lands, one manager sends nothing. */
export interface RaftTransport {
  send(messages: Message[]): void;
  onMessage(handler: (message: unknown) => void): Disposer;
}

/** What the driver needs from the replicated state machine. */
export interface ReplicatedStateMachine {
  /** Applies one committed entry's data. Must not throw: a refused command is a result, not a failure. */
  apply(entry: Entry): void;
  /** Replaces the whole state with a snapshot's data. */
  restore(data: unknown): void;
  /** The state as it is now, for a snapshot at the applied index. */
  snapshot(): unknown;
  /** Called after each Ready's entries were applied, so watchers see a batch once. */
  appliedBatch(): void;
}

export interface RaftDriverOptions {
  id: MemberId;
  storage: RaftStorage;
  persisted: PersistedRaftState;
  transport: RaftTransport;
  machine: ReplicatedStateMachine;
  random: RandomSource;
  log: Logger;
  config?: Partial<RaftConfig>;
  tickMs?: number;
  /** Applied entries between snapshots; each snapshot lets the log behind it be deleted. */
  snapshotEvery?: number;
}

/** How long a request waits for a leader before failing: longer than an election with the default timings. */
export const LEADER_WAIT_MS = 5_000;

/** How often a linearizable read asks the leader again while it has no answer. */
const READ_RETRY_MS = 300;

export class RaftDriver {
  readonly node: RaftNode;
  private readonly options: Required<Omit<RaftDriverOptions, 'config'>>;
  private readonly runner = new SerialRunner(() => this.handleReadies());
  private readonly disposers: Disposer[] = [];
  private readonly appliedWaiters: Array<{ index: number; resolve: () => void }> = [];
  private readonly readWaiters = new Map<string, (index: number) => void>();
  private readCounter = 0;
  private snapshotIndex: number;
  private stopped = false;
  private lastStorageError = '';

  constructor(options: RaftDriverOptions) {
    this.options = { tickMs: DEFAULT_TICK_MS, snapshotEvery: 1_000, ...options };
    this.node = new RaftNode({ id: options.id, random: options.random, storage: options.persisted, config: options.config });
    this.snapshotIndex = options.persisted.snapshot?.metadata.index ?? 0;
    if (options.persisted.snapshot) options.machine.restore(options.persisted.snapshot.data);
  }

  start(): void {
    const { transport, tickMs } = this.options;
    this.disposers.push(
      transport.onMessage((message) => {
        this.node.step(message);
        this.runner.kick();
      }),
    );
    const timer = setInterval(() => {
      this.node.tick();
      this.runner.kick();
    }, tickMs);
    timer.unref();
    this.disposers.push(() => clearInterval(timer));
    // The only voter need not wait out an election timeout to lead its own cluster.
    const { voters } = this.node.conf;
    if (voters.length === 1 && voters[0] === this.node.id) this.node.campaign();
    this.runner.kick();
  }

  /**
   * A leader about to stop hands leadership to the most up-to-date voter first, so the cluster does not wait out
   * an election timeout for a leader that is leaving on purpose. Resolves when another member leads, or after
   * `timeoutMs` (the core gives up a transfer by itself after an election timeout).
   */
  async handOffLeadership(timeoutMs = 2_000): Promise<void> {
    const status = this.node.status();
    if (this.stopped || status.role !== 'leader') return;
    const candidates = status.conf.voters.filter((id) => id !== this.node.id);
    if (candidates.length === 0) return;
    const to = candidates.reduce((best, id) => ((status.progress[id]?.match ?? 0) > (status.progress[best]?.match ?? 0) ? id : best));
    try {
      this.node.transferLeadership(to);
    } catch (err) {
      this.options.log.warn(`leadership hand-over to ${to} refused: ${describeError(err)}`);
      return;
    }
    this.runner.kick();
    const deadline = Date.now() + timeoutMs;
    while (!this.stopped && this.node.leader === this.node.id && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const dispose of this.disposers.splice(0)) dispose();
    await this.runner.stop();
  }

  /** Proposes data; see RaftNode.propose for where it goes. Throws RaftError (no leader, ...). */
  propose(data: unknown): ProposeResult {
    const result = this.node.propose(data);
    this.runner.kick();
    return result;
  }

  /** Proposes a membership change on the leader (RaftNode.proposeConfChange); resolves once it is applied here. */
  async changeMembership(cc: ConfChange, timeoutMs = 10_000): Promise<void> {
    const result = this.node.proposeConfChange(cc);
    this.runner.kick();
    if (result.status !== 'appended') return;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(noLeader()), timeoutMs);
    });
    try {
      await Promise.race([this.waitApplied(result.index), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Resolves once a leader is known — at start-up and during an election that takes a moment — or fails with
   * Raft's "no leader" error after `timeoutMs`, so a caller is never left hanging on a cluster without quorum.
   */
  async whenLeaderKnown(timeoutMs = LEADER_WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.node.leader === '') {
      if (this.stopped || Date.now() >= deadline) throw noLeader();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Resolves once the state machine reflects every write committed before this call (a linearizable read).
   * Fails with Raft's "no leader" error when no leader confirms the read within `timeoutMs`: the request or its
   * answer can be lost (a partition, a leader that died) and a leader that steps down drops the reads it queued,
   * so without a deadline the caller would wait forever.
   */
  async linearizableRead(timeoutMs = LEADER_WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await this.whenLeaderKnown(timeoutMs);
    const context = `${this.node.id}:${++this.readCounter}`;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(noLeader()), Math.max(0, deadline - Date.now()));
    });
    try {
      // The request to the leader travels like any message and may be lost (a connection still being made
      // after a restart, say); unlike appends, nothing else would resend it, so it is asked again until answered.
      let retry: NodeJS.Timeout | undefined;
      const index = await Promise.race([
        new Promise<number>((resolve) => {
          this.readWaiters.set(context, resolve);
          const ask = () => {
            try {
              this.node.readIndex(context);
            } catch {
              // No leader right now: the next attempt, or the deadline, decides.
            }
            this.runner.kick();
          };
          ask();
          retry = setInterval(ask, READ_RETRY_MS);
        }),
        expired,
      ]).finally(() => clearInterval(retry));
      await Promise.race([this.waitApplied(index), expired]);
    } finally {
      clearTimeout(timer);
      this.readWaiters.delete(context);
    }
  }

  waitApplied(index: number): Promise<void> {
    if (this.node.status().applied >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  /** The storage error that holds up progress, if any: proposals waiting on it can say why. */
  get storageError(): string {
    return this.lastStorageError;
  }

  private async handleReadies(): Promise<void> {
    while (!this.stopped && this.node.hasReady()) {
      const rd = this.node.ready();
      await this.persist(rd);
      if (this.stopped) return;
      if (rd.messages.length > 0) this.options.transport.send(rd.messages);
      this.applyReady(rd);
      this.node.advance(rd);
      await this.maybeSnapshot();
    }
  }

  /** Retries until the write succeeds (a full disk is freed, say): nothing may go out before it is durable. */
  private async persist(rd: Ready): Promise<void> {
    if (!rd.hardState && rd.entries.length === 0 && !rd.snapshot && !rd.committedEntries.some((entry) => entry.type === 'conf-change')) return;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const durableCommit = rd.committedEntries.some((entry) => entry.type === 'conf-change');
        await this.options.storage.save({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot, ...(durableCommit ? { durableCommit } : {}) });
        if (this.lastStorageError) this.options.log.info('raft storage writes again');
        this.lastStorageError = '';
        return;
      } catch (err) {
        if (!this.lastStorageError) this.options.log.error(`raft storage: ${describeError(err)}`);
        this.lastStorageError = describeError(err);
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 200 * 2 ** attempt)));
      }
    }
  }

  private applyReady(rd: Ready): void {
    const { machine } = this.options;
    if (rd.snapshot) {
      machine.restore(rd.snapshot.data);
      this.snapshotIndex = rd.snapshot.metadata.index;
    }
    for (const entry of rd.committedEntries) {
      if (entry.type === 'normal' && entry.data !== null) machine.apply(entry);
    }
    if (rd.snapshot || rd.committedEntries.length > 0) machine.appliedBatch();
    const applied = rd.committedEntries.at(-1)?.index ?? rd.snapshot?.metadata.index ?? 0;
    for (const read of rd.readStates) {
      this.readWaiters.get(read.context)?.(read.index);
      this.readWaiters.delete(read.context);
    }
    if (applied > 0) this.releaseWaiters(applied);
  }

  private releaseWaiters(applied: number): void {
    for (let i = this.appliedWaiters.length - 1; i >= 0; i--) {
      const waiter = this.appliedWaiters[i]!;
      if (waiter.index <= applied) {
        this.appliedWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  /** The state machine is at the applied index; a snapshot there lets storage delete the log behind it. */
  private async maybeSnapshot(): Promise<void> {
    const { snapshotEvery, storage, machine } = this.options;
    const applied = this.node.status().applied;
    if (applied - this.snapshotIndex < snapshotEvery) return;
    const snapshot = this.node.compact(applied, machine.snapshot());
    this.snapshotIndex = applied;
    try {
      await storage.save({ entries: [], snapshot });
      await storage.compact(applied);
    } catch (err) {
      // The log stays longer until the next snapshot succeeds; nothing is lost.
      this.options.log.warn(`raft snapshot at ${applied} not saved: ${describeError(err)}`);
    }
  }
}
