/**
 * The replicated orchestrator: keeps exactly `Replicas` live tasks, one per slot 1..N. It replaces tasks that
 * ended (per the restart policy), retires slots beyond N on scale-down, and replaces tasks whose spec is out of
 * date, `Parallelism` slots at a time.
 */

import type { Service, Task } from '../../api/types.ts';
import { groupBy } from '../../util/group-by.ts';
import { newId } from '../../util/ids.ts';
import { isLive } from '../state/cluster-state.ts';
import type { Changes } from './changes.ts';
import type { PassContext } from './context.ts';
import { isoTime } from './context.ts';
import { refill, retire } from './slot.ts';
import { isOutdated, newTask } from './task-factory.ts';

/** Groups a service's tasks by slot, newest first within a slot. */
export function tasksBySlot(tasks: Task[]): Map<number, Task[]> {
  const slots = groupBy(
    tasks.filter((task) => task.Slot !== undefined),
    (task) => task.Slot!,
  );
  for (const list of slots.values()) list.sort((a, b) => (a.CreatedAt < b.CreatedAt ? 1 : a.CreatedAt > b.CreatedAt ? -1 : 0));
  return slots;
}

export function reconcileReplicated(service: Service, tasks: Task[], changes: Changes, ctx: PassContext): void {
  const replicas = service.Spec.Mode?.Replicated?.Replicas ?? 1;
  const slots = tasksBySlot(tasks.map((task) => changes.view(task)));
  const now = isoTime(ctx.now);

  // Scale down: every live task above the desired count is retired.
  for (const [slot, list] of slots) {
    if (slot <= replicas) continue;
    for (const task of list) if (task.DesiredState === 'running') retire(changes, task, ctx);
  }

  const stale: Task[] = [];
  let updating = 0;
  for (let slot = 1; slot <= replicas; slot++) {
    const list = slots.get(slot) ?? [];
    const live = list.filter(isLive);
    if (live.length > 0) {
      // A slot holds one live task; an extra one (never expected) is retired, keeping the newest.
      for (const extra of live.slice(1)) retire(changes, extra, ctx);
      const current = live[0]!;
      if (isOutdated(current, service)) stale.push(current);
      else if (current.Status.State !== 'running') updating++;
      continue;
    }
    refill(service, list, changes, ctx, { slot });
  }

  // Rolling replacement of out-of-date tasks: at most Parallelism slots in flight (0 means all at once).
  const parallelism = service.Spec.UpdateConfig?.Parallelism ?? 1;
  const budget = parallelism === 0 ? stale.length : Math.max(0, parallelism - updating);
  for (const task of stale.slice(0, budget)) {
    retire(changes, task, ctx);
    changes.add(newTask(service, newId(ctx.random), now, { slot: task.Slot! }));
  }
}
