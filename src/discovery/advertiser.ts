/**
 * The advertiser: makes this daemon findable as `_swarmlet._tcp` on the links it was told to use.
 *
 * Lifecycle (RFC 6762 §8.3, §10.1): on start, and whenever what it advertises changes (`update`: role, cluster,
 * port, hostname, interfaces; or a rescan finds a new address), it announces its records three times (0, 1 s, 3 s),
 * the first of them led by goodbyes (TTL 0) for records it no longer has — the old address, or the whole old
 * instance when the name changed. On stop it sends goodbyes for everything, so watchers drop it at once instead
 * of after the TTL.
 *
 * Answering (responder.ts decides): multicast queries are answered after a random 20-120 ms (answers to several
 * queries merge) and never sooner than one second after the last multicast of our records on that link (§6);
 * legacy queries from a port other than 5353 (`swarmlet discover`) are answered at once by unicast with capped
 * TTLs, at most `unicastPerSecond` a second per link, so a flood of spoofed queries cannot turn us into an
 * amplifier. Each link advertises its own address only (§15): never docker0's, never another link's.
 *
 * Not done: probing and conflict resolution (§8.1, §9). The instance name carries 12 characters of the node id,
 * so two daemons collide only with the same hostname and the same id prefix.
 */

import { networkInterfaces } from 'node:os';
import type { Answer, Packet } from 'dns-packet';
import { invalidArgument } from '../errors.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { monotonicClock, type Clock } from './clock.ts';
import type { InterfaceChoice, InterfaceTable, LinkSpec } from './interfaces.ts';
import { LinkSet, type Link, type LinkStats } from './link-set.ts';
import { SERVICE_LABEL, hostName, instanceLabel } from './names.ts';
import { udpNetwork, type Endpoint, type MdnsNetwork } from './network.ts';
import { MDNS_PORT, enumerationAnswer, responsePacket, serviceAnswers, type ServiceRecords } from './packets.ts';
import { decideAnswer } from './responder.ts';
import { TokenBucket } from './token-bucket.ts';
import { invalidFieldsReason, type DiscoveryRole } from './txt.ts';

/** What a daemon advertises about itself. */
export interface ServiceDescription {
  nodeId: string;
  hostname: string;
  role: DiscoveryRole;
  /** The cluster's root key digest; '' while in no cluster. */
  cluster: string;
  /** The node transport's port. */
  port: number;
}

/** What `update` may change; the node id is fixed for the advertiser's life. */
export type ServiceUpdate = Partial<Omit<ServiceDescription, 'nodeId'>> & { interfaces?: InterfaceChoice };

export interface AdvertiserOptions {
  service: ServiceDescription;
  interfaces: InterfaceChoice;
  /** TTL of every record, seconds (default 120, RFC 6762's for host records). */
  ttlSeconds?: number;
  /** Re-resolve the interfaces this often, ms (default 5000). */
  rescanMs?: number;
  /** Announcement times after a change, ms from the change (default 0, 1000, 3000). */
  announceAtMs?: readonly number[];
  /** Legacy unicast answers per second and link (default 20). */
  unicastPerSecond?: number;
  network?: MdnsNetwork;
  listInterfaces?: () => InterfaceTable;
  clock?: Clock;
  /** [0, 1): jitter of multicast answers. */
  random?: () => number;
  log?: Logger;
}

interface LinkState {
  link: Link;
  /** What was last announced on this interface (kept across a change of address, to say goodbye to it). */
  announced?: ServiceRecords;
  lastMulticast: number;
  announceTimers: NodeJS.Timeout[];
  pending?: { timer: NodeJS.Timeout; service: boolean; enumeration: boolean };
  unicast: TokenBucket;
  /** Its link closed; the state is kept only for the goodbyes it still owes. */
  closed?: boolean;
}

export class Advertiser {
  private readonly options: AdvertiserOptions;
  private readonly ttl: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly links: LinkSet;
  private readonly states = new Map<string, LinkState>();
  private service: ServiceDescription;
  private started = false;
  private stopping: Promise<void> | undefined;
  private unicastLimited = 0;

  constructor(options: AdvertiserOptions) {
    checkService(options.service);
    this.options = options;
    this.service = { ...options.service };
    this.ttl = options.ttlSeconds ?? 120;
    this.clock = options.clock ?? monotonicClock;
    this.log = options.log ?? silentLogger;
    this.random = options.random ?? Math.random;
    this.links = new LinkSet({
      network: options.network ?? udpNetwork(this.log),
      mode: 'shared',
      choice: options.interfaces,
      listInterfaces: options.listInterfaces ?? networkInterfaces,
      needles: () => [Buffer.from(SERVICE_LABEL), Buffer.from('_services'), Buffer.from(this.label())],
      clock: this.clock,
      log: this.log,
      rescanMs: options.rescanMs ?? 5000,
      hooks: {
        opened: (link) => this.opened(link),
        closing: (link, reason) => this.closing(link, reason),
        packet: (link, packet, from) => this.answer(link, packet, from),
        reconciled: () => this.refresh(),
      },
    });
  }

  /** Counters of received datagrams, plus legacy answers withheld by the rate limit. */
  get stats(): LinkStats & { unicastLimited: number } {
    return { ...this.links.stats, unicastLimited: this.unicastLimited };
  }

  /** The addresses being advertised, by interface. */
  advertised(): Array<{ interface: string; address: string }> {
    return this.links.links().map((link) => ({ interface: link.spec.interface, address: link.spec.address }));
  }

