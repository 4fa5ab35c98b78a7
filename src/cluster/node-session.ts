/**
 * A node's session with the leader's dispatcher: heartbeats, pushed assignments and status reports (see
 * dispatcher.ts for the other side). The node tries the leader it last heard of, then every manager it knows;
 * a manager that is not the leader names the leader in its answer. When the leader stops answering, the session
 * moves to whichever manager leads next, so a worker follows a failover within a few heartbeats.
 *
 * Status reports that cannot be delivered are kept (the newest per task) and sent on the next session, so a
 * task's "running" or "failed" is never lost to a failover.
 *
 * After OFFLINE_AFTER_BEATS heartbeats that no manager answered, the node is offline: nobody can replace a task
 * that fails, so its agent restarts exited containers itself. Pushed assignments are cached on disk
 * (assignment-cache.ts), so a node that starts offline (a power cut in the field) runs what the cache holds. A
 * leader's push ends all of this.
 *
 * Each heartbeat says the digests of the last pushes taken (dispatcher.ts), so the leader sends again whatever was
 * lost on the way; a push that comes before the answer naming its sender leader is held for that answer (#pushed).
 */

import type { Assignment, AssignmentSource, StatusReporter } from '../agent/assignment.ts';
import type { NodeDescription } from '../api/types.ts';
import { describeError } from '../errors.ts';
import { TransportError } from '../transport/errors.ts';
import type { MeshTable } from '../manager/mesh-table.ts';
import type { TaskStatusUpdate } from '../manager/state/commands.ts';
import type { Disposer } from '../runtime/runtime.ts';
import type { Logger } from '../util/logger.ts';
import type { KnownManager } from './credentials.ts';
import { DEFAULT_HEARTBEAT_MS, type PushedDigests, type SessionInfo } from './dispatcher.ts';
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
  /** The routing mesh's table, as the leader pushes it. */
  onMesh?(table: MeshTable): void;
  /** The period to beat at until a leader names its own. */
  heartbeatMs?: number;
  /** The assignments cached at the last run, and where to keep new ones. */
  cache?: { cached: { savedAt: number; assignments: Assignment[] } | null; save(assignments: Assignment[]): void };
}

/** A mesh table's outline; its content comes from the leader, whose channel is authenticated. */
function isMeshTable(value: unknown): value is MeshTable {
  return typeof value === 'object' && value !== null && Array.isArray((value as MeshTable).services);
}

