/**
 * Histories with a known answer, for testing the checker itself: concurrent clients against one correct
 * key-value store, each operation taking effect at a single instant between its call and its return, so the
 * history is linearizable by construction (the order of those instants is a linearization). Faults injected on
 * request break that on purpose, the way a broken replication layer would; whether a given faulty history is
 * still linearizable (a stale read concurrent with the write it missed is fine) is for the checkers to decide.
 */

import type { Operation, Value } from './history.ts';
import type { Pick } from './pick.ts';

export type Fault =
  /** A read answers with a value the key held earlier, as a follower serving reads without read index would. */
  | 'stale-read'
  /** A write is acknowledged but never applied, as an entry acknowledged before commit and then truncated. */
  | 'lost-write'
  /** A compare-and-set is judged against an earlier value, as one applied on a stale replica. */
  | 'stale-cas';

export interface SimulationOptions {
  /** Operations to issue in all. */
  operations: number;
  /** Clients running at once. */
  processes: number;
  /** Keys, named k0, k1, … */
  keys: number;
  /** Values written are 0 … values-1: few values make ambiguous histories, the hard ones. */
  values: number;
  /** Percent of requests the client abandons (left pending; the request may still take effect later, or never). */
  abandonPercent?: number;
  faults?: readonly Fault[];
  /** Percent of eligible operations a fault is injected into. */
  faultPercent?: number;
}

export interface Simulation {
  history: Operation[];
  /** How many faults were injected: zero means linearizable by construction. */
  faults: number;
}

interface InFlight {
  op: Operation;
  applied: boolean;
}

export function simulateKv(pick: Pick, options: SimulationOptions): Simulation {
  const { operations, processes, keys, values, abandonPercent = 0, faults: faultKinds = [], faultPercent = 0 } = options;
  const chance = (percent: number) => pick(100) >= 100 - percent; // choice 0 never fires, see Pick
  const store = new Map<string, Value[]>(); // every value each key has held, current last
  const held = (key: string) => store.get(key) ?? [null];
  const history: Operation[] = [];
  const slots: Array<{ process: number; inFlight: InFlight | undefined }> = Array.from({ length: processes }, (_, p) => ({ process: p, inFlight: undefined }));
  const orphans: InFlight[] = []; // abandoned before taking effect: may still take effect, or never
  let nextProcess = processes;
  let issued = 0;
  let injected = 0;
  let time = 0;

  const earlier = (key: string): Value | undefined => {
    const past = held(key).slice(0, -1);
    return past.length > 0 ? past[pick(past.length)] : undefined;
  };

  const apply = (op: Operation) => {
    const past = held(op.key);
    const current = past[past.length - 1];
    const fault = faultKinds.length > 0 && chance(faultPercent) ? faultKinds[pick(faultKinds.length)] : undefined;
    if (op.op === 'read') {
      const stale = fault === 'stale-read' ? earlier(op.key) : undefined;
      if (stale !== undefined) injected++;
      op.result = stale !== undefined ? stale : current;
    } else if (op.op === 'write') {
      if (fault === 'lost-write') injected++;
      else store.set(op.key, [...past, op.value]);
      op.result = 'ok';
    } else {
      const stale = fault === 'stale-cas' ? earlier(op.key) : undefined;
      if (stale !== undefined) injected++;
      const swapped = (stale !== undefined ? stale : current) === op.expected;
      if (swapped) store.set(op.key, [...past, op.next]);
      op.result = swapped ? 'ok' : 'fail';
    }
  };

  const invoke = (process: number): Operation => {
    const base = { process, key: `k${pick(keys)}`, invoke: time };
    const kind = pick(3);
    const op: Operation =
      kind === 0 ? { ...base, op: 'read' } : kind === 1 ? { ...base, op: 'write', value: pick(values) } : { ...base, op: 'cas', expected: pick(values), next: pick(values) };
    history.push(op);
    issued++;
    return op;
  };

  for (;;) {
    const busy = slots.filter((s) => s.inFlight !== undefined || issued < operations);
    if (busy.length === 0 && orphans.length === 0) break;
    time++;
    const choice = pick(busy.length + orphans.length);
    if (choice >= busy.length) {
      const [orphan] = orphans.splice(choice - busy.length, 1);
      if (!chance(50)) apply(orphan.op);
      continue;
    }
    const slot = busy[choice];
    const current = slot.inFlight;
    if (current === undefined) slot.inFlight = { op: invoke(slot.process), applied: false };
    else if (chance(abandonPercent)) {
      // The client gives up; its request stays pending, and the client carries on under a new identity.
      delete current.op.result;
      if (!current.applied) orphans.push(current);
      slot.inFlight = undefined;
      slot.process = nextProcess++;
    } else if (!current.applied) {
      apply(current.op);
      current.applied = true;
    } else {
      current.op.complete = time;
      slot.inFlight = undefined;
    }
  }
  // An abandoned operation's result was never seen by anyone; an orphan applied later set one: clear it.
  for (const op of history) if (op.complete === undefined) delete op.result;
  return { history, faults: injected };
}
