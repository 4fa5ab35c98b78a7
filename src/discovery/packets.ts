/**
 * mDNS packets in and out: the only file that touches dns-packet.
 *
 * Reading is where hostile input arrives, so it is layered from cheapest to dearest and never throws:
 * 1. size: more than an mDNS packet can be (9000 bytes, RFC 6762 §17) is dropped unread;
 * 2. relevance: a packet that does not contain one of the caller's needles (the bytes `_swarmlet`, or our own host
 *    label) cannot be about us, whatever else it says — labels are never partly compressed, so the bytes must be
 *    there. This makes the LAN's ordinary mDNS chatter (printers, TVs) cost one memchr per packet;
 * 3. (after a token of the link's rate limit, link-set.ts) the header's counts must be small and fit in the bytes
 *    that follow, which bounds the decoder's work;
 * 4. dns-packet decodes inside try/catch, and the result is read defensively (every field is re-checked).
 * Writing builds the few packets discovery sends: an answer set (PTR, SRV, TXT, A), its goodbye (TTL 0), and a
 * PTR query with known answers.
 */

import dnsPacket, { type Answer, type Packet, type Question } from 'dns-packet';
import { SERVICE_ENUMERATION, SERVICE_TYPE, hostName, instanceName } from './names.ts';
import { encodeTxt, type ServiceFields } from './txt.ts';

export const MDNS_GROUP = '224.0.0.251';
export const MDNS_PORT = 5353;
export const MAX_PACKET_BYTES = 9000;
/** More questions or records than this in one packet is not a swarmlet packet, and is not decoded. */
export const MAX_QUESTIONS = 16;
export const MAX_RECORDS = 96;
/** A query lists at most this many known answers; peers beyond them just answer again. */
export const MAX_KNOWN_ANSWERS = 64;
/** RFC 6762 §6.7: answers to a legacy (non-5353 port) query carry a TTL of at most 10 s. */
export const LEGACY_TTL_CAP = 10;
/** The cache-flush bit's meaning is mDNS's; what classes mean to dns-packet, only IN matters here. */
const CLASS_IN = 'IN';

/** Why a datagram was not used; counted by the drivers, never thrown. */
export type DropReason = 'oversized' | 'unrelated' | 'malformed' | 'off_link' | 'rate_limited';

export type DecodeResult = { ok: true; packet: Packet } | { ok: false; reason: DropReason };

/**
 * The cheap checks, before a packet is worth a token of the rate limit: its size, and whether it contains one of
 * `needles`, the byte strings at least one of which a packet about us must contain.
 */
export function screenPacket(data: Buffer, needles: readonly Buffer[]): DropReason | undefined {
  if (data.length > MAX_PACKET_BYTES) return 'oversized';
  if (!needles.some((needle) => data.includes(needle))) return 'unrelated';
  return undefined;
}

/** Decodes a screened datagram; never throws. */
export function decodePacket(data: Buffer): DecodeResult {
  if (data.length < 12 || data.length > MAX_PACKET_BYTES) return { ok: false, reason: 'malformed' };
  // Counts are checked before dns-packet allocates and walks them: a question takes at least 5 bytes (a root name,
  // type, class), a record at least 11; and names may be chains of compression pointers, each hop strictly
  // backwards, so decoding costs up to (names × packet size) — bounded by allowing no more names than a swarmlet
  // packet ever has (a query's known answers are capped at MAX_KNOWN_ANSWERS).
  const questions = data.readUInt16BE(4);
  const records = data.readUInt16BE(6) + data.readUInt16BE(8) + data.readUInt16BE(10);
  if (questions > MAX_QUESTIONS || records > MAX_RECORDS) return { ok: false, reason: 'malformed' };
  if (questions * 5 + records * 11 > data.length - 12) return { ok: false, reason: 'malformed' };
  try {
    const packet = dnsPacket.decode(data);
    return packet && typeof packet === 'object' ? { ok: true, packet } : { ok: false, reason: 'malformed' };
  } catch {
    return { ok: false, reason: 'malformed' };
  }
}

