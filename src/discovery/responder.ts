/**
 * Which queries a daemon answers, decided without I/O: the advertiser hands it a decoded query and its own
 * records, and gets back whether to answer with the service set, the service enumeration, both, or nothing.
 *
 * A query is ours when it asks for the service type (PTR), our instance (SRV, TXT), our host name (A) — or ANY of
 * those — or enumerates service types. Known-answer suppression (RFC 6762 §7.1): a querier that already lists our
 * PTR with at least half its TTL left does not need it again, so a query that only asked for the PTR goes
 * unanswered; this is what keeps a browser's repeated queries from making every daemon answer every time.
 */

import type { Packet, Question } from 'dns-packet';
import { SERVICE_ENUMERATION, SERVICE_TYPE, hostName, instanceName } from './names.ts';
import { LEGACY_TTL_CAP, questionsOf, recordsOf, type ServiceRecords } from './packets.ts';

export interface AnswerDecision {
  /** Answer with the service set (PTR, SRV, TXT, A). */
  service: boolean;
  /** Answer the DNS-SD service enumeration. */
  enumeration: boolean;
  /** The questions answered, echoed in a legacy unicast answer. */
  questions: Question[];
}

export const NO_ANSWER: AnswerDecision = { service: false, enumeration: false, questions: [] };

/**
 * `legacy`: the query came from a port other than 5353 (a one-shot browser), which only ever got TTLs capped at
 * LEGACY_TTL_CAP from us, so its known answers are judged against that cap.
 */
export function decideAnswer(packet: Packet, records: ServiceRecords, options: { legacy: boolean }): AnswerDecision {
  if (packet.type !== 'query' || (packet.opcode !== undefined && packet.opcode !== 'QUERY')) return NO_ANSWER;
  const instance = instanceName(records.label);
  const host = hostName(records.label);
  const questions: Question[] = [];
  let service = false;
  let beyondPtr = false;
  let enumeration = false;

  for (const question of questionsOf(packet)) {
    const name = question.name.toLowerCase();
    const type = question.type;
    const any = type === 'ANY';
    if (name === SERVICE_TYPE && (type === 'PTR' || any)) {
      service = true;
      beyondPtr ||= any;
    } else if ((name === instance && (type === 'SRV' || type === 'TXT' || any)) || (name === host && (type === 'A' || any))) {
      service = true;
      beyondPtr = true;
    } else if (name === SERVICE_ENUMERATION && (type === 'PTR' || any)) {
      enumeration = true;
    } else {
      continue;
    }
    questions.push(question);
  }

  const ttl = options.legacy ? Math.min(records.ttl, LEGACY_TTL_CAP) : records.ttl;
  if (service && !beyondPtr && knowsOurPtr(packet, instance, ttl)) service = false;
  if (!service && !enumeration) return NO_ANSWER;
  return { service, enumeration, questions };
}

function knowsOurPtr(packet: Packet, instance: string, ttl: number): boolean {
  return recordsOf({ answers: packet.answers }).some(
    (known) =>
      known.type === 'PTR' &&
      known.name.toLowerCase() === SERVICE_TYPE &&
      typeof known.data === 'string' &&
      known.data.toLowerCase() === instance &&
      (known.ttl ?? 0) >= ttl / 2,
  );
}
