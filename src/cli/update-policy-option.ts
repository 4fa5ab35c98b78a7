/**
 * The rolling-update policy flags of `service create` and `service update`: `--update-*` fill the spec's
 * UpdateConfig (how a change to the tasks is rolled out), `--rollback-*` its RollbackConfig (how a rollback is).
 *
 * Names, values and defaults are Docker's. Like the docker CLI, create sends a policy only when one of its flags is
 * given, and then a whole one: the fields not given take Docker's defaults (one task at a time, no delay, watch each
 * new task for 5s, pause at the first failure, stop the old task first), so what the service does is spelled out in
 * `service inspect`. Update changes only the fields named, starting from those defaults when the service has no
 * policy yet. Durations are sent in nanoseconds.
 *
 * Docker leaves most of the checking to the daemon; here every value is checked before anything is sent, and a
 * rollback's failure action cannot be `rollback` (there is nothing further back to go to), as Docker has it.
 */

import type { UpdateConfig } from '../api/types.ts';
import { invalidArgument } from '../errors.ts';
import { DEFAULT_UPDATE_CONFIG } from '../manager/orchestrator/updater.ts';
import { parseDuration } from '../util/duration.ts';
import { type OptionSpec, type ParsedArgs, stringOption } from './flags.ts';

/** The two policies: `--update-*` and `--rollback-*`. */
export type PolicyKind = 'update' | 'rollback';

/** Docker's (swarmkit's) defaults, the same for updates and rollbacks, in the order Docker writes the fields. */
export const DEFAULT_POLICY = DEFAULT_UPDATE_CONFIG;

const FAILURE_ACTIONS: Record<PolicyKind, readonly NonNullable<UpdateConfig['FailureAction']>[]> = {
  update: ['pause', 'continue', 'rollback'],
  rollback: ['pause', 'continue'],
};
const ORDERS: readonly NonNullable<UpdateConfig['Order']>[] = ['stop-first', 'start-first'];

function policyOptions(kind: PolicyKind): OptionSpec[] {
  const actions = FAILURE_ACTIONS[kind];
  const [done, verb] = kind === 'update' ? ['updated', 'update'] : ['rolled back', 'roll back'];
  return [
    { name: `${kind}-parallelism`, value: 'N', description: `Maximum number of tasks ${done} simultaneously (0 to ${verb} all at once) (default 1)` },
    { name: `${kind}-delay`, value: 'DUR', description: `Delay between task ${kind}s (ns|us|ms|s|m|h) (default 0s)` },
    { name: `${kind}-monitor`, value: 'DUR', description: `Duration after each task ${kind} to monitor for failure (ns|us|ms|s|m|h) (default 5s)` },
    { name: `${kind}-failure-action`, value: 'ACTION', description: `Action on ${kind} failure: ${orList(actions)} (default "pause")` },
    { name: `${kind}-max-failure-ratio`, value: 'RATIO', description: `Failure rate to tolerate during ${kind === 'update' ? 'an update' : 'a rollback'}, from 0 to 1 (default 0)` },
    { name: `${kind}-order`, value: 'ORDER', description: `${kind === 'update' ? 'Update' : 'Rollback'} order: stop-first or start-first (default "stop-first")` },
  ];
}

/** The twelve policy flags, `--update-*` then `--rollback-*`. */
export const UPDATE_POLICY_OPTIONS: OptionSpec[] = [...policyOptions('update'), ...policyOptions('rollback')];

/** The fields of one policy that its flags name, checked; `{}` when none is given. */
export function parsePolicyFlags(options: ParsedArgs['options'], kind: PolicyKind): UpdateConfig {
  const get = (field: string) => {
    const flag = `${kind}-${field}`;
    const text = stringOption(options, flag);
    return text === undefined ? undefined : { flag, text };
  };
  const policy: UpdateConfig = {};
  const parallelism = get('parallelism');
  if (parallelism) policy.Parallelism = parseWholeNumber(parallelism.text, parallelism.flag);
  const delay = get('delay');
  if (delay) policy.Delay = parseDurationFlag(delay.text, delay.flag);
  const action = get('failure-action');
  if (action) policy.FailureAction = parseChoice(action.text, action.flag, FAILURE_ACTIONS[kind]);
  const monitor = get('monitor');
  if (monitor) policy.Monitor = parseDurationFlag(monitor.text, monitor.flag);
  const ratio = get('max-failure-ratio');
  if (ratio) policy.MaxFailureRatio = parseFailureRatio(ratio.text, ratio.flag);
  const order = get('order');
  if (order) policy.Order = parseChoice(order.text, order.flag, ORDERS);
  return policy;
}

/** `service create`'s policy: none when no flag names one, else Docker's defaults with the fields given. */
export function createPolicy(options: ParsedArgs['options'], kind: PolicyKind): UpdateConfig | undefined {
  const given = parsePolicyFlags(options, kind);
  return Object.keys(given).length === 0 ? undefined : { ...DEFAULT_POLICY, ...given };
}

/**
 * `service update`'s policy: the service's own with the fields given changed (Docker's defaults stand in for a
 * policy the service does not have); the service's own, untouched, when no field is given.
 */
export function updatePolicy(current: UpdateConfig | undefined, given: UpdateConfig): UpdateConfig | undefined {
  if (Object.keys(given).length === 0) return current;
  return { ...(current ?? DEFAULT_POLICY), ...given };
}

/** A whole number ≥ 0 (what Docker's uint64 flags take). */
function parseWholeNumber(text: string, flag: string): number {
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
    throw invalidArgument(`invalid --${flag} "${text}": use a whole number of tasks, at least 0 (0 means all at once)`);
  }
  return value;
}

/** A Go duration, with the flag named in the error (four duration flags may share a command line). */
function parseDurationFlag(text: string, flag: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const prefix = `invalid duration "${text}": `;
    throw invalidArgument(`invalid --${flag} "${text}": ${message.startsWith(prefix) ? message.slice(prefix.length) : message}`, err);
  }
}

/** A fraction of the tasks from 0 to 1, written as Go's ParseFloat reads a plain decimal (`0.2`, `.5`, `1`, `2e-1`). */
export function parseFailureRatio(text: string, flag: string): number {
  const trimmed = text.trim();
  const value = /^(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!(value >= 0 && value <= 1)) {
    throw invalidArgument(`invalid --${flag} "${text}": use a number from 0 to 1, the share of tasks that may fail (e.g. 0.2 for one in five)`);
  }
  return value;
}

function parseChoice<T extends string>(text: string, flag: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) throw invalidArgument(`invalid --${flag} "${text}": use ${orList(choices)}`);
  return text as T;
}

/** `a, b or c`. */
function orList(items: readonly string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}