/** Heartbeats in a row that no manager answered before a restarted node runs its cached assignments. */
export const OFFLINE_AFTER_BEATS = 3;

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
  /** Kinds of certificate refusal already logged. */
  readonly #refusals = new Set<string>();
  /** The digests of the pushes taken from the leader, said in each heartbeat. */
  readonly #have: PushedDigests = {};
  /** Pushes from managers not (yet) known to lead, the newest of each kind from each: see #pushed. */
  readonly #held = new Map<string, { from: string; apply(): void }>();

  constructor(options: NodeSessionOptions) {
    this.#options = options;
    this.#heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    options.peers.on('assignments', (message, channel) => {
      if (!Array.isArray(message.assignments)) return;
      const assignments = message.assignments as Assignment[];
      this.#pushed('assignments', channel.peer.nodeId, message.digest, () => {
        this.#assignments = assignments;
        this.#heard = true;
        options.cache?.save(this.#assignments);
        this.notify();
      });
    });
    options.peers.on('mesh', (message, channel) => {
      const table = message.table;
      if (!isMeshTable(table)) return;
      this.#pushed('mesh', channel.peer.nodeId, message.digest, () => options.onMesh?.(table));
    });
  }

  /**
   * A push from the leader is taken at once. One from another manager is held until the end of the heartbeat
   * under way: a leader answers a node's first heartbeat and pushes right after, and both may come in one read,
   * the push handled before the answer that names its sender leader. Held, it is taken when the answer comes;
   * dropped, it would be sent again only at the next heartbeat (dispatcher.ts).
   */
  #pushed(kind: keyof PushedDigests, from: string, digest: unknown, take: () => void): void {
    const apply = () => {
      if (typeof digest === 'string') this.#have[kind] = digest;
      else delete this.#have[kind];
      take();
    };
    if (from === this.#leader) apply();
    else this.#held.set(`${kind} ${from}`, { from, apply });
  }

  /** Takes what `leader` pushed before this node knew it led; drops what others pushed. */
  #takeHeld(leader: string): void {
    const held = [...this.#held.values()];
    this.#held.clear();
    for (const push of held) if (push.from === leader) push.apply();
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
    if (local) {
      // The leader's own assignments come from its state, not a push: cached all the same.
      const assignments = local.assignments();
      this.#options.cache?.save(assignments);
      return assignments;
    }
    if (!this.#heard && this.#runsFromCache()) return this.#options.cache!.cached!.assignments;
    return this.#assignments;
  }

  ready(): boolean {
    return this.#localSource() !== null || this.#heard || this.#runsFromCache();
  }

  /**
   * No manager has answered for OFFLINE_AFTER_BEATS heartbeats and the node has assignments to run (pushed
   * before, or cached at its last run): nobody can replace a task that fails, so the agent restarts it here.
   */
  offline(): boolean {
    if (this.#localSource() !== null || this.#failures < OFFLINE_AFTER_BEATS) return false;
    return this.#heard || !!this.#options.cache?.cached;
  }

  /** A node that started with no manager answering runs what its cache holds. */
  #runsFromCache(): boolean {
    return !this.#heard && this.offline();
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
    this.#held.clear(); // pushes from managers the last heartbeat did not find leading
    const candidates = this.#candidates();
    const queue = [...candidates];
    const tried = new Set<string>();
    while (queue.length > 0) {
      const nodeId = queue.shift()!;
      if (this.#stopped) return;
      if (tried.has(nodeId)) continue;
      tried.add(nodeId);
      try {
        const heartbeat = { type: 'heartbeat', addr: this.#options.advertiseAddr(), have: { ...this.#have } };
        const info = (await this.#options.peers.request(nodeId, heartbeat, Math.max(1_000, this.#heartbeatMs))) as SessionInfo;
        this.#options.onInfo(info);
        this.#heartbeatMs = info.heartbeatMs || this.#heartbeatMs;
        if (!info.leader) continue; // an election is on: ask the others, or wait for the next beat
        // A manager restarted before the others elected anyone new is still named leader by them, although it
        // does not lead (isLocalLeader said so above): that answer is stale. Following it would heartbeat this
        // node's own dispatcher over a channel dialled to itself; ask the others instead.
        if (info.leader === this.#options.selfId) continue;
        if (info.leader !== nodeId) {
          // Not the leader: it says who is; try there next.
          this.#switchTo(info.leader);
          queue.unshift(info.leader);
          continue;
        }
        if (this.#leader !== nodeId) this.#switchTo(nodeId);
        this.#takeHeld(nodeId);
        const wasOffline = this.offline();
        if (this.#failures > 0) this.#options.log.info(`session with the leader ${nodeId} restored`);
        this.#failures = 0;
        if (wasOffline) this.notify();
        this.#flush().catch(() => {});
        return;
      } catch (err) {
        if (err instanceof TransportError && err.reason === 'peer_rejected') this.#refused(err);
        else if (nodeId === this.#leader) this.#options.log.debug(`leader ${nodeId} did not answer: ${describeError(err)}`);
      }
    }
    this.#failures += 1;
    if (this.#failures === OFFLINE_AFTER_BEATS) {
      this.#options.log.warn(`no manager answers (tried ${candidates.join(', ') || 'none known'}); still trying`);
      const cached = this.#options.cache?.cached;
      if (!this.#heard && cached) {
        const age = Math.max(0, Math.round((Date.now() - cached.savedAt) / 1000));
        this.#options.log.warn(`running the ${cached.assignments.length} task(s) last assigned to this node (cached ${age} s ago) until a manager answers`);
      }
      // Offline from now on: the agent looks again, and restarts what exits.
      this.notify();
    }
  }

  /**
   * A manager refused this node's certificate: retrying will not change that, and the node cannot fix it alone.
   * Said once per reason, as an error with what to do.
   */
  #refused(err: TransportError): void {
    const removed = /removed from the cluster|revoked/.test(err.message);
    const expired = /expired/.test(err.message);
    const what = removed ? 'removed' : expired ? 'expired' : 'other';
    if (this.#refusals.has(what)) return;
    this.#refusals.add(what);
    const remedy = removed || expired
      ? ' It cannot take part in the cluster as it is: run "swarmlet leave --force" on it, then join again with a token from a manager ("swarmlet join-token worker").'
      : '';
    const why = removed
      ? 'this node was removed from the cluster, and its certificate revoked.'
      : expired
        ? 'this node\'s certificate expired (it was off for longer than the cluster\'s --cert-expiry).'
        : `a manager refused this node's certificate: ${err.message}`;
    this.#options.log.error(`${why}${remedy}`);
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
