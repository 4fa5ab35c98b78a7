/**
 * One seed, judged twice: the simulator's own invariants (checked after every event) and the linearizability of
 * what its clients saw (test/support/linearizability/). The CI test, the soak and a replay all go through here,
 * so a seed means the same thing wherever it failed, and its failure report ends with the command that replays it.
 */

import type { RaftFaults } from '../../../../src/manager/raft/config.ts';
import { checkLinearizability, type CheckResult, type History } from '../../../support/linearizability/index.ts';
import { toCheckerHistory } from './checker-history.ts';
import type { SimProfile } from './profiles.ts';
import { simulate, type SimResult } from './simulation.ts';

export interface SeedRun {
  seed: number;
  profile: SimProfile;
  faults?: RaftFaults;
  /** See SimOptions.checkReads. */
  checkReads?: boolean;
  transcriptLines?: number;
}

export interface SeedVerdict {
  ok: boolean;
  /** What failed: an invariant of the run, or the client history (a definite violation, or a check that could not decide). */
  failure?: 'invariant' | 'not-linearizable' | 'unknown';
  sim: SimResult;
  /** Absent when the run broke an invariant: its history stops at the violation and is not judged. */
  check?: CheckResult;
  /** What the checker judged (refused requests and unanswered reads left out); its report's ids index this. */
  history: History;
  checkedOps: number;
}

/**
 * The checker's budget per seed. A linearizable history of one run costs a few thousand steps (tens of thousands
 * with many crashed requests); a violation costs more, since the search must exhaust every order before the
 * culprit. Past the budget the verdict is "unknown", which the callers count as a failure: it has shown nothing.
 */
const CHECK_BUDGET = { maxSteps: 5_000_000, timeoutMs: 20_000 };

export function checkSeed(run: SeedRun): SeedVerdict {
  const sim = simulate({
    seed: run.seed,
    profile: run.profile,
    ...(run.faults ? { faults: run.faults } : {}),
    ...(run.checkReads === undefined ? {} : { checkReads: run.checkReads }),
    ...(run.transcriptLines === undefined ? {} : { transcriptLines: run.transcriptLines }),
  });
  if (!sim.ok) return { ok: false, failure: 'invariant', sim, history: [], checkedOps: 0 };
  const history = toCheckerHistory(sim.history);
  const check = checkLinearizability(history, CHECK_BUDGET);
  if (check.ok) return { ok: true, sim, check, history, checkedOps: history.length };
  return { ok: false, failure: check.verdict, sim, check, history, checkedOps: history.length };
}

/** The environment that replays a run: `<this> node --test test/manager/raft/linearizability.test.ts`. */
export function replayEnv(run: Pick<SeedRun, 'seed' | 'profile' | 'faults' | 'checkReads'>): string {
  const faults = Object.entries(run.faults ?? {})
    .filter(([, on]) => on)
    .map(([name]) => name);
  return [
    `SIM_PROFILE=${run.profile.name}`,
    `SIM_SEED=${run.seed}`,
    ...(faults.length > 0 ? [`SIM_FAULTS=${faults.join(',')}`] : []),
    ...(run.checkReads === false ? ['SIM_CHECK_READS=0'] : []),
  ].join(' ');
}

export function replayCommand(run: Pick<SeedRun, 'seed' | 'profile' | 'faults' | 'checkReads'>): string {
  return `${replayEnv(run)} node --test test/manager/raft/linearizability.test.ts`;
}

/** A failure report: how to replay it, what broke, and the events leading up to it. */
export function formatSeedFailure(run: SeedRun, v: SeedVerdict): string {
  const what =
    v.failure === 'invariant'
      ? `invariant violated: ${v.sim.violation}`
      : v.check && !v.check.ok
        ? `client history ${v.check.verdict} (${v.checkedOps} operations checked; a write's value v<n> is operation op<n> in the transcript):\n${v.check.explanation}`
        : 'ok';
  return [
    `raft seed failed: profile ${run.profile.name}, seed ${run.seed}${run.faults && Object.keys(run.faults).length > 0 ? `, faults ${JSON.stringify(run.faults)}` : ''}`,
    `replay: ${replayCommand(run)}`,
    what,
    `stats: ${JSON.stringify(v.sim.stats)}`,
    ...transcript(v),
  ].join('\n');
}

/**
 * The events that matter: for an invariant, the last ones before it broke; for a history, those around the
 * operations the checker blames (from a little before the first was sent until the last was answered), since
 * the run went on long after them.
 */
function transcript(v: SeedVerdict): string[] {
  const culprits = v.check?.verdict === 'not-linearizable' ? v.check.culprits.map((id) => v.history[id]) : [];
  if (culprits.length === 0) return ['transcript (last events):', ...v.sim.transcript];
  const from = Math.min(...culprits.map((op) => op.invoke)) - 200;
  const to = Math.max(...culprits.map((op) => op.complete ?? op.invoke)) + 50;
  const lines = v.sim.transcript.filter((line) => {
    const at = Number.parseFloat(line);
    return at >= from && at <= to;
  });
  if (lines.length === 0) return ['transcript: the events around the culprits were not kept; replay the seed for them, or read the last ones:', ...v.sim.transcript];
  return [`transcript (${from.toFixed(1)}–${to.toFixed(1)} ms, around the culprits):`, ...lines];
}
