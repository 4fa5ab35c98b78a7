/**
 * What a browser or watcher knows about the daemons on its links, built from the mDNS responses it sees — a pure
 * object: records and `now` (monotonic milliseconds) in, peers out. No timers, no sockets.
 *
 * A peer is assembled the DNS-SD way: PTR (`_swarmlet._tcp.local` → instance), SRV (instance → port, host name),
 * TXT (instance → validated fields, see txt.ts) and A (host name → addresses). Records may arrive in any packets
 * and any order; a peer exists while its SRV, a valid TXT and at least one address are all alive.
 *
 * mDNS cache rules (RFC 6762 §10): a record lives `ttl` seconds from its arrival; TTL 0 is a goodbye and removes it
 * at once (the advertiser sends goodbyes on stop and for an address it no longer has); a record with the cache-flush
 * bit replaces the others of its name and type — those older than one second get one second more to live, not
 * dropped, as a response may span several packets. Records are refreshed with queries from 80% of their TTL on
 * (`refreshDue`), and their PTRs are the known answers of the next query.
 *
 * Bounds, because the input is anyone on the LAN: at most `maxInstances` instances (new ones beyond are ignored)
 * and `maxAddresses` addresses per host; only A records for a host some SRV names are kept.
 */

import { isIPv4 } from 'node:net';
import type { Answer, Packet } from 'dns-packet';
import { SERVICE_TYPE, hostnameOf, instanceName, parseInstanceName } from './names.ts';
import { recordsOf, type KnownAnswer } from './packets.ts';
import { parseTxt, type DiscoveryRole, type ServiceFields } from './txt.ts';

/** A daemon found on the LAN. */
export interface Peer {
  nodeId: string;
  role: DiscoveryRole;
  /** Its cluster's root key digest; '' when it is in no cluster. */
  cluster: string;
  /** Its advertised IPv4 addresses, sorted. */
  addresses: string[];
  /** Its node transport port. */
  port: number;
  hostname: string;
  /** Its DNS-SD instance label, `<hostname>-<node id prefix>`. */
  instance: string;
  /** When a record of it last arrived, in the monotonic milliseconds of the clock that fed the cache. */
  lastSeen: number;
}

export type PeerEvent =
  | { type: 'found'; peer: Peer }
  | { type: 'changed'; peer: Peer; previous: Peer }
  | { type: 'lost'; peer: Peer };

interface Timed<T> {
  value: T;
  receivedAt: number;
  expiresAt: number;
  /** Seconds, as received. */
  ttl: number;
}

interface Instance {
  ptr?: Timed<true>;
  srv?: Timed<{ target: string; port: number }>;
  txt?: Timed<ServiceFields>;
  lastSeen: number;
}

export interface PeerCacheLimits {
  maxInstances: number;
  maxAddresses: number;
}

/** What was refused while reading responses, for logs and tests. */
export interface CacheCounters {
  invalidTxt: number;
  invalidRecords: number;
  cacheFull: number;
}

const ONE_SECOND = 1000;

export class PeerCache {
  private readonly limits: PeerCacheLimits;
  private readonly instances = new Map<string, Instance>();
  private readonly hosts = new Map<string, Map<string, Timed<true>>>();
  readonly counters: CacheCounters = { invalidTxt: 0, invalidRecords: 0, cacheFull: 0 };

  constructor(limits: Partial<PeerCacheLimits> = {}) {
    this.limits = { maxInstances: 256, maxAddresses: 8, ...limits };
  }