/** The records of a packet that may carry answers (answers first, then additionals), only well-formed ones. */
export function recordsOf(packet: Packet): Answer[] {
  const out: Answer[] = [];
  for (const list of [packet.answers, packet.additionals]) {
    if (!Array.isArray(list)) continue;
    for (const record of list) {
      if (record && typeof record.name === 'string' && typeof record.type === 'string' && typeof record.ttl === 'number') out.push(record);
    }
  }
  return out;
}

/** The questions of a packet, only well-formed ones. */
export function questionsOf(packet: Packet): Question[] {
  if (!Array.isArray(packet.questions)) return [];
  return packet.questions.filter((question) => question && typeof question.name === 'string' && typeof question.type === 'string');
}

/** What one daemon advertises on one link. */
export interface ServiceRecords {
  /** Instance label, `<hostname>-<node id prefix>`. */
  label: string;
  fields: ServiceFields;
  /** The link's advertised IPv4 addresses (one, in practice). */
  addresses: string[];
  /** TTL of every record, seconds. */
  ttl: number;
}

/** The full answer set: PTR (shared), then SRV, TXT and A (unique to us, so with the cache-flush bit). */
export function serviceAnswers(records: ServiceRecords, options: { ttl?: number; flush?: boolean } = {}): Answer[] {
  const ttl = options.ttl ?? records.ttl;
  const flush = options.flush ?? true;
  const instance = instanceName(records.label);
  const host = hostName(records.label);
  return [
    { name: SERVICE_TYPE, type: 'PTR', class: CLASS_IN, ttl, data: instance },
    { name: instance, type: 'SRV', class: CLASS_IN, ttl, flush, data: { priority: 0, weight: 0, port: records.fields.port, target: host } },
    { name: instance, type: 'TXT', class: CLASS_IN, ttl, flush, data: encodeTxt(records.fields) },
    ...records.addresses.map((address): Answer => ({ name: host, type: 'A', class: CLASS_IN, ttl, flush, data: address })),
  ];
}

/** The DNS-SD service enumeration answer: "there is a `_swarmlet._tcp` service here". */
export function enumerationAnswer(ttl: number): Answer {
  return { name: SERVICE_ENUMERATION, type: 'PTR', class: CLASS_IN, ttl, data: SERVICE_TYPE };
}

/**
 * A response packet. Multicast responses have id 0 and no questions; a legacy unicast answer echoes the query's
 * id and questions, caps TTLs and clears the cache-flush bits (RFC 6762 §6.7).
 */
export function responsePacket(answers: Answer[], legacy?: { id: number; questions: Question[] }): Buffer {
  const packet: Packet = { id: 0, type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: [], answers };
  if (legacy) {
    packet.id = legacy.id;
    packet.questions = legacy.questions.map((question) => ({ name: question.name, type: question.type, class: CLASS_IN }));
    packet.answers = answers.map((answer) => ({ ...answer, flush: false, ttl: Math.min(answer.ttl ?? 0, LEGACY_TTL_CAP) }));
  }
  return dnsPacket.encode(packet);
}

/** A PTR record we already hold, listed in a query so responders that it covers stay quiet (RFC 6762 §7.1). */
export interface KnownAnswer {
  instance: string;
  /** Remaining TTL, seconds. */
  ttl: number;
}

/** A query for our service type, optionally for the service enumeration too, with known answers. */
export function queryPacket(knownAnswers: readonly KnownAnswer[] = [], options: { id?: number } = {}): Buffer {
  return dnsPacket.encode({
    id: options.id ?? 0,
    type: 'query',
    flags: 0,
    questions: [{ name: SERVICE_TYPE, type: 'PTR', class: CLASS_IN }],
    answers: knownAnswers.slice(0, MAX_KNOWN_ANSWERS).map((known) => ({ name: SERVICE_TYPE, type: 'PTR', class: CLASS_IN, ttl: Math.max(0, Math.floor(known.ttl)), data: known.instance })),
  });
}
