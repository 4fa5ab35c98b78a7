/**
 * The DNS server of one overlay network: it listens on the network's bridge gateway (UDP and TCP, port 53), which
 * containers use as their resolver, answers the cluster's names from a lookup the caller gives, and forwards every
 * other name to upstream resolvers. It holds no cluster state: `lookup` (the mesh table, in the daemon) decides.
 *
 * What is answered, and why:
 * - A name the lookup knows (`web`, `tasks.web`; matched lowercased, one trailing dot ignored) is answered with A
 *   records, authoritative, in a fresh random order each time (Swarm's DNS round robin). Any other type for that
 *   name (AAAA first of all) gets NOERROR with no records, at once, so a client asking A and AAAA never waits on a
 *   forward for the half that cannot exist. A known name with no addresses (no running task) is the same empty
 *   NOERROR, never a forward: the name is ours.
 * - TTL 0 by default (`ttlSeconds`). Docker's embedded resolver uses 600 s; we do not, because this server sits on
 *   the container's own bridge (a lookup costs a local round trip) while a cached answer outlives a re-created
 *   service or a moved task, and `tasks.` and dnsrr answers change with every task that starts or stops.
 * - Other names go to the upstreams (the caller's list; by default the host's nameservers from /etc/resolv.conf,
 *   loopback ones included: this server runs in the host's network namespace, so a local stub such as
 *   systemd-resolved at 127.0.0.53 is reachable here and knows the host's split DNS, unlike from a container). The
 *   query is sent unchanged but for a fresh random ID, over the transport the client used; the first upstream gets
 *   it at once, the next one after an equal share of the deadline (or at once when the previous one refused the
 *   connection); the first reply wins and is relayed with the client's ID. No reply by `forwardTimeoutMs` (3 s: under
 *   the 4 s after which Docker's resolver gives up on a server) → SERVFAIL. No upstream at all → REFUSED, with
 *   recursion-available clear: this server will not resolve that name, and the client should ask another.
 * - At most `maxPendingForwards` forwards are in flight per network; beyond that a query is answered SERVFAIL at
 *   once (a flood costs a bounded number of sockets, and a client hears quickly that it should try elsewhere).
 *
 * Replies are written here, not by dns-packet: the header and question are the query's own bytes (so the case a
 * resolver randomised, RFC 0x20 style, and any class come back exactly), and each A record names the question with a
 * compression pointer — 16 bytes a record, which dns-packet (no compression on encode) would make 2–3 times larger,
 * truncating UDP answers far sooner. dns-packet decodes queries: that is where hostile bytes arrive.
 *
 * Hostile input, cheapest check first, all synchronous and bounded (no packet costs more than one ≤4 KiB decode):
 * shorter than a header, longer than MAX_QUERY_BYTES, or a response (QR set: never answered, so two servers cannot
 * loop) → dropped; another opcode → NOTIMP; not exactly one question, more than MAX_QUERY_RECORDS other records, a
 * compression pointer in the question, a second OPT, or anything dns-packet rejects → FORMERR (header only, 12 bytes:
 * never larger than what was sent). UDP answers larger than 512 bytes, or the client's EDNS size (capped at 1232, the
 * size that avoids fragmentation), keep as many records as fit and set TC, so the client retries over TCP. TCP
 * messages are length-prefixed (RFC 1035 §4.2.2); a connection is closed when a whole message has not arrived within
 * `tcpIdleTimeoutMs` of the connection or of the previous message (so one that sends nothing, or a byte at a time, is
 * closed), when it announces a message too long or too short, or when it does not read its answers; at most
 * `maxTcpConnections` are open at once.
 *
 * IPv4 only. PTR queries for cluster addresses are forwarded like any name (Swarm answers them; nothing needs it yet).
 */