  /** Takes in the records of a response; queries are ignored (their known answers are no one's authority). */
  observe(packet: Packet, now: number): void {
    if (packet.type !== 'response') return;
    const records = recordsOf(packet);
    // SRV and friends first, so the A records of a host named in this very packet are recognised.
    for (const record of records) if (record.type !== 'A') this.observeServiceRecord(record, now);
    const fresh = new Map<string, Set<string>>();
    for (const record of records) {
      if (record.type !== 'A') continue;
      const name = record.name.toLowerCase();
      if (typeof record.data === 'string' && (record.ttl ?? 0) > 0) {
        const seen = fresh.get(name) ?? new Set<string>();
        seen.add(record.data);
        fresh.set(name, seen);
      }
    }
    const owners = new Map<string, Instance[]>();
    for (const entry of this.instances.values()) {
      if (entry.srv) owners.set(entry.srv.value.target, [...(owners.get(entry.srv.value.target) ?? []), entry]);
    }
    for (const record of records) if (record.type === 'A') this.observeAddress(record, owners.get(record.name.toLowerCase()) ?? [], fresh, now);
  }

  /** Forgets records whose TTL has run out. */
  expire(now: number): void {
    for (const [label, entry] of this.instances) {
      if (entry.ptr && entry.ptr.expiresAt <= now) delete entry.ptr;
      if (entry.srv && entry.srv.expiresAt <= now) delete entry.srv;
      if (entry.txt && entry.txt.expiresAt <= now) delete entry.txt;
      if (!entry.ptr && !entry.srv && !entry.txt) this.instances.delete(label);
    }
    const targets = new Set([...this.instances.values()].flatMap((entry) => (entry.srv ? [entry.srv.value.target] : [])));
    for (const [host, addresses] of this.hosts) {
      for (const [address, timed] of addresses) if (timed.expiresAt <= now) addresses.delete(address);
      if (addresses.size === 0 || !targets.has(host)) this.hosts.delete(host);
    }
  }

  /** The complete peers, by instance label. */
  peers(now: number): Map<string, Peer> {
    const out = new Map<string, Peer>();
    for (const [label, entry] of this.instances) {
      const { srv, txt } = entry;
      if (!srv || !txt || srv.expiresAt <= now || txt.expiresAt <= now) continue;
      const addresses = [...(this.hosts.get(srv.value.target) ?? new Map<string, Timed<true>>())]
        .filter(([, timed]) => timed.expiresAt > now)
        .map(([address]) => address)
        .sort();
      if (addresses.length === 0) continue;
      const fields = txt.value;
      out.set(label, {
        nodeId: fields.nodeId,
        role: fields.role,
        cluster: fields.cluster,
        addresses,
        port: fields.port,
        hostname: hostnameOf(label, fields.nodeId),
        instance: label,
        lastSeen: entry.lastSeen,
      });
    }
    return out;
  }

  /**
   * When a refresh query is due: undefined when none, else how long to wait at least between two (5% of the
   * shortest TTL that is due, at least a second), so a dead peer gets a handful of queries, not a storm.
   */
  refreshDue(now: number): number | undefined {
    let shortest: number | undefined;
    for (const entry of this.instances.values()) {
      for (const timed of [entry.ptr, entry.srv, entry.txt]) {
        if (!timed || timed.expiresAt <= now) continue;
        if (now >= timed.receivedAt + timed.ttl * 800) shortest = Math.min(shortest ?? Infinity, timed.ttl);
      }
    }
    return shortest === undefined ? undefined : Math.max(ONE_SECOND, shortest * 50);
  }

  /** The PTRs that still have more than half their TTL: a query lists them so their owners need not answer. */
  knownAnswers(now: number): KnownAnswer[] {
    const out: KnownAnswer[] = [];
    for (const [label, entry] of this.instances) {
      const ptr = entry.ptr;
      if (!ptr) continue;
      const remaining = (ptr.expiresAt - now) / ONE_SECOND;
      if (remaining > ptr.ttl / 2) out.push({ instance: instanceName(label), ttl: Math.floor(remaining) });
    }
    return out;
  }

