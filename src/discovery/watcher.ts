/**
 * The watcher: a long-lived view of the swarmlet daemons on the chosen links, reporting each one found, changed
 * (address, role, cluster, port) or lost. A worker uses it to follow a manager whose address changed: the manager's
 * advertiser announces the new address on its own, and while the worker cannot reach a manager it calls `seek()`,
 * which queries every few seconds until the returned disposer is called.
 *
 * It listens on port 5353 (shared with any other responder on the host) so it hears unsolicited announcements and
 * goodbyes, not only answers to its own queries. Queries (RFC 6762 §5.2): three at start (0, 1 s, 3 s) on every
 * link, and one on a link that opens later; refresh queries from 80% of a record's TTL, a few per TTL, listing the
 * healthy PTRs as known answers so only the peers that need refreshing answer; seek queries list none, since the
 * point is to hear from peers we believe we know. Records expire on a one-second tick; all times are monotonic.
 *
 * The peer logic is PeerCache's (pure); this file only feeds it packets and time, and turns its views into events.
 */

import { networkInterfaces } from 'node:os';
import type { Packet } from 'dns-packet';
import { describeError } from '../errors.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { monotonicClock, type Clock } from './clock.ts';
import type { InterfaceChoice, InterfaceTable } from './interfaces.ts';
import { LinkSet, type Link, type LinkStats } from './link-set.ts';
import { SERVICE_LABEL } from './names.ts';
import { udpNetwork, type MdnsNetwork } from './network.ts';
import { queryPacket } from './packets.ts';
import { PeerCache, diffPeers, type CacheCounters, type Peer, type PeerEvent } from './peer-cache.ts';

export interface WatcherOptions {
  interfaces: InterfaceChoice;
  /** Only peers of this cluster (root key digest); '' for daemons in no cluster. */
  clusterDigest?: string;
  /** Leave this node out (a daemon hears its own announcements through multicast loopback). */
  selfNodeId?: string;
  /** Query period while `seek()` is active, ms (default 3000). */
  seekIntervalMs?: number;
  /** Query times after start, ms (default 0, 1000, 3000). */
  startQueriesAtMs?: readonly number[];
  /** Expiry tick, ms (default 1000). */
  tickMs?: number;
  /** Re-resolve the interfaces this often, ms (default 5000). */
  rescanMs?: number;
  network?: MdnsNetwork;
  listInterfaces?: () => InterfaceTable;
  clock?: Clock;
  log?: Logger;
}

export type PeerListener = (event: PeerEvent) => void;

export class Watcher {
  private readonly options: WatcherOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly cache = new PeerCache();
  private readonly links: LinkSet;
  private readonly listeners = new Set<PeerListener>();
  private view = new Map<string, Peer>();
  private timers: NodeJS.Timeout[] = [];
  private ticker: NodeJS.Timeout | undefined;
  private seekers = 0;
  private lastQuery = -Infinity;
  private lastSeekQuery = -Infinity;
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(options: WatcherOptions) {
    this.options = options;
    this.clock = options.clock ?? monotonicClock;
    this.log = options.log ?? silentLogger;
    this.links = new LinkSet({
      network: options.network ?? udpNetwork(this.log),
      mode: 'shared',
      choice: options.interfaces,
      listInterfaces: options.listInterfaces ?? networkInterfaces,
      needles: () => [Buffer.from(SERVICE_LABEL)],
      clock: this.clock,
      log: this.log,
      rescanMs: options.rescanMs ?? 5000,
      hooks: {
        opened: (link) => {
          if (this.started) this.query([link], true);
        },
        closing: async () => {},
        packet: (_link, packet) => this.observe(packet),
        reconciled: () => {},
      },
    });
  }

  /** Counters of received datagrams and of refused records. */
  get stats(): LinkStats & CacheCounters {
    return { ...this.links.stats, ...this.cache.counters };
  }

  /** Opens the links and starts querying. A choice of `off` does nothing. */
  async start(): Promise<void> {
    if (this.started || this.options.interfaces.mode === 'off') return;
    await this.links.start();
    this.started = true;
    for (const at of this.options.startQueriesAtMs ?? [0, 1000, 3000]) {
      if (at <= 0) this.query(this.links.links(), true);
      else this.timers.push(setTimeout(() => this.query(this.links.links(), true), at));
    }
    this.ticker = setInterval(() => this.tick(), this.options.tickMs ?? 1000);
  }

  /** Closes the links; no event is reported after it. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const timer of this.timers) clearTimeout(timer);
      clearInterval(this.ticker);
      this.listeners.clear();
      await this.links.stop();
    })();
    return this.stopping;
  }

  /** The peers known now, sorted by hostname then node id. */
  peers(): Peer[] {
    return [...this.view.values()].sort(comparePeers);
  }

  /** Calls `listener` on every found, changed and lost peer; returns the disposer. */
  subscribe(listener: PeerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Queries now and every `seekIntervalMs` until the returned disposer is called — for while some peer cannot be
   * reached at the address we have. Several seekers share one schedule.
   */
  seek(): () => void {
    this.seekers++;
    if (this.clock.now() - this.lastSeekQuery >= 1000) this.seekQuery();
    let disposed = false;
    return () => {
      if (disposed) return;
      disposed = true;
      this.seekers--;
    };
  }

  private seekQuery(): void {
    this.lastSeekQuery = this.clock.now();
    this.query(this.links.links(), false);
  }

  private query(links: readonly Link[], withKnownAnswers: boolean): void {
    if (this.stopping) return;
    const now = this.clock.now();
    this.lastQuery = now;
    const packet = queryPacket(withKnownAnswers ? this.cache.knownAnswers(now) : []);
    for (const link of links) void link.send(packet);
  }

  private observe(packet: Packet): void {
    if (this.stopping) return;
    this.cache.observe(packet, this.clock.now());
    this.publish();
  }

  private tick(): void {
    if (this.stopping) return;
    const now = this.clock.now();
    this.cache.expire(now);
    this.publish();
    const every = this.cache.refreshDue(now);
    if (every !== undefined && now - this.lastQuery >= every) this.query(this.links.links(), true);
    if (this.seekers > 0 && now - this.lastSeekQuery >= (this.options.seekIntervalMs ?? 3000)) this.seekQuery();
  }

  private publish(): void {
    const now = this.clock.now();
    const { clusterDigest, selfNodeId } = this.options;
    const next = new Map<string, Peer>();
    for (const [label, peer] of this.cache.peers(now)) {
      if (clusterDigest !== undefined && peer.cluster !== clusterDigest) continue;
      if (peer.nodeId === selfNodeId) continue;
      next.set(label, peer);
    }
    const events = diffPeers(this.view, next);
    this.view = next;
    for (const event of events) {
      for (const listener of [...this.listeners]) {
        try {
          listener(event);
        } catch (err) {
          this.log.warn(`discovery: a peer listener failed: ${describeError(err)}`);
        }
      }
    }
  }
}

/** Hostname, then node id: the order people read lists in. */
export function comparePeers(a: Peer, b: Peer): number {
  if (a.hostname !== b.hostname) return a.hostname < b.hostname ? -1 : 1;
  return a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0;
}
