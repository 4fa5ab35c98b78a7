/**
 * The leader's dispatcher: every other node keeps a session with it over its control channel. A session is a
 * heartbeat every `heartbeatMs` (answered with the cluster's time, the node's role and the managers to fail over
 * to), the node's assignments pushed whole whenever they change, and the node's task status reports, which the
 * dispatcher commits.
 *
 * Liveness is decided here, in memory: a node not heard from for `downAfterMs` is marked down, one that is heard
 * again is marked ready. Only these transitions reach the Raft log, never the heartbeats themselves, so an idle
 * cluster writes nothing. A newly elected leader has heard from nobody yet: it gives every node one full
 * `downAfterMs` from its election before judging, so a failover never marks the whole cluster down.
 *
 * The same heartbeats say which nodes may take new tasks right now (see {@link NodeLiveness}): a node that missed
 * its last heartbeat gets nothing new while it may be dead, and after an election nothing is placed until the
 * ready nodes have checked in with the new leader.
 *
 * A manager that is not the leader answers a session request with where the leader is.
 *
 * Pushes (assignments, the mesh table) go once per change, each with a digest of its content, and each heartbeat
 * says the digests of what the node last took (PushedDigests). A push can be lost: sent on a channel that closes
 * right after, or dropped by a node that did not yet know this leader when it came. A heartbeat naming another digest
 * than the one last pushed sends the current content again, so a lost push is made good within a heartbeat or two
 * rather than never, while nothing changes. A heartbeat within one period of the push it does not name is taken to
 * have crossed it on the way, and brings nothing: while the state changes fast (a rolling update), pushes are not
 * doubled.
 */

import { createHash } from 'node:crypto';
import { describeError } from '../errors.ts';
import type { RaftProposer } from '../manager/consensus/raft-proposer.ts';
import { assignmentsFor, recordDescription } from '../manager/dispatcher.ts';
import type { ClusterState } from '../manager/state/cluster-state.ts';
import { meshTable, type MeshTable } from '../manager/mesh-table.ts';
import type { NodeLiveness } from '../manager/plan.ts';
import type { NodeStatusChange, TaskStatusUpdate } from '../manager/state/commands.ts';
import type { Disposer } from '../runtime/runtime.ts';
import type { Logger } from '../util/logger.ts';
import type { KnownManager } from './credentials.ts';
import { parseNodeDescription } from './node-report.ts';
import type { PeerMessage, PeerNetwork } from './peers.ts';

export const DEFAULT_HEARTBEAT_MS = 1_000;
/** Three missed heartbeats: a dead node is down within 3-3.5 s (Swarm: 13-16 s). */
export const DEFAULT_DOWN_AFTER_MS = 3_000;

export interface DispatcherOptions {
  selfId: string;
  proposer: RaftProposer;
  peers: PeerNetwork;
  isLeader(): boolean;
  leaderId(): string;
  log: Logger;
  heartbeatMs?: number;
  downAfterMs?: number;
  /** Wall clock for timestamps and the cluster time handed out. */
  now?: () => number;
  /** Called when a node that could not take new tasks is heard from again: placement may go on. */
  onResponsive?: (nodeId: string) => void;
}

/** What a node hears back from every heartbeat. */
export interface SessionInfo {
  leader: string;
  /** The cluster's time (ms since the epoch): nodes without a real-time clock take theirs from it. */
  now: number;
  role: 'manager' | 'worker' | null;
  managers: KnownManager[];
  roots: string[];
  heartbeatMs: number;
}

/** What a node says in each heartbeat it has taken: the digest of the last push of each kind, when it has one. */
export interface PushedDigests {
  assignments?: string;
  mesh?: string;
}

const PUSH_KINDS = ['assignments', 'mesh'] as const;
/** What was last pushed to a node, by kind. */
type SentPushes = Partial<Record<keyof PushedDigests, { digest: string; at: number }>>;

/** The digest a push carries: short, as it only tells one content from another, never from an adversary's. */
export function pushDigest(json: string): string {
  return createHash('sha256').update(json).digest('base64url').slice(0, 22);
}

/** A heartbeat's `have`, when it is well formed; undefined from a node that does not say (or says nonsense). */
function reportedDigests(value: unknown): PushedDigests | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { assignments, mesh } = value as Record<string, unknown>;
  if ((assignments !== undefined && typeof assignments !== 'string') || (mesh !== undefined && typeof mesh !== 'string')) return undefined;
  return { ...(assignments === undefined ? {} : { assignments }), ...(mesh === undefined ? {} : { mesh }) };
}