  private observeServiceRecord(record: Answer, now: number): void {
    const ttl = record.ttl ?? 0;
    if (record.type === 'PTR') {
      if (record.name.toLowerCase() !== SERVICE_TYPE || typeof record.data !== 'string') return;
      const label = parseInstanceName(record.data);
      if (label === undefined) return void this.counters.invalidRecords++;
      if (ttl === 0) return void this.instances.delete(label);
      const entry = this.entry(label, now);
      if (entry) entry.ptr = timed(true as const, ttl, now);
      return;
    }
    if (record.type !== 'SRV' && record.type !== 'TXT') return;
    const label = parseInstanceName(record.name);
    if (label === undefined) return;
    if (ttl === 0) {
      // A goodbye for either record ends the peer: it can no longer be assembled.
      const entry = this.instances.get(label);
      if (entry && record.type === 'SRV') delete entry.srv;
      if (entry && record.type === 'TXT') delete entry.txt;
      return;
    }
    if (record.type === 'SRV') {
      const data = record.data as { port?: unknown; target?: unknown } | undefined;
      const port = data?.port;
      const target = data?.target;
      if (typeof port !== 'number' || typeof target !== 'string' || target.length === 0 || target.length > 255) {
        return void this.counters.invalidRecords++;
      }
      const entry = this.entry(label, now);
      if (entry) entry.srv = timed({ target: target.toLowerCase(), port }, ttl, now);
      return;
    }
    const parsed = parseTxt(record.data);
    if (!parsed.ok) return void this.counters.invalidTxt++;
    const entry = this.entry(label, now);
    if (entry) entry.txt = timed(parsed.fields, ttl, now);
  }

  private observeAddress(record: Answer, owners: readonly Instance[], fresh: Map<string, Set<string>>, now: number): void {
    if (owners.length === 0) return;
    const name = record.name.toLowerCase();
    if (typeof record.data !== 'string' || !isIPv4(record.data)) return void this.counters.invalidRecords++;
    const ttl = record.ttl ?? 0;
    let addresses = this.hosts.get(name);
    if (ttl === 0) {
      addresses?.delete(record.data);
      return;
    }
    if (!addresses) {
      addresses = new Map();
      this.hosts.set(name, addresses);
    }
    if (record.flush) {
      const keep = fresh.get(name);
      for (const [address, old] of addresses) {
        if (!keep?.has(address) && old.receivedAt < now - ONE_SECOND) old.expiresAt = Math.min(old.expiresAt, now + ONE_SECOND);
      }
    }
    if (!addresses.has(record.data) && addresses.size >= this.limits.maxAddresses) return void this.counters.cacheFull++;
    addresses.set(record.data, timed(true as const, ttl, now));
    for (const owner of owners) owner.lastSeen = now;
  }

  private entry(label: string, now: number): Instance | undefined {
    let entry = this.instances.get(label);
    if (!entry) {
      if (this.instances.size >= this.limits.maxInstances) {
        this.counters.cacheFull++;
        return undefined;
      }
      entry = { lastSeen: now };
      this.instances.set(label, entry);
    }
    entry.lastSeen = now;
    return entry;
  }
}

function timed<T>(value: T, ttl: number, now: number): Timed<T> {
  return { value, ttl, receivedAt: now, expiresAt: now + ttl * ONE_SECOND };
}

/** What changed between two views of the peers (keyed by instance label); `lastSeen` alone is no change. */
export function diffPeers(before: ReadonlyMap<string, Peer>, after: ReadonlyMap<string, Peer>): PeerEvent[] {
  const events: PeerEvent[] = [];
  for (const [label, peer] of after) {
    const previous = before.get(label);
    if (!previous) events.push({ type: 'found', peer });
    else if (!samePeer(previous, peer)) events.push({ type: 'changed', peer, previous });
  }
  for (const [label, peer] of before) if (!after.has(label)) events.push({ type: 'lost', peer });
  return events;
}

function samePeer(a: Peer, b: Peer): boolean {
  return (
    a.nodeId === b.nodeId &&
    a.role === b.role &&
    a.cluster === b.cluster &&
    a.port === b.port &&
    a.hostname === b.hostname &&
    a.addresses.join(',') === b.addresses.join(',')
  );
}
