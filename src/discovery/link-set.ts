/**
 * The set of open links (one socket per chosen interface), kept equal to what the interface choice resolves to,
 * and the gate every received datagram passes before the protocol sees it.
 *
 * Reconciling: the choice is resolved against `os.networkInterfaces()` at start and again every `rescanMs` (the
 * advertiser and watcher live as long as the daemon; an address may come late with DHCP or change). An interface
 * that went away closes its link; one whose address changed gets a new socket — the old one's IP_MULTICAST_IF
 * names an address the kernel no longer has, so it can send nothing — and the owner is told, so it can say
 * goodbye to the old address and announce the new one. Passes run one at a time (SerialRunner).
 *
 * The gate, cheapest check first, counting each drop by reason: the source must be on the link's subnets; the
 * size and content screen (packets.ts); a token from the link's bucket; then decoding. Whatever the owner's
 * handler throws is caught and logged here, so nothing a peer sends can throw out of the module.
 */

import { describeError } from '../errors.ts';
import { SerialRunner } from '../util/serial-runner.ts';
import type { Logger } from '../util/logger.ts';
import type { Packet } from 'dns-packet';
import type { Clock } from './clock.ts';
import { onLink, resolveLinks, type InterfaceChoice, type InterfaceTable, type LinkSpec } from './interfaces.ts';
import type { Endpoint, LinkMode, MdnsNetwork, MdnsSocket } from './network.ts';
import { decodePacket, screenPacket, type DropReason } from './packets.ts';
import { TokenBucket } from './token-bucket.ts';

export interface Link {
  readonly spec: LinkSpec;
  send(data: Buffer, to?: Endpoint): Promise<boolean>;
}

/** Counters of what the links received. */
export interface LinkStats {
  /** Datagrams received. */
  received: number;
  /** Datagrams handed to the protocol. */
  accepted: number;
  dropped: Record<DropReason, number>;
}

export interface LinkHooks {
  /** A link is open; `previous` is the spec it replaces on the same interface (its address changed). */
  opened(link: Link, previous: LinkSpec | undefined): void;
  /**
   * A link is closing: `gone` (its interface is no longer chosen), `replaced` (its address changed; it can no
   * longer send) or `stop`. The socket closes when the promise settles.
   */
  closing(link: Link, reason: 'gone' | 'replaced' | 'stop'): Promise<void>;
  /** A packet passed the gate. */
  packet(link: Link, packet: Packet, from: Endpoint): void;
  /** A reconcile pass ended. */
  reconciled(): void;
}

export interface LinkSetOptions {
  network: MdnsNetwork;
  mode: LinkMode;
  choice: InterfaceChoice;
  listInterfaces: () => InterfaceTable;
  /** Byte strings a packet about us contains (see packets.ts); read on each datagram, as they may change. */
  needles: () => readonly Buffer[];
  hooks: LinkHooks;
  clock: Clock;
  log: Logger;
  /** Re-resolve the choice this often; 0 or absent: never (a short-lived browse). */
  rescanMs?: number;
  /** Packets decoded per second and link, and the burst allowed. */
  rate?: { perSecond: number; burst: number };
}

interface OpenLink extends Link {
  /** Mutable here: a rescan may bring new netmasks for the same address. */
  spec: LinkSpec;
  socket: MdnsSocket;
  bucket: TokenBucket;
}

export class LinkSet {
  readonly stats: LinkStats = {
    received: 0,
    accepted: 0,
    dropped: { oversized: 0, unrelated: 0, malformed: 0, off_link: 0, rate_limited: 0 },
  };
  private readonly options: LinkSetOptions;
  private readonly open = new Map<string, OpenLink>();
  private readonly runner: SerialRunner;
  private choice: InterfaceChoice;
  private timer: NodeJS.Timeout | undefined;
  /** Why links of the last pass could not be opened, one sentence each. */
  failures: string[] = [];
  private lastProblems = '';
  private readonly failedBefore = new Map<string, string>();
  private started = false;
  private stopped = false;

  constructor(options: LinkSetOptions) {
    this.options = options;
    this.choice = options.choice;
    this.runner = new SerialRunner(() => this.reconcile());
  }

  /** The open links. */
  links(): Link[] {
    return [...this.open.values()];
  }