import { randomInt } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { connect, createServer, isIPv4, type Server, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import { describeError, invalidArgument, SwarmletError } from '../errors.ts';
import type { Logger } from '../util/logger.ts';

/**
 * The cluster's addresses for `name` (lowercase, no trailing dot: `web`, `tasks.web`), or null when the name is not
 * the cluster's (then it is forwarded). An empty list means the name is ours but has no address now.
 */
export type NameLookup = (name: string) => readonly string[] | null;

export interface DnsLimits {
  /** A forwarded query with no upstream reply by then is answered SERVFAIL. */
  forwardTimeoutMs: number;
  /** Forwarded queries in flight at once; more are answered SERVFAIL at once. */
  maxPendingForwards: number;
  /** A TCP connection closes when no whole message arrived for this long (since it opened, or the last message). */
  tcpIdleTimeoutMs: number;
  /** Open TCP connections; more are closed at accept. */
  maxTcpConnections: number;
}

export const DEFAULT_DNS_LIMITS: Readonly<DnsLimits> = Object.freeze({
  forwardTimeoutMs: 3_000,
  maxPendingForwards: 256,
  tcpIdleTimeoutMs: 5_000,
  maxTcpConnections: 64,
});

export const DNS_PORT = 53;
/** TTL of cluster answers unless the caller says otherwise (see the header for why not Swarm's 600). */
export const DEFAULT_TTL_SECONDS = 0;
/** A query is a header, one question and an OPT record: anything longer is not one, and is not decoded. */
export const MAX_QUERY_BYTES = 4096;
/** Records besides the question a query may carry (an OPT, a TSIG...). */
export const MAX_QUERY_RECORDS = 4;
/** UDP reply sizes: RFC 1035's, and the most we send whatever EDNS size a client offers (DNS flag day 2020). */
export const PLAIN_UDP_BYTES = 512;
export const MAX_UDP_ANSWER_BYTES = 1232;
const MAX_TCP_MESSAGE_BYTES = 65_535;
/** Answers a TCP client has not read; past this it is not reading, and is closed. */
const MAX_TCP_BACKLOG_BYTES = 256 << 10;
/** How often the pending-forward cap may be logged while a flood lasts. */
const CAP_WARNING_INTERVAL_MS = 10_000;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
/** EDNS extended rcode 16 (BADVERS): its upper 8 bits, carried in the OPT record. */
const BADVERS_HIGH = 1;
const HEADER_BYTES = 12;
const A_RECORD_BYTES = 16;
const OPT_RECORD_BYTES = 11;
const TYPE_OPT = 41;
/** Names a lookup is asked about: what a service or `tasks.` name can be; anything else cannot be ours. */
const CLUSTER_NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;

export type Transport = 'udp' | 'tcp';

/** A query that passed every check: what the answer needs, and its bytes (header and question are echoed). */
export interface ParsedQuery {
  id: number;
  opcode: number;
  recursionDesired: boolean;
  checkingDisabled: boolean;
  /** As received (case kept). */
  name: string;
  type: string;
  class: string | number;
  /** Where the question ends in `raw`. */
  questionEnd: number;
  /** The client's EDNS OPT record, when it sent one. */
  edns: { udpSize: number; version: number } | null;
  raw: Buffer;
}

export type ParseResult = { ok: true; query: ParsedQuery } | { ok: false; reason: string; reply: Buffer | null };

/** Checks and decodes one query; never throws. A refusal carries the reply to send (FORMERR, NOTIMP) or null. */
export function parseQuery(message: Buffer): ParseResult {
  if (message.length < HEADER_BYTES) return { ok: false, reason: 'shorter than a header', reply: null };
  if (message.length > MAX_QUERY_BYTES) return { ok: false, reason: 'oversized', reply: null };
  if (message[2]! & 0x80) return { ok: false, reason: 'a response, not a query', reply: null };
  const opcode = (message[2]! >> 3) & 0x0f;
  if (opcode !== 0) return { ok: false, reason: `opcode ${opcode}`, reply: headerOnly(message, RCODE.NOTIMP) };
  const formerr = (reason: string): ParseResult => ({ ok: false, reason, reply: headerOnly(message, RCODE.FORMERR) });
  if (message.readUInt16BE(4) !== 1) return formerr('not exactly one question');
  if (message.readUInt16BE(6) + message.readUInt16BE(8) + message.readUInt16BE(10) > MAX_QUERY_RECORDS) return formerr('too many records');
  const questionEnd = questionEndOf(message);
  if (questionEnd === null) return formerr('a malformed question');
  let packet;
  try {
    packet = dnsPacket.decode(message);
  } catch {
    return formerr('undecodable');
  }
  const question = packet?.questions?.[0];
  if (!question || typeof question.name !== 'string' || typeof question.type !== 'string') return formerr('no usable question');
  const opts = (packet.additionals ?? []).filter((record) => record?.type === 'OPT') as Array<{ udpPayloadSize?: unknown; ednsVersion?: unknown }>;
  if (opts.length > 1) return formerr('more than one OPT record');
  const opt = opts[0];
  const edns = opt ? { udpSize: typeof opt.udpPayloadSize === 'number' ? opt.udpPayloadSize : 0, version: typeof opt.ednsVersion === 'number' ? opt.ednsVersion : 0 } : null;
  return {
    ok: true,
    query: {
      id: message.readUInt16BE(0),
      opcode,
      recursionDesired: (message[2]! & 0x01) !== 0,
      checkingDisabled: (message[3]! & 0x10) !== 0,
      name: question.name,
      type: question.type,
      class: question.class ?? 'IN',
      questionEnd,
      edns,
      raw: message,
    },
  };
}

/**
 * The end of the question's bytes, or null when its name is malformed or uses a compression pointer (the question
 * is the first name of the message: there is nothing before it to point to, and echoing one would corrupt replies).
 */
function questionEndOf(message: Buffer): number | null {
  let at = HEADER_BYTES;
  for (;;) {
    if (at >= message.length) return null;
    const length = message[at]!;
    if (length === 0) break;
    if (length & 0xc0) return null;
    at += length + 1;
  }
  at += 1 + 4;
  return at <= message.length ? at : null;
}

/** The reply to a message that cannot be read: its header, flagged as a response with `rcode`, and no sections. */
function headerOnly(message: Buffer, rcode: number): Buffer {
  const reply = Buffer.alloc(HEADER_BYTES);
  message.copy(reply, 0, 0, 4);
  reply[2] = 0x80 | (message[2]! & 0x79); // QR, the opcode and RD kept; AA and TC cleared.
  reply[3] = rcode & 0x0f;
  return reply;
}

/** What a reply says, beyond the query it echoes. */
export interface ReplyShape {
  rcode: number;
  authoritative?: boolean;
  recursionAvailable: boolean;
  /** A records' addresses (dotted IPv4), all of the question's name. */
  addresses?: readonly string[];
  ttl?: number;
  /** The most bytes the reply may take; records that do not fit are left out and TC is set. */
  maxBytes?: number;
  /** Set TC even when everything fit (an upstream reply too large to relay). */
  truncated?: boolean;
  badVersion?: boolean;
}

/** A reply to `query`: its header and question echoed, then A records pointing at the question's name. */
export function encodeReply(query: ParsedQuery, shape: ReplyShape): Buffer {
  const withOpt = query.edns !== null;
  const fixed = query.questionEnd + (withOpt ? OPT_RECORD_BYTES : 0);
  const addresses = shape.addresses ?? [];
  const room = Math.max(0, Math.floor(((shape.maxBytes ?? MAX_TCP_MESSAGE_BYTES) - fixed) / A_RECORD_BYTES));
  const count = Math.min(addresses.length, room);
  const truncated = shape.truncated === true || count < addresses.length;
  const reply = Buffer.allocUnsafe(fixed + count * A_RECORD_BYTES);
  query.raw.copy(reply, 0, 0, query.questionEnd);
  reply[2] = 0x80 | (query.opcode << 3) | (shape.authoritative ? 0x04 : 0) | (truncated ? 0x02 : 0) | (query.recursionDesired ? 0x01 : 0);
  reply[3] = (shape.recursionAvailable ? 0x80 : 0) | (query.checkingDisabled ? 0x10 : 0) | (shape.rcode & 0x0f);
  reply.writeUInt16BE(1, 4);
  reply.writeUInt16BE(count, 6);
  reply.writeUInt16BE(0, 8);
  reply.writeUInt16BE(withOpt ? 1 : 0, 10);
  let at = query.questionEnd;
  const ttl = Math.max(0, Math.min(shape.ttl ?? 0, 0x7fffffff));
  for (let i = 0; i < count; i++) {
    reply.writeUInt16BE(0xc000 | HEADER_BYTES, at); // The question's name.
    reply.writeUInt16BE(1, at + 2); // A
    reply.writeUInt16BE(1, at + 4); // IN
    reply.writeUInt32BE(ttl, at + 6);
    reply.writeUInt16BE(4, at + 10);
    const octets = addresses[i]!.split('.');
    for (let j = 0; j < 4; j++) reply[at + 12 + j] = Number(octets[j]);
    at += A_RECORD_BYTES;
  }
  if (withOpt) {
    reply[at] = 0; // The root name.
    reply.writeUInt16BE(TYPE_OPT, at + 1);
    reply.writeUInt16BE(MAX_UDP_ANSWER_BYTES, at + 3);
    reply[at + 5] = shape.badVersion ? BADVERS_HIGH : 0;
    reply[at + 6] = 0; // EDNS version 0.
    reply.writeUInt16BE(0, at + 7); // No DNSSEC here: DO clear.
    reply.writeUInt16BE(0, at + 9);
  }
  return reply;
}

/** The most bytes a reply to `query` may take over `transport`. */
export function replyLimit(query: ParsedQuery, transport: Transport): number {
  if (transport === 'tcp') return MAX_TCP_MESSAGE_BYTES;
  if (!query.edns) return PLAIN_UDP_BYTES;
  return Math.min(Math.max(query.edns.udpSize, PLAIN_UDP_BYTES), MAX_UDP_ANSWER_BYTES);
}

export interface AnswerContext {
  lookup: NameLookup;
  ttlSeconds: number;
  /** In [0, 1): the order of multi-address answers. */
  random: () => number;
  transport: Transport;
  /** Whether there is an upstream to forward to. */
  canForward: boolean;
}

export type Outcome =
  | { kind: 'reply'; reply: Buffer; why: 'cluster' | 'refused' | 'failed' | 'badvers' }
  | { kind: 'forward' };

/** The decision for a parsed query: answered from the cluster, refused, or to be forwarded. */
export function answerQuery(query: ParsedQuery, context: AnswerContext): Outcome {
  const maxBytes = replyLimit(query, context.transport);
  const recursionAvailable = context.canForward;
  if (query.edns && query.edns.version !== 0) return { kind: 'reply', why: 'badvers', reply: encodeReply(query, { rcode: 0, recursionAvailable, badVersion: true }) };
  const name = clusterName(query);
  let addresses: readonly string[] | null = null;
  if (name !== null) {
    try {
      addresses = context.lookup(name);
    } catch {
      return { kind: 'reply', why: 'failed', reply: encodeReply(query, { rcode: RCODE.SERVFAIL, recursionAvailable }) };
    }
  }
  if (addresses !== null) {
    const wantsA = query.type === 'A' || query.type === 'ANY';
    const records = wantsA ? shuffled(addresses.filter((address) => isIPv4(address)), context.random) : [];
    return { kind: 'reply', why: 'cluster', reply: encodeReply(query, { rcode: RCODE.NOERROR, authoritative: true, recursionAvailable, addresses: records, ttl: context.ttlSeconds, maxBytes }) };
  }
  // A bare name (`db`, `tasks.db`) that no service has is no name anywhere else either: answered here, never sent
  // to the host's resolvers, which would only be told the cluster's guesses and make the client wait.
  if (name !== null && (!name.includes('.') || /^tasks\.[^.]+$/.test(name))) {
    return { kind: 'reply', why: 'cluster', reply: encodeReply(query, { rcode: RCODE.NXDOMAIN, authoritative: true, recursionAvailable }) };
  }
  if (!context.canForward) return { kind: 'reply', why: 'refused', reply: encodeReply(query, { rcode: RCODE.REFUSED, recursionAvailable: false }) };
  return { kind: 'forward' };
}

/** The name to ask the lookup about, or null when the question cannot be about the cluster. */
function clusterName(query: ParsedQuery): string | null {
  if (query.class !== 'IN' && query.class !== 'ANY') return null;
  const name = (query.name.endsWith('.') ? query.name.slice(0, -1) : query.name).toLowerCase();
  return name.length <= 253 && CLUSTER_NAME.test(name) ? name : null;
}

/** A copy of `items` in a random order (Fisher–Yates). */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * What the client gets of an upstream's reply: the reply with the client's ID back; when it is larger than a UDP
 * client accepts (an upstream that ignored the EDNS size), an empty truncated reply instead, to retry over TCP.
 */
export function relayReply(query: ParsedQuery, upstream: Buffer, transport: Transport): Buffer {
  const limit = transport === 'tcp' ? MAX_TCP_MESSAGE_BYTES : Math.max(PLAIN_UDP_BYTES, query.edns?.udpSize ?? 0);
  if (upstream.length > limit) return encodeReply(query, { rcode: upstream[3]! & 0x0f, recursionAvailable: true, truncated: true });
  const reply = Buffer.from(upstream);
  reply.writeUInt16BE(query.id, 0);
  return reply;
}

/** An upstream resolver. */
export interface Upstream {
  host: string;
  port: number;
}

/** `ip` or `ip:port` (IPv4) as an upstream; port 53 when none is given. */
export function parseUpstream(spec: string): Upstream {
  const match = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(spec.trim());
  const port = match?.[2] === undefined ? DNS_PORT : Number(match[2]);
  if (!match || !isIPv4(match[1]!) || port < 1 || port > 65_535) throw invalidArgument(`DNS upstream "${spec}" is not an IPv4 address with an optional port, like 192.0.2.53 or 192.0.2.53:5353`);
  return { host: match[1]!, port };
}

/** The IPv4 `nameserver`s of a resolv.conf text, in order, at most 3 (the resolver's own limit, MAXNS). */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const [keyword, address] = line.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (keyword === 'nameserver' && address !== undefined && isIPv4(address) && !out.includes(address)) out.push(address);
  }
  return out.slice(0, 3);
}

