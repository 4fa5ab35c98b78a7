/**
 * The simulator's client history in the linearizability checker's format (test/support/linearizability/). The
 * two were written apart and name things differently; this is the one place that knows both. It also decides
 * what the checker should not see: a request refused for certain before it reached Raft ("no leader", a member
 * that is down) took no effect and is left out, since recording it as never answered would only cost search
 * time; a read that never got an answer says nothing and is left out too.
 */

import type { History as CheckerHistory, Operation } from '../../../support/linearizability/index.ts';
import type { History, HistoryOp } from './history.ts';

/** Converts a simulator history; ids in the checker's reports are indexes into the returned array. */
export function toCheckerHistory(history: History): CheckerHistory {
  const out: Operation[] = [];
  for (const h of history) {
    const op = toOperation(h);
    if (op) out.push(op);
  }
  return out;
}

function toOperation(h: HistoryOp): Operation | undefined {
  // A compare-and-set whose comparison failed is a definite answer; every other 'fail' was refused before Raft.
  const refused = h.result === 'fail' && !(h.op === 'cas' && h.error === 'mismatch');
  if (refused) return undefined;
  const pending = h.result === 'unknown';
  if (pending && h.op === 'read') return undefined;
  const timing = { process: h.process, key: h.key, invoke: h.invokeTime, ...(pending ? {} : { complete: h.completeTime! }) };
  switch (h.op) {
    case 'read':
      return { ...timing, op: 'read', result: h.value ?? null };
    case 'write':
      return { ...timing, op: 'write', value: h.value!, ...(pending ? {} : { result: 'ok' as const }) };
    case 'cas':
      return { ...timing, op: 'cas', expected: h.expected ?? null, next: h.new!, ...(pending ? {} : { result: h.result === 'ok' ? ('ok' as const) : ('fail' as const) }) };
  }
}
