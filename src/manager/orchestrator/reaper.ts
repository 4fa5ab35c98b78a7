/**
 * The task reaper: keeps the stored history bounded (Swarm's TaskHistoryRetentionLimit per slot, default 5) and
 * forgets the tasks of removed services once their containers are gone.
 */

import type { Service, Task } from '../../api/types.ts';
import { isTerminal } from '../state/cluster-state.ts';
import { groupBy } from '../../util/group-by.ts';
import type { Changes } from './changes.ts';
import type { PassContext } from './context.ts';
import { retire } from './slot.ts';

export const DEFAULT_TASK_HISTORY = 5;

/** Tasks whose service was removed: stop them, then forget them once they have ended. */
export function reapOrphans(tasks: Task[], changes: Changes, ctx: PassContext): void {
  for (const original of tasks) {
    const task = changes.view(original);
    if (task.DesiredState !== 'remove') retire(changes, task, ctx, 'remove');
    else if (isTerminal(task.Status.State)) changes.remove(task.ID);
  }
}

/** Keeps at most `limit` tasks per slot (or per node, for global services), newest first. */
export function reapHistory(service: Service, tasks: Task[], limit: number, changes: Changes): void {
  // The restart policy counts attempts over the slot's history: never forget what it still needs.
  const keep = Math.max(limit, (service.Spec.TaskTemplate.RestartPolicy?.MaxAttempts ?? 0) + 1);
  const groups = groupBy(
    tasks.map((task) => changes.view(task)),
    (task) => (task.Slot !== undefined ? `slot:${task.Slot}` : `node:${task.NodeID ?? ''}`),
  );
  for (const list of groups.values()) {
    if (list.length <= keep) continue;
    list.sort((a, b) => (a.CreatedAt < b.CreatedAt ? 1 : -1));
    for (const task of list.slice(keep)) {
      if (isTerminal(task.Status.State) && task.DesiredState !== 'running') changes.remove(task.ID);
    }
  }
}