/** The host's resolvers, from /etc/resolv.conf; none when it cannot be read. */
export async function hostResolvers(path = '/etc/resolv.conf'): Promise<string[]> {
  try {
    return parseResolvConf(await readFile(path, 'utf8'));
  } catch {
    return [];
  }
}

export interface DnsServerOptions {
  /** The network's gateway address, on this host's bridge. */
  host: string;
  /** 53 unless told; 0 picks a free port, the same for UDP and TCP (tests). */
  port?: number;
  lookup: NameLookup;
  /** `ip[:port]` resolvers for names that are not the cluster's; the host's (hostResolvers) when undefined. */
  upstreams?: readonly string[];
  ttlSeconds?: number;
  limits?: Partial<DnsLimits>;
  /** In [0, 1): the order of answers. Math.random unless told. */
  random?: () => number;
  /** Names the server in logs (the network's name). */
  label?: string;
  log: Logger;
}

export interface DnsStats {
  /** Answered from the lookup. */
  answered: number;
  /** Sent upstream, and among them those that got no reply in time. */
  forwarded: number;
  timedOut: number;
  /** Forwards in flight now, and queries answered SERVFAIL because the cap was reached. */
  pendingForwards: number;
  capped: number;
  refused: number;
  /** Answered FORMERR or NOTIMP, and dropped unanswered. */
  malformed: number;
  dropped: number;
}