  /** Opens the links and announces. With the choice `off` no socket is opened (until an update chooses others). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.links.start();
  }

  /** Changes what is advertised and announces the change (with goodbyes for what no longer holds). */
  async update(change: ServiceUpdate): Promise<void> {
    const { interfaces, ...fields } = change;
    const next = { ...this.service, ...fields };
    checkService(next);
    this.service = next;
    if (this.stopping) return;
    if (interfaces) await this.links.setChoice(interfaces);
    else if (this.started) this.refresh();
  }

  /** Sends goodbyes and closes the links. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.links.stop();
    return this.stopping;
  }

  private label(): string {
    return instanceLabel(this.service.hostname, this.service.nodeId);
  }

  private records(spec: LinkSpec): ServiceRecords {
    const { nodeId, role, cluster, port } = this.service;
    return { label: this.label(), fields: { nodeId, role, cluster, port }, addresses: [spec.address], ttl: this.ttl };
  }

  private opened(link: Link): void {
    const previous = this.states.get(link.spec.interface);
    const burst = this.options.unicastPerSecond ?? 20;
    this.states.set(link.spec.interface, {
      link,
      announced: previous?.announced,
      lastMulticast: -Infinity,
      announceTimers: [],
      unicast: new TokenBucket(burst, burst, this.clock.now()),
    });
  }

  private async closing(link: Link, reason: 'gone' | 'replaced' | 'stop'): Promise<void> {
    const state = this.states.get(link.spec.interface);
    if (!state || state.link !== link) return;
    cancel(state);
    state.closed = true;
    // A replaced link cannot send (its address is gone); its successor says goodbye to that address instead.
    if (reason === 'replaced') return;
    const sent = !state.announced || (await link.send(responsePacket(serviceAnswers(state.announced, { ttl: 0 }))));
    // When the goodbye could not go out (the address vanished first), the state stays, closed, so that a link
    // opening later on this interface says it.
    if (sent && this.states.get(link.spec.interface) === state) this.states.delete(link.spec.interface);
  }

  /** Announces on every link whose records differ from what it last announced. */
  private refresh(): void {
    if (this.stopping) return;
    for (const state of this.states.values()) {
      if (state.closed) continue;
      const next = this.records(state.link.spec);
      if (state.announced && sameRecords(state.announced, next)) continue;
      const goodbyes = goodbyesFor(state.announced, next);
      state.announced = next;
      cancel(state);
      const times = this.options.announceAtMs ?? [0, 1000, 3000];
      times.forEach((at, i) => {
        const send = () => {
          const answers = serviceAnswers(this.records(state.link.spec));
          state.lastMulticast = this.clock.now();
          void state.link.send(responsePacket(i === 0 ? [...goodbyes, ...answers] : answers));
        };
        if (at <= 0) send();
        else state.announceTimers.push(setTimeout(send, at));
      });
    }
  }

  private answer(link: Link, packet: Packet, from: Endpoint): void {
    const state = this.states.get(link.spec.interface);
    if (!state || state.link !== link || state.closed || this.stopping || packet.type !== 'query') return;
    const records = this.records(link.spec);
    const legacy = from.port !== MDNS_PORT;
    const decision = decideAnswer(packet, records, { legacy });
    if (!decision.service && !decision.enumeration) return;

    if (legacy) {
      if (!state.unicast.take(this.clock.now())) return void this.unicastLimited++;
      const answers = this.answers(records, decision.service, decision.enumeration);
      void link.send(responsePacket(answers, { id: packet.id ?? 0, questions: decision.questions }), from);
      return;
    }

    if (state.pending) {
      state.pending.service ||= decision.service;
      state.pending.enumeration ||= decision.enumeration;
      return;
    }
    const now = this.clock.now();
    const delay = Math.ceil(Math.max(20 + this.random() * 100, state.lastMulticast + 1000 - now));
    const pending = {
      service: decision.service,
      enumeration: decision.enumeration,
      timer: setTimeout(() => {
        state.pending = undefined;
        if (this.stopping) return;
        state.lastMulticast = this.clock.now();
        void link.send(responsePacket(this.answers(this.records(link.spec), pending.service, pending.enumeration)));
      }, delay),
    };
    state.pending = pending;
  }

  private answers(records: ServiceRecords, service: boolean, enumeration: boolean): Answer[] {
    return [...(service ? serviceAnswers(records) : []), ...(enumeration ? [enumerationAnswer(this.ttl)] : [])];
  }
}

function checkService(service: ServiceDescription): void {
  const reason = invalidFieldsReason(service);
  if (reason) throw invalidArgument(`cannot advertise this node: ${reason}`);
}

function cancel(state: LinkState): void {
  for (const timer of state.announceTimers) clearTimeout(timer);
  state.announceTimers = [];
  if (state.pending) clearTimeout(state.pending.timer);
  state.pending = undefined;
}

function sameRecords(a: ServiceRecords, b: ServiceRecords): boolean {
  return (
    a.label === b.label &&
    a.ttl === b.ttl &&
    a.addresses.join(',') === b.addresses.join(',') &&
    a.fields.nodeId === b.fields.nodeId &&
    a.fields.role === b.fields.role &&
    a.fields.cluster === b.fields.cluster &&
    a.fields.port === b.fields.port
  );
}

/** TTL-0 records for what `before` announced and `after` no longer holds. */
function goodbyesFor(before: ServiceRecords | undefined, after: ServiceRecords): Answer[] {
  if (!before) return [];
  if (before.label !== after.label) return serviceAnswers(before, { ttl: 0 });
  const host = hostName(before.label);
  return before.addresses
    .filter((address) => !after.addresses.includes(address))
    .map((address): Answer => ({ name: host, type: 'A', class: 'IN', ttl: 0, data: address }));
}
