/**
 * Turning "not linearizable" into something a human can act on. A failing seed of a Raft test produces a history
 * of thousands of operations; the report must point at the few that matter.
 *
 * The failure point is found by bisection over time. Cut the history at time t: keep the operations sent by t,
 * and treat those not answered by t as pending. Non-linearizability is monotone in t (a linearization of a later
 * cut, truncated before its first operation sent after t, is one of the earlier cut), so there is a first answer
 * after which the history has no explanation: the culprit. The report shows it, the operations concurrent with
 * it (the only ones that could have been ordered differently around it) and the longest linearization the search
 * found for that cut, ending where it got stuck.
 */

import type { Budget } from './budget.ts';
import { completeTime, formatOperation, isPending, type Entry, type Operation } from './history.ts';
import type { Model } from './model.ts';
import { searchLinearization, type DeadEnd } from './search.ts';

export interface ViolationReport {
  /** Ids (history indexes) of the operations whose answers first make the history unexplainable. */
  culprits: number[];
  /** Ids of the operations concurrent with the culprits. */
  concurrent: number[];
  /** Ids of the longest linearizable prefix found, in linearization order. */
  prefix: number[];
  /** The report printed for a human. */
  text: string;
}

/** How many operations of the linearizable prefix the report shows. */
const PREFIX_SHOWN = 12;
/** How many concurrent operations the report lists before summarising. */
const CONCURRENT_SHOWN = 20;

/**
 * Explains why `entries` (one key, already known not linearizable, with `deadEnd` from that search) fails. Uses
 * what is left of `budget` to minimise; if it runs out, reports the unminimised dead end and says so.
 */
export function explainViolation<S>(key: string, entries: readonly Entry[], deadEnd: DeadEnd<S>, model: Model<S>, budget: Budget): ViolationReport {
  const answers = [...new Set(entries.filter((e) => !isPending(e.op)).map((e) => completeTime(e.op)))].sort((a, b) => a - b);
  let failing = { cut: entries, deadEnd, time: answers[answers.length - 1] };
  let minimised = true;
  let lo = 0;
  let hi = answers.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const cut = cutAt(entries, answers[mid]);
    const outcome = searchLinearization(cut, model, budget);
    if (outcome.kind === 'exhausted') {
      minimised = false;
      break;
    }
    if (outcome.kind === 'linearizable') lo = mid + 1;
    else {
      hi = mid;
      failing = { cut, deadEnd: outcome.deadEnd, time: answers[mid] };
    }
  }
  if (minimised && failing.cut === entries && answers.length > 0) {
    // The bisection never tried the last answer: cut there too, so the dead end belongs to the minimal cut.
    const cut = cutAt(entries, answers[hi]);
    const outcome = searchLinearization(cut, model, budget);
    if (outcome.kind === 'not-linearizable') failing = { cut, deadEnd: outcome.deadEnd, time: answers[hi] };
  }

  const { cut, time } = failing;
  const byId = new Map(entries.map((e) => [e.id, e]));
  const blocked = cut[failing.deadEnd.blockedBy];
  // Unminimised, "first unexplainable answer" is unknown; the operation the deepest path got stuck on stands in.
  const culprits = minimised ? cut.filter((e) => !isPending(e.op) && e.op.complete === time) : [blocked];
  const overlapping = cut.filter((e) => !culprits.includes(e) && culprits.some((c) => completeTime(e.op) >= c.op.invoke));
  // A read without an answer (in the cut) constrains nothing: listing it would only hide the operations that matter.
  const concurrent = overlapping.filter((e) => !(e.op.op === 'read' && isPending(e.op)));
  const silentReads = overlapping.length - concurrent.length;
  const prefix = failing.deadEnd.prefix.map((i) => cut[i]);

  // Shown as recorded, so they can be found in the transcript; the cut's pending ones are marked.
  const show = (e: Entry) => {
    const original = byId.get(e.id) as Entry;
    const late = isPending(e.op) && !isPending(original.op) ? `  (answered after t=${time}: its result plays no part)` : '';
    return `    ${formatOperation(original)}${late}`;
  };
  const lines = [`key ${JSON.stringify(key)} is not linearizable: no order of its operations, consistent with real time, explains every answer.`];
  lines.push(
    minimised
      ? `  The first answer that cannot be explained, at t=${time}:`
      : `  Where the search got stuck (not minimised: ${budget.exhaustedBy} ran out while looking for the first unexplainable answer):`,
  );
  lines.push(...culprits.map(show));
  if (concurrent.length > 0) {
    lines.push(`  Operations concurrent with it (the only ones whose order around it was free):`);
    lines.push(...concurrent.slice(0, CONCURRENT_SHOWN).map(show));
    if (concurrent.length > CONCURRENT_SHOWN) lines.push(`    … and ${concurrent.length - CONCURRENT_SHOWN} more`);
  }
  if (silentReads > 0) lines.push(`  (${silentReads} concurrent read(s) without an answer by then left out: they constrain nothing)`);
  lines.push(`  Longest linearization found (${prefix.length} operations${prefix.length > PREFIX_SHOWN ? `, the last ${PREFIX_SHOWN} shown` : ''}; state after each):`);
  if (prefix.length > PREFIX_SHOWN) lines.push(`    … ${prefix.length - PREFIX_SHOWN} earlier operations`);
  let state = model.init();
  prefix.forEach((e, n) => {
    state = model.step(state, e.op).state;
    if (n >= prefix.length - PREFIX_SHOWN) lines.push(`${show(e)}  ⇒ ${model.describe(state)}`);
  });
  if (prefix.length === 0) lines.push(`    (none) initial state ${model.describe(state)}`);
  const stuck = model.step(failing.deadEnd.state, blocked.op).ok
    ? 'every way of placing it leads to a dead end further on'
    : `it cannot take effect in state ${model.describe(failing.deadEnd.state)}`;
  lines.push(`  Then ${formatOperation(byId.get(blocked.id) as Entry)} had returned, but ${stuck}; no other order of the concurrent operations gets further.`);

  return {
    culprits: culprits.map((e) => e.id),
    concurrent: concurrent.map((e) => e.id),
    prefix: prefix.map((e) => e.id),
    text: lines.join('\n'),
  };
}

/** The history as it stood at time t: operations sent by t, those not answered by t made pending. */
function cutAt(entries: readonly Entry[], t: number): Entry[] {
  return entries
    .filter((e) => e.op.invoke <= t)
    .map((e) => (completeTime(e.op) <= t ? e : { id: e.id, op: pendingCopy(e.op) }));
}

function pendingCopy(op: Operation): Operation {
  return { ...op, complete: undefined, result: undefined };
}