/** Sends a reply to the client a query came from. */
type ReplyTo = (reply: Buffer) => void;

export class DnsServer {
  readonly #options: DnsServerOptions;
  readonly #limits: DnsLimits;
  readonly #random: () => number;
  readonly #ttl: number;
  #upstreams: Upstream[] = [];
  #udp: UdpSocket | null = null;
  #tcp: Server | null = null;
  readonly #connections = new Set<Socket>();
  /** Aborting one ends a forward (its sockets and timers) at once. */
  readonly #forwards = new Set<AbortController>();
  readonly #stats: DnsStats = { answered: 0, forwarded: 0, timedOut: 0, pendingForwards: 0, capped: 0, refused: 0, malformed: 0, dropped: 0 };
  #lastCapWarning = -Infinity;
  #stopped = false;

  constructor(options: DnsServerOptions) {
    this.#options = options;
    this.#limits = resolveDnsLimits(options.limits);
    this.#random = options.random ?? Math.random;
    this.#ttl = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    if (!Number.isInteger(this.#ttl) || this.#ttl < 0) throw invalidArgument(`DNS TTL must be a whole number of seconds ≥ 0, got ${this.#ttl}`);
    if (!isIPv4(options.host)) throw invalidArgument(`the DNS server listens on an IPv4 address (the network's gateway), got "${options.host}"`);
    if (options.upstreams) this.#upstreams = options.upstreams.map(parseUpstream);
  }

