/**
 * The replicated orchestrator: keeps exactly `Replicas` live tasks, one per slot 1..N. It replaces tasks that
 * ended (per the restart policy), retires slots beyond N on scale-down, and hands slots whose task is out of date to
 * the updater (updater.ts), which replaces them as the update policy allows.
 */

import type { Service, Task } from '../../api/types.ts';
import { groupBy } from '../../util/group-by.ts';
import { isLive } from '../state/cluster-state.ts';
import type { Changes } from './changes.ts';
import type { PassContext } from './context.ts';
import { keepOne, refill, retire } from './slot.ts';
import { Rollout } from './updater.ts';

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
  const viewed = tasks.map((task) => changes.view(task));
  const slots = tasksBySlot(viewed);

  // Scale down: every live task above the desired count is retired.
  for (const [slot, list] of slots) {
    if (slot <= replicas) continue;
    for (const task of list) if (task.DesiredState === 'running') retire(changes, task, ctx);
  }

  const rollout = new Rollout(service, viewed, changes, ctx);
  for (let slot = 1; slot <= replicas; slot++) {
    rollout.slot();
    const list = slots.get(slot) ?? [];
    const live = list.filter(isLive);
    if (live.length === 0) {
      refill(service, list, changes, ctx, { slot });
      rollout.empty();
    } else {
      keepOne(service, live, rollout, changes, ctx, { slot });
    }
  }
  rollout.finish();
}
