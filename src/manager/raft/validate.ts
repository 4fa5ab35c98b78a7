/**
 * Shape checks for messages arriving from the network. Messages are plain JSON from other machines, so nothing in
 * them is trusted: a message that does not have the shape its type needs is dropped (and counted) before the core
 * looks at it, which is what lets step() promise never to throw.
 */

import { isConfChange } from './confchange.ts';
import type { Entry, Message, MessageType } from './types.ts';

const TYPES = new Set<MessageType>([
  'pre-vote',
  'pre-vote-response',
  'vote',
  'vote-response',
  'append',
  'append-response',
  'heartbeat',
  'heartbeat-response',
  'snapshot',
  'timeout-now',
  'read-index',
  'read-index-response',
  'propose',
]);

/** Fields each type cannot do without. */
const REQUIRED: Partial<Record<MessageType, readonly (keyof Message)[]>> = {
  'pre-vote': ['index', 'logTerm'],
  vote: ['index', 'logTerm'],
  append: ['index', 'logTerm', 'commit', 'entries'],
  'append-response': ['index'],
  heartbeat: ['commit'],
  snapshot: ['snapshot'],
  'read-index': ['context'],
  'read-index-response': ['index', 'context'],
  propose: ['entries'],
};

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;
const isIdList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isId);

function entryProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'entry is not an object';
  const e = value as Record<string, unknown>;
  if (!isCount(e.term) || !isCount(e.index)) return 'entry term/index are not counts';
  if (e.type !== 'normal' && e.type !== 'conf-change') return 'entry type is unknown';
  if (!('data' in e)) return 'entry has no data';
  if (e.type === 'conf-change' && !isConfChange(e.data)) return 'conf-change entry has no valid ConfChange';
  return null;
}

/** Null when `value` is a well-formed message, else what is wrong with it. */
export function messageProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const m = value as Record<string, unknown>;
  if (!TYPES.has(m.type as MessageType)) return 'unknown type';
  if (!isId(m.from) || !isId(m.to)) return 'from/to are not member ids';
  if (!isCount(m.term)) return 'term is not a count';
  for (const key of ['index', 'logTerm', 'commit', 'rejectHint', 'rejectTerm'] as const) {
    if (m[key] !== undefined && !isCount(m[key])) return `${key} is not a count`;
  }
  if (m.reject !== undefined && typeof m.reject !== 'boolean') return 'reject is not a boolean';
  if (m.context !== undefined && typeof m.context !== 'string') return 'context is not a string';
  for (const key of REQUIRED[m.type as MessageType] ?? []) {
    if (m[key] === undefined) return `${m.type} without ${key}`;
  }
  if (m.entries !== undefined) {
    if (!Array.isArray(m.entries)) return 'entries is not an array';
    for (const entry of m.entries) {
      const problem = entryProblem(entry);
      if (problem) return problem;
    }
  }
  if (m.snapshot !== undefined) {
    const s = m.snapshot as { metadata?: { index?: unknown; term?: unknown; conf?: { voters?: unknown; learners?: unknown } } };
    const meta = typeof s === 'object' && s !== null ? s.metadata : undefined;
    if (!meta || !isCount(meta.index) || !isCount(meta.term)) return 'snapshot without index/term';
    if (!meta.conf || !isIdList(meta.conf.voters) || !isIdList(meta.conf.learners)) return 'snapshot without a configuration';
  }
  return null;
}

/** Entries of an append must follow prevIndex one by one, with terms that never decrease nor pass the leader's. */
export function appendRangeProblem(m: Message): string | null {
  const entries = m.entries as Entry[];
  let term = m.logTerm!;
  for (let i = 0; i < entries.length; i++) {
    if (entries[i].index !== m.index! + 1 + i) return 'entries are not contiguous';
    if (entries[i].term < term || entries[i].term > m.term) return 'entry terms out of order';
    term = entries[i].term;
  }
  return null;
}