  /** Binds UDP and TCP on the same port, and reads the host's resolvers when no upstreams were given. */
  async start(): Promise<void> {
    if (this.#udp || this.#stopped) return;
    if (this.#options.upstreams === undefined) this.#upstreams = (await hostResolvers()).map(parseUpstream);
    const wanted = this.#options.port ?? DNS_PORT;
    // Port 0: the UDP port the system picks may be taken for TCP; a few tries find one free for both.
    for (let attempt = 1; ; attempt++) {
      const udp = await this.#bindUdp(wanted);
      try {
        this.#tcp = await this.#bindTcp(udp.address().port);
        this.#udp = udp;
        break;
      } catch (err) {
        udp.close();
        if (wanted !== 0 || attempt >= 5) throw this.#bindError(err);
      }
    }
    // Forwarding to ourselves (a host whose resolv.conf names this gateway) would only loop until the deadline.
    this.#upstreams = this.#upstreams.filter((u) => !(u.host === this.#options.host && u.port === this.port));
    if (this.#upstreams.length === 0) this.#options.log.warn(`DNS on ${this.#where()}: no upstream resolver, so names outside the cluster are refused`);
  }

  /** The port bound (both transports). */
  get port(): number {
    return this.#udp?.address().port ?? 0;
  }

  /** The upstreams in use, as `ip:port`. */
  get upstreams(): string[] {
    return this.#upstreams.map((u) => `${u.host}:${u.port}`);
  }

  stats(): DnsStats {
    return { ...this.#stats };
  }

  /** Closes both sockets and every TCP connection, and abandons the forwards in flight (their timers too). Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const forward of this.#forwards) forward.abort();
    const udp = this.#udp;
    const tcp = this.#tcp;
    this.#udp = null;
    this.#tcp = null;
    const closed = Promise.all([
      new Promise<void>((resolve) => (udp ? udp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (tcp ? tcp.close(() => resolve()) : resolve())),
    ]);
    for (const socket of this.#connections) socket.destroy();
    await closed;
  }

  #bindUdp(port: number): Promise<UdpSocket> {
    const udp = createSocket('udp4');
    return new Promise((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, this.#options.host, () => {
        udp.off('error', reject);
        udp.on('error', (err) => this.#options.log.warn(`DNS on ${this.#where()}: UDP socket: ${describeError(err)}`));
        udp.on('message', (message, from) => this.#handle(message, 'udp', (reply) => this.#udp?.send(reply, from.port, from.address, () => {})));
        resolve(udp);
      });
    });
  }

  #bindTcp(port: number): Promise<Server> {
    const server = createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket));
    server.maxConnections = this.#limits.maxTcpConnections;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.#options.host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.#options.log.warn(`DNS on ${this.#where()}: TCP listener: ${describeError(err)}`));
        resolve(server);
      });
    });
  }

  #bindError(err: unknown): SwarmletError {
    return new SwarmletError('unavailable', `the DNS server of ${this.#where()} cannot listen on ${this.#options.host} port ${this.#options.port ?? DNS_PORT}: ${describeError(err)}. Is another DNS server (dnsmasq, a second swarmlet) bound to that address?`, { cause: err });
  }

  #where(): string {
    return this.#options.label ? `network ${this.#options.label}` : this.#options.host;
  }

  /** One TCP client: length-prefixed queries, answered in whatever order they complete (RFC 7766 §6.2.1.1). */
  #accept(socket: Socket): void {
    socket.on('error', () => {}); // Every failure ends in 'close'; an unhandled 'error' would end the daemon.
    if (this.#stopped) return void socket.destroy();
    this.#connections.add(socket);
    socket.setNoDelay(true);
    let buffered: Buffer = Buffer.alloc(0);
    let inFlight = 0;
    let ended = false;
    // Re-armed only by a whole message in or out: a client dribbling bytes cannot keep its connection.
    const idle = setTimeout(() => socket.destroy(), this.#limits.tcpIdleTimeoutMs);
    socket.once('close', () => {
      clearTimeout(idle);
      this.#connections.delete(socket);
    });
    socket.once('end', () => {
      ended = true;
      if (inFlight === 0) socket.end();
    });
    const reply: ReplyTo = (message) => {
      inFlight--;
      if (socket.destroyed) return;
      const framed = Buffer.allocUnsafe(2 + message.length);
      framed.writeUInt16BE(message.length, 0);
      message.copy(framed, 2);
      socket.write(framed);
      idle.refresh();
      if (socket.writableLength > MAX_TCP_BACKLOG_BYTES) socket.destroy();
      else if (ended && inFlight === 0) socket.end();
    };
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && !socket.destroyed) {
        const length = buffered.readUInt16BE(0);
        if (length < HEADER_BYTES || length > MAX_QUERY_BYTES) {
          this.#stats.dropped++;
          return void socket.destroy();
        }
        if (buffered.length < 2 + length) return;
        const message = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        idle.refresh();
        inFlight++;
        this.#handle(message, 'tcp', reply, () => {
          inFlight--;
          socket.destroy(); // A client that sends responses or garbage without a header is not a resolver.
        });
      }
    });
  }

