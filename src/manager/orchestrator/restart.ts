/**
 * The restart policy, as Swarm applies it: whether a slot whose task ended gets a replacement, and when.
 * Pure: the history and `now` are inputs.
 */

import type { RestartPolicy, Task } from '../../api/types.ts';

/** Swarm's defaults: restart on any exit, after 5 s, without limit. */
export const DEFAULT_RESTART_DELAY_NS = 5_000_000_000;

export type RestartDecision =
  | { restart: true; at: number }
  | { restart: false; reason: string };

const nsToMs = (ns: number) => Math.floor(ns / 1_000_000);

/**
 * @param ended the task that ended in this slot (its Status.Timestamp is when).
 * @param history the slot's earlier tasks that ended, used to count attempts within the window.
 */
export function decideRestart(policy: RestartPolicy | undefined, ended: Task, history: Task[], now: number): RestartDecision {
  const condition = policy?.Condition ?? 'any';
  const state = ended.Status.State;
  // A task stopped on purpose (scale down, update) is never restarted by the policy.
  if (ended.DesiredState !== 'running') return { restart: false, reason: 'task was stopped on purpose' };
  if (condition === 'none') return { restart: false, reason: 'restart condition is none' };
  if (condition === 'on-failure' && state === 'complete') {
    return { restart: false, reason: 'task completed and restart condition is on-failure' };
  }
  const maxAttempts = policy?.MaxAttempts ?? 0;
  if (maxAttempts > 0) {
    const windowMs = nsToMs(policy?.Window ?? 0);
    const counted = history.filter((task) => windowMs === 0 || now - Date.parse(task.Status.Timestamp) <= windowMs);
    // The first task is the original start, not a restart.
    if (counted.length > maxAttempts) {
      return { restart: false, reason: `restart limit of ${maxAttempts} reached` };
    }
  }
  const delayMs = nsToMs(policy?.Delay ?? DEFAULT_RESTART_DELAY_NS);
  return { restart: true, at: Date.parse(ended.Status.Timestamp) + delayMs };
}