export function managersOf(state: ClusterState): KnownManager[] {
  const members = state.security?.members ?? {};
  return Object.values(state.nodes)
    .filter((node) => node.Spec.Role === 'manager' && members[node.ID])
    .map((node) => ({ nodeId: node.ID, addr: members[node.ID]!.addr }));
}

export class Dispatcher {
  readonly #options: Required<DispatcherOptions>;
  /** Monotonic time each node was last heard from. */
  readonly #lastSeen = new Map<string, number>();
  /** What was last pushed to each node, by kind (its digest and when it went), so unchanged content is not sent again. */
  readonly #sent = new Map<string, SentPushes>();
  #mesh: { index: number; table: MeshTable; digest: string } | null = null;
  readonly #disposers: Disposer[] = [];
  #leaderSince = 0;
  #wasLeader = false;
  #proposing = false;

  constructor(options: DispatcherOptions) {
    this.#options = { heartbeatMs: DEFAULT_HEARTBEAT_MS, downAfterMs: DEFAULT_DOWN_AFTER_MS, now: Date.now, onResponsive: () => {}, ...options };
  }

  start(): void {
    const { peers, proposer } = this.#options;
    peers.handle('heartbeat', (message, channel) => this.#heartbeat(channel.peer.nodeId, message));
    peers.handle('status', (message, channel) => this.#status(channel.peer.nodeId, message));
    peers.handle('describe', (message, channel) => this.#describe(channel.peer.nodeId, message));
    this.#disposers.push(proposer.watch(() => this.#pushAll()));
    this.#disposers.push(peers.onConnect((nodeId) => {
      this.#sent.delete(nodeId);
    }));
    const timer = setInterval(() => this.#checkLiveness(), Math.max(100, Math.floor(this.#options.heartbeatMs / 2)));
    timer.unref();
    this.#disposers.push(() => clearInterval(timer));
  }

  stop(): void {
    for (const dispose of this.#disposers.splice(0)) dispose();
  }

  info(nodeId: string): SessionInfo {
    const state = this.#options.proposer.state;
    return {
      leader: this.#options.leaderId(),
      now: this.#options.now(),
      role: state.nodes[nodeId]?.Spec.Role ?? null,
      managers: managersOf(state),
      roots: state.security?.roots.map((root) => root.publicKey) ?? [],
      heartbeatMs: this.#options.heartbeatMs,
    };
  }

  /** Which nodes may take new tasks now; undefined on a manager that does not lead. */
  liveness(): NodeLiveness | undefined {
    if (!this.#noteLeadership()) return undefined;
    const now = performance.now();
    const unresponsive = new Set<string>();
    let unheard = false;
    for (const node of Object.values(this.#options.proposer.state.nodes)) {
      if (node.ID === this.#options.selfId || node.Status.State !== 'ready') continue;
      if (!this.#isResponsive(node.ID, now)) unresponsive.add(node.ID);
      if ((this.#lastSeen.get(node.ID) ?? -Infinity) < this.#leaderSince) unheard = true;
    }
    return { settling: unheard && now - this.#leaderSince <= this.#options.downAfterMs, unresponsive };
  }

  /** Heard from by this leader, and within two heartbeat periods: one late heartbeat is allowed, two are not. */
  #isResponsive(nodeId: string, now: number): boolean {
    const seen = this.#lastSeen.get(nodeId) ?? -Infinity;
    return seen >= this.#leaderSince && now - seen <= 2 * this.#options.heartbeatMs;
  }

  /** Whether this manager leads; notes when it started to, since nodes have been heard from only since then. */
  #noteLeadership(): boolean {
    const leader = this.#options.isLeader();
    if (leader && !this.#wasLeader) {
      this.#leaderSince = performance.now();
      this.#sent.clear();
    }
    this.#wasLeader = leader;
    return leader;
  }

  #heartbeat(nodeId: string, message: PeerMessage): SessionInfo {
    const state = this.#options.proposer.state;
    if (this.#noteLeadership()) {
      const now = performance.now();
      const wasResponsive = this.#isResponsive(nodeId, now);
      this.#lastSeen.set(nodeId, now);
      if (!wasResponsive) this.#options.onResponsive(nodeId);
      const node = state.nodes[nodeId];
      if (node && node.Status.State !== 'ready') this.#propose([{ nodeId, state: 'ready', message: '' }]);
      const have = reportedDigests(message.have);
      if (have) this.#forgetLost(nodeId, have, now);
      // After the answer, on the same channel: a node that hears from this leader for the first time takes pushes
      // only from the leader it knows, which it learns from this very answer (one that comes first is held for it).
      setImmediate(() => this.#pushTo(nodeId));
      const addr = typeof message.addr === 'string' ? message.addr : undefined;
      const member = state.security?.members[nodeId];
      if (addr && member && member.addr !== addr) {
        this.#options.proposer.propose({ type: 'member.update', nodeId, addr }).catch(() => {});
      }
    }
    return this.info(nodeId);
  }

  async #status(nodeId: string, message: PeerMessage): Promise<{ ok: true }> {
    if (!Array.isArray(message.updates)) throw new Error('a status report needs updates');
    await this.#options.proposer.propose({
      type: 'tasks.status',
      nodeId,
      updates: message.updates as TaskStatusUpdate[],
      now: new Date(this.#options.now()).toISOString(),
    });
    return { ok: true };
  }

  async #describe(nodeId: string, message: PeerMessage): Promise<{ ok: true }> {
    if (!this.#options.isLeader()) throw new Error('not the leader');
    const description = parseNodeDescription(message.description);
    await recordDescription(this.#options.proposer, nodeId, description, new Date(this.#options.now()).toISOString());
    return { ok: true };
  }

  #pushAll(): void {
    if (!this.#options.isLeader()) return;
    for (const nodeId of Object.keys(this.#options.proposer.state.nodes)) {
      if (nodeId !== this.#options.selfId && this.#options.peers.isConnected(nodeId)) this.#pushTo(nodeId);
    }
  }

  #pushTo(nodeId: string): void {
    const state = this.#options.proposer.state;
    const assignments = assignmentsFor(state, nodeId);
    this.#push(nodeId, 'assignments', pushDigest(JSON.stringify(assignments)), { assignments });
    // Every node runs the routing mesh, so every node gets the whole mesh table (published ports and their tasks).
    const mesh = this.#meshTable();
    this.#push(nodeId, 'mesh', mesh.digest, { table: mesh.table });
  }

  /** Sends a push of `kind` unless the node was last sent this very content. */
  #push(nodeId: string, kind: keyof PushedDigests, digest: string, body: Record<string, unknown>): void {
    const sent = this.#sent.get(nodeId) ?? {};
    if (sent[kind]?.digest === digest || !this.#options.peers.send(nodeId, { type: kind, ...body, digest })) return;
    sent[kind] = { digest, at: performance.now() };
    this.#sent.set(nodeId, sent);
  }

  /**
   * Forgets each push the node says it has not taken, so the next push sends it again (it was lost); not one that
   * went out within the last period, which this heartbeat may have crossed on the way.
   */
  #forgetLost(nodeId: string, have: PushedDigests, now: number): void {
    const sent = this.#sent.get(nodeId);
    if (!sent) return;
    for (const kind of PUSH_KINDS) {
      const last = sent[kind];
      if (last && have[kind] !== last.digest && now - last.at >= this.#options.heartbeatMs) delete sent[kind];
    }
  }

  /** The mesh table of the current state, computed once per state rather than once per node pushed to. */
  #meshTable(): { table: MeshTable; digest: string } {
    const state = this.#options.proposer.state;
    if (this.#mesh?.index !== state.index) {
      const table = meshTable(state);
      this.#mesh = { index: state.index, table, digest: pushDigest(JSON.stringify(table)) };
    }
    return this.#mesh;
  }

  #checkLiveness(): void {
    if (!this.#noteLeadership() || this.#proposing) return;
    const now = performance.now();
    const changes: NodeStatusChange['changes'] = [];
    for (const node of Object.values(this.#options.proposer.state.nodes)) {
      if (node.ID === this.#options.selfId || node.Status.State !== 'ready') continue;
      const heard = Math.max(this.#lastSeen.get(node.ID) ?? 0, this.#leaderSince);
      if (now - heard > this.#options.downAfterMs) changes.push({ nodeId: node.ID, state: 'down', message: 'heartbeat failure' });
    }
    // The leader is alive by definition; after a restart or failover its own record may say otherwise.
    const self = this.#options.proposer.state.nodes[this.#options.selfId];
    if (self && self.Status.State !== 'ready') changes.push({ nodeId: self.ID, state: 'ready', message: '' });
    if (changes.length > 0) this.#propose(changes);
  }

  #propose(changes: NodeStatusChange['changes']): void {
    this.#proposing = true;
    this.#options.proposer
      .propose({ type: 'node.status', changes, now: new Date(this.#options.now()).toISOString() })
      .then(() => {
        for (const change of changes) if (change.state === 'down') this.#options.log.warn(`node ${change.nodeId} is down: no heartbeat for ${this.#options.downAfterMs} ms`);
      })
      .catch((err: unknown) => this.#options.log.warn(`could not record node status: ${describeError(err)}`))
      .finally(() => {
        this.#proposing = false;
      });
  }
}