  /** One query from either transport: answered, forwarded, or dropped (`drop` defaults to doing nothing). */
  #handle(message: Buffer, transport: Transport, reply: ReplyTo, drop: () => void = () => {}): void {
    if (this.#stopped) return;
    const parsed = parseQuery(message);
    if (!parsed.ok) {
      if (parsed.reply) {
        this.#stats.malformed++;
        reply(parsed.reply);
      } else {
        this.#stats.dropped++;
        drop();
      }
      return;
    }
    const { query } = parsed;
    const outcome = answerQuery(query, { lookup: this.#options.lookup, ttlSeconds: this.#ttl, random: this.#random, transport, canForward: this.#upstreams.length > 0 });
    if (outcome.kind === 'reply') {
      if (outcome.why === 'cluster') this.#stats.answered++;
      else if (outcome.why === 'refused') this.#stats.refused++;
      else if (outcome.why === 'failed') this.#options.log.warn(`DNS on ${this.#where()}: the name lookup failed for "${query.name}"; answered SERVFAIL`);
      else this.#stats.malformed++;
      return reply(outcome.reply);
    }
    if (this.#stats.pendingForwards >= this.#limits.maxPendingForwards) {
      this.#stats.capped++;
      this.#warnCapped();
      return reply(encodeReply(query, { rcode: RCODE.SERVFAIL, recursionAvailable: true }));
    }
    this.#stats.forwarded++;
    this.#stats.pendingForwards++;
    void this.#forward(query, transport).then((upstream) => {
      this.#stats.pendingForwards--;
      if (this.#stopped) return;
      if (!upstream) this.#stats.timedOut++;
      reply(upstream ? relayReply(query, upstream, transport) : encodeReply(query, { rcode: RCODE.SERVFAIL, recursionAvailable: true }));
    });
  }

  #warnCapped(): void {
    const now = performance.now();
    if (now - this.#lastCapWarning < CAP_WARNING_INTERVAL_MS) return;
    this.#lastCapWarning = now;
    this.#options.log.warn(`DNS on ${this.#where()}: ${this.#limits.maxPendingForwards} queries already wait on upstream resolvers; more are answered SERVFAIL (${this.#stats.capped} so far)`);
  }

  /**
   * Sends the query upstream under a fresh ID and resolves with the first matching reply, or null at the deadline
   * (or at stop). The next upstream is tried after its share of the deadline, or at once when one fails outright.
   */
  #forward(query: ParsedQuery, transport: Transport): Promise<Buffer | null> {
    const id = randomInt(0x10000);
    const message = Buffer.from(query.raw);
    message.writeUInt16BE(id, 0);
    const upstreams = this.#upstreams;
    const controller = new AbortController();
    this.#forwards.add(controller);
    return new Promise((resolve) => {
      let started = 0;
      let failed = 0;
      const finish = (reply: Buffer | null) => {
        if (!this.#forwards.delete(controller)) return;
        clearTimeout(deadline);
        clearTimeout(next);
        controller.abort();
        resolve(reply);
      };
      const launch = () => {
        if (started >= upstreams.length || controller.signal.aborted) return;
        const upstream = upstreams[started++]!;
        const attempt = transport === 'udp' ? udpExchange : tcpExchange;
        attempt(upstream, message, id, controller.signal).then(finish, (err: unknown) => {
          if (controller.signal.aborted) return;
          this.#options.log.debug(`DNS on ${this.#where()}: upstream ${upstream.host}:${upstream.port}: ${describeError(err)}`);
          if (++failed === upstreams.length) finish(null);
          else if (started === failed) launch();
        });
        if (started < upstreams.length) next.refresh();
      };
      const share = this.#limits.forwardTimeoutMs / upstreams.length;
      const next = setTimeout(launch, share);
      const deadline = setTimeout(() => finish(null), this.#limits.forwardTimeoutMs);
      controller.signal.addEventListener('abort', () => finish(null), { once: true });
      launch();
    });
  }
}

/** Defaults filled in and every value checked: a NaN or 0 here would silently remove a protection. */
export function resolveDnsLimits(partial: Partial<DnsLimits> = {}): DnsLimits {
  const limits = { ...DEFAULT_DNS_LIMITS, ...partial };
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || Number.isNaN(value) || value < 1) throw invalidArgument(`DNS limit ${name} must be a number ≥ 1, got ${String(value)}`);
  }
  return limits;
}

