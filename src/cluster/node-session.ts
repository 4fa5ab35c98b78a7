/**
 * A node's session with the leader's dispatcher: heartbeats, pushed assignments and status reports (see
 * dispatcher.ts for the other side). The node tries the leader it last heard of, then every manager it knows;
 * a manager that is not the leader names the leader in its answer. When the leader stops answering, the session
 * moves to whichever manager leads next, so a worker follows a failover within a few heartbeats.
 *
 * Status reports that cannot be delivered are kept (the newest per task) and sent on the next session, so a
 * task's "running" or "failed" is never lost to a failover.
 */

import type { Assignment, AssignmentSource, StatusReporter } from '../agent/assignment.ts';
import type { NodeDescription } from '../api/types.ts';
import { describeError } from '../errors.ts';
import type { TaskStatusUpdate } from '../manager/state/commands.ts';
import type { Disposer } from '../runtime/runtime.ts';
import type { Logger } from '../util/logger.ts';
import type { KnownManager } from './credentials.ts';
import { DEFAULT_HEARTBEAT_MS, type SessionInfo } from './dispatcher.ts';
import type { PeerNetwork } from './peers.ts';

export interface NodeSessionOptions {
  selfId: string;
  peers: PeerNetwork;
  /** The managers to try, from the membership file and the last answers. */
  managers(): KnownManager[];
  /** This node's transport address, reported so the cluster follows a changed address. */
  advertiseAddr(): string;
  /** Whether this node leads the cluster itself (then there is nobody to heartbeat). */
  isLocalLeader(): boolean;
  /** The leader's own assignments and reports, read and committed locally: set on the leading manager. */
  local(): LocalSource | null;
  onInfo(info: SessionInfo): void;
  log: Logger;
}

/** What the leading manager serves its own node from its state instead of over the network. */
export type LocalSource = AssignmentSource & StatusReporter & { describe(description: NodeDescription): Promise<void> };

export class NodeSession implements AssignmentSource, StatusReporter {
  readonly #options: NodeSessionOptions;
  #assignments: Assignment[] = [];
  #heard = false;
  readonly #listeners = new Set<() => void>();
  readonly #undelivered = new Map<string, TaskStatusUpdate>();
  #leader = '';
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  #failures = 0;
  #heartbeatMs = DEFAULT_HEARTBEAT_MS;

  constructor(options: NodeSessionOptions) {
    this.#options = options;
    options.peers.on('assignments', (message, channel) => {
      if (channel.peer.nodeId !== this.#leader || !Array.isArray(message.assignments)) return;
      this.#assignments = message.assignments as Assignment[];
      this.#heard = true;
      this.notify();
    });
  }

  start(): void {
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  get leader(): string {
    return this.#leader;
  }

  /** Calls the watchers: a push arrived, or the local state changed (on the leader). */
  notify(): void {
    for (const listener of this.#listeners) listener();
  }

  assignments(): Assignment[] {
    const local = this.#localSource();
    return local ? local.assignments() : this.#assignments;
  }

  ready(): boolean {
    return this.#localSource() !== null || this.#heard;
  }

  #localSource(): LocalSource | null {
    return this.#options.isLocalLeader() ? this.#options.local() : null;
  }

  watch(onChange: () => void): Disposer {
    this.#listeners.add(onChange);
    return () => this.#listeners.delete(onChange);
  }

  async report(updates: TaskStatusUpdate[]): Promise<void> {
    const local = this.#localSource();
    if (local) return local.report(updates);
    for (const update of updates) this.#undelivered.set(update.taskId, update);
    await this.#flush();
  }

  /** Sends this node's description to the leader (see node-report.ts); rejects when it was not recorded. */
  async describe(description: NodeDescription): Promise<void> {
    const local = this.#localSource();
    if (local) return local.describe(description);
    if (!this.#leader) throw new Error('no leader to describe this node to yet');
    await this.#options.peers.request(this.#leader, { type: 'describe', description }, 5_000);
  }

  async #flush(): Promise<void> {
    if (this.#undelivered.size === 0 || !this.#leader || this.#options.isLocalLeader()) return;
    const updates = [...this.#undelivered.values()];
    await this.#options.peers.request(this.#leader, { type: 'status', updates }, 5_000);
    for (const update of updates) if (this.#undelivered.get(update.taskId) === update) this.#undelivered.delete(update.taskId);
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#beat().finally(() => this.#schedule(this.#heartbeatMs));
    }, delay);
    this.#timer.unref();
  }

  async #beat(): Promise<void> {
    if (this.#options.isLocalLeader()) {
      this.#leader = '';
      return;
    }
    const candidates = this.#candidates();
    const queue = [...candidates];
    const tried = new Set<string>();
    while (queue.length > 0) {
      const nodeId = queue.shift()!;
      if (this.#stopped) return;
      if (tried.has(nodeId)) continue;
      tried.add(nodeId);
      try {
        const info = (await this.#options.peers.request(nodeId, { type: 'heartbeat', addr: this.#options.advertiseAddr() }, Math.max(1_000, this.#heartbeatMs))) as SessionInfo;
        this.#options.onInfo(info);
        this.#heartbeatMs = info.heartbeatMs || DEFAULT_HEARTBEAT_MS;
        if (!info.leader) continue; // an election is on: ask the others, or wait for the next beat
        if (info.leader !== nodeId) {
          // Not the leader: it says who is; try there next.
          this.#switchTo(info.leader);
          queue.unshift(info.leader);
          continue;
        }
        if (this.#leader !== nodeId) this.#switchTo(nodeId);
        if (this.#failures > 0) this.#options.log.info(`session with the leader ${nodeId} restored`);
        this.#failures = 0;
        this.#flush().catch(() => {});
        return;
      } catch (err) {
        if (nodeId === this.#leader) this.#options.log.debug(`leader ${nodeId} did not answer: ${describeError(err)}`);
      }
    }
    this.#failures += 1;
    if (this.#failures === 3) this.#options.log.warn(`no manager answers (tried ${candidates.join(', ') || 'none known'}); still trying`);
  }

  #switchTo(leader: string): void {
    this.#leader = leader;
  }

  /** The leader first, then every other known manager. */
  #candidates(): string[] {
    const ids = this.#options.managers().map((m) => m.nodeId).filter((id) => id !== this.#options.selfId);
    return [...new Set([...(this.#leader ? [this.#leader] : []), ...ids])];
  }
}
