/**
 * What clients saw: the history a linearizability check judges. Each operation is one client request against the
 * replicated key-value store, with the times the client sent it and got the answer. The checker never sees the
 * servers, only this, which is the point: the history is the contract the API promises its users.
 */

/**
 * The client that issued an operation. A client waits for each answer before its next request, so the operations
 * of one process never overlap; a client that gives up on a request (a timeout, a crash) must continue under a
 * new process id, because its abandoned request may still take effect at any later time.
 */
export type ProcessId = string | number;

/** A register's content. `null` is a key that was never written. */
export type Value = string | number | null;

interface OperationTiming {
  process: ProcessId;
  key: string;
  /** When the client sent the request. Any monotonic clock shared by all clients (simulator ticks, event counter). */
  invoke: number;
  /**
   * When the client got the answer; `undefined` or `Infinity` for a request that never got one (timeout, crashed
   * client, lost leader). Such an operation may have taken effect at any time after `invoke`, or never.
   * Operations that returned a definite error with no effect (e.g. "no leader", refused before proposing) should
   * be left out of the history rather than recorded as pending: pending is weaker and hides nothing but costs
   * search time.
   */
  complete?: number;
}

export interface ReadOperation extends OperationTiming {
  op: 'read';
  /** The value read. Ignored when pending. */
  result?: Value;
}

export interface WriteOperation extends OperationTiming {
  op: 'write';
  value: Value;
  result?: 'ok';
}

export interface CasOperation extends OperationTiming {
  op: 'cas';
  expected: Value;
  next: Value;
  /** `ok` if the register held `expected` and now holds `next`; `fail` if it held something else. */
  result?: 'ok' | 'fail';
}

export type Operation = ReadOperation | WriteOperation | CasOperation;

/** Operations in any order; the checker orders them by time. An operation's id is its index in this array. */
export type History = readonly Operation[];

/** An operation with its id (its index in the history), so reports can point back at the caller's records. */
export interface Entry {
  id: number;
  op: Operation;
}

/** Whether the client never got an answer, so the operation may or may not have taken effect. */
export function isPending(op: Operation): boolean {
  return op.complete === undefined || op.complete === Infinity;
}

/** The completion time, with pending operations completing after everything else. */
export function completeTime(op: Operation): number {
  return op.complete ?? Infinity;
}

/**
 * Real-time order: `a` must be linearized before `b` when it returned strictly before `b` was sent. Equal times
 * count as concurrent: a checker must never reject a linearizable history, so ambiguity goes to concurrency.
 */
export function precedes(a: Operation, b: Operation): boolean {
  return completeTime(a) < b.invoke;
}

/** One line a human can read: `#12 p3 cas 1→2 fail [40, 57]`. The key is left out: reports are per key. */
export function formatOperation(entry: Entry): string {
  const { id, op } = entry;
  const show = (v: Value) => JSON.stringify(v);
  const call = op.op === 'read' ? 'read' : op.op === 'write' ? `write ${show(op.value)}` : `cas ${show(op.expected)}→${show(op.next)}`;
  const result = isPending(op) ? 'pending' : op.op === 'read' ? `→ ${show(op.result ?? null)}` : op.result;
  const times = `[${op.invoke}, ${isPending(op) ? 'never returned' : op.complete}]`;
  return `#${id} p${op.process} ${call} ${result} ${times}`;
}

/** A history the checker cannot judge, because of a bug in whatever recorded it. */
export class HistoryError extends Error {
  readonly code = 'invalid_history';

  constructor(message: string) {
    super(message);
    this.name = 'HistoryError';
  }
}

/**
 * Rejects histories that no correct recorder produces, so a recording bug fails loudly instead of turning into
 * a false verdict: times out of order, a completed operation without a result, a process with two requests
 * outstanding at once or continuing after a request it abandoned.
 */
export function validateHistory(history: History): void {
  const byProcess = new Map<ProcessId, Entry[]>();
  history.forEach((op, id) => {
    const where = `operation #${id} (${JSON.stringify(op)})`;
    if (!Number.isFinite(op.invoke)) throw new HistoryError(`${where}: invoke must be a finite number`);
    if (op.complete !== undefined && !(op.complete >= op.invoke)) {
      throw new HistoryError(`${where}: complete must be at or after invoke, or undefined/Infinity for no answer`);
    }
    if (!isPending(op)) {
      const valid = op.op === 'read' ? op.result !== undefined : op.op === 'write' ? op.result === 'ok' : op.result === 'ok' || op.result === 'fail';
      if (!valid) throw new HistoryError(`${where}: a completed ${op.op} needs a result (read: the value; write: 'ok'; cas: 'ok' or 'fail')`);
    }
    const list = byProcess.get(op.process) ?? [];
    list.push({ id, op });
    byProcess.set(op.process, list);
  });
  for (const [process, entries] of byProcess) {
    entries.sort((a, b) => a.op.invoke - b.op.invoke || a.id - b.id);
    for (let i = 1; i < entries.length; i++) {
      const before = entries[i - 1];
      if (isPending(before.op)) {
        throw new HistoryError(`process ${process} sent #${entries[i].id} after #${before.id}, which never returned: give the client a new process id after it abandons a request`);
      }
      if (!(completeTime(before.op) <= entries[i].op.invoke)) {
        throw new HistoryError(`process ${process} has #${before.id} and #${entries[i].id} outstanding at once: one process id per sequential client`);
      }
    }
  }
}