/** Whether `message` is a response carrying our ID `id`. */
function isReplyTo(message: Buffer, id: number): boolean {
  return message.length >= HEADER_BYTES && message.readUInt16BE(0) === id && (message[2]! & 0x80) !== 0;
}

/**
 * One UDP exchange with an upstream, on a socket of its own connected to it: the kernel then delivers only that
 * upstream's datagrams, on a port nobody else can predict, and reports a refused port as an error.
 */
function udpExchange(upstream: Upstream, message: Buffer, id: number, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    let done = false;
    const settle = (err: Error | null, reply?: Buffer) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      socket.close();
      if (err) reject(err);
      else resolve(reply!);
    };
    const onAbort = () => settle(new Error('abandoned'));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (err) => settle(err));
    socket.on('message', (reply) => {
      if (isReplyTo(reply, id)) settle(null, reply);
    });
    socket.connect(upstream.port, upstream.host, () => {
      if (!done) socket.send(message, (err) => err && settle(err));
    });
  });
}

/** One TCP exchange with an upstream: a connection, the length-prefixed query, the length-prefixed reply. */
function tcpExchange(upstream: Upstream, message: Buffer, id: number, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: upstream.host, port: upstream.port });
    let buffered: Buffer = Buffer.alloc(0);
    let done = false;
    const settle = (err: Error | null, reply?: Buffer) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const onAbort = () => settle(new Error('abandoned'));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (err) => settle(err));
    socket.on('close', () => settle(new Error('the upstream closed the connection without a reply')));
    socket.on('connect', () => {
      const framed = Buffer.allocUnsafe(2 + message.length);
      framed.writeUInt16BE(message.length, 0);
      message.copy(framed, 2);
      socket.write(framed);
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const reply = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + reply.length);
        if (isReplyTo(reply, id)) return settle(null, Buffer.from(reply));
      }
    });
  });
}