  /** Opens the links the choice resolves to now; later rescans keep them current. */
  async start(): Promise<void> {
    this.started = true;
    this.runner.kick();
    await this.runner.idle();
    const every = this.options.rescanMs ?? 0;
    if (every > 0 && !this.stopped) {
      this.timer = setInterval(() => this.runner.kick(), every);
      this.timer.unref();
    }
  }

  /** Switches to another choice, and reconciles at once if started. */
  async setChoice(choice: InterfaceChoice): Promise<void> {
    this.choice = choice;
    if (!this.started) return;
    this.runner.kick();
    await this.runner.idle();
  }

  /** Closes every link (after the owner's `closing(…, 'stop')`). Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.runner.stop();
    const links = [...this.open.values()];
    this.open.clear();
    await Promise.all(links.map((link) => this.close(link, 'stop')));
  }

  private async reconcile(): Promise<void> {
    const { network, mode, listInterfaces, hooks, clock, log } = this.options;
    let resolution: ReturnType<typeof resolveLinks>;
    try {
      resolution = resolveLinks(this.choice, listInterfaces());
    } catch (err) {
      log.warn(`discovery: cannot list network interfaces: ${describeError(err)}`);
      return;
    }
    const problems = resolution.problems.join('; ');
    if (problems !== this.lastProblems && problems !== '') log.warn(`discovery: ${problems}`);
    this.lastProblems = problems;

    this.failures = [];
    const wanted = new Map(resolution.links.map((spec) => [spec.interface, spec]));
    for (const [name, link] of this.open) {
      if (wanted.has(name)) continue;
      this.open.delete(name);
      await this.close(link, 'gone');
    }
    for (const spec of wanted.values()) {
      if (this.stopped) break;
      const current = this.open.get(spec.interface);
      if (current && current.spec.address === spec.address) {
        current.spec = spec; // the netmask may have changed; the socket has not
        continue;
      }
      if (current) {
        this.open.delete(spec.interface);
        await this.close(current, 'replaced');
      }
      let link: OpenLink | undefined;
      try {
        const bucketRate = this.options.rate ?? { perSecond: 50, burst: 100 };
        const bucket = new TokenBucket(bucketRate.perSecond, bucketRate.burst, clock.now());
        const socket = await network.open(spec, mode, (data, from) => {
          if (link) this.receive(link, data, from);
        });
        link = { spec, socket, bucket, send: (data, to) => socket.send(data, to) };
      } catch (err) {
        const message = describeError(err);
        this.failures.push(message);
        // Said once per interface and reason, not at every rescan.
        if (this.failedBefore.get(spec.interface) !== message) log.warn(`discovery: ${message}`);
        this.failedBefore.set(spec.interface, message);
        continue;
      }
      this.failedBefore.delete(spec.interface);
      this.open.set(spec.interface, link);
      try {
        hooks.opened(link, current?.spec);
      } catch (err) {
        log.warn(`discovery: ${describeError(err)}`);
      }
    }
    try {
      hooks.reconciled();
    } catch (err) {
      log.warn(`discovery: ${describeError(err)}`);
    }
  }

  private async close(link: OpenLink, reason: 'gone' | 'replaced' | 'stop'): Promise<void> {
    try {
      await this.options.hooks.closing(link, reason);
    } catch (err) {
      this.options.log.warn(`discovery: ${describeError(err)}`);
    }
    await link.socket.close();
  }

  private receive(link: OpenLink, data: Buffer, from: Endpoint): void {
    const { stats } = this;
    stats.received++;
    try {
      if (!onLink(link.spec, from.address)) return void stats.dropped.off_link++;
      const screened = screenPacket(data, this.options.needles());
      if (screened) return void stats.dropped[screened]++;
      if (!link.bucket.take(this.options.clock.now())) return void stats.dropped.rate_limited++;
      const decoded = decodePacket(data);
      if (!decoded.ok) return void stats.dropped[decoded.reason]++;
      stats.accepted++;
      this.options.hooks.packet(link, decoded.packet, from);
    } catch (err) {
      this.options.log.warn(`discovery: a packet from ${from.address} could not be handled: ${describeError(err)}`);
    }
  }
}
