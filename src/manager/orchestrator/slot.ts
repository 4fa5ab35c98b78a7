/**
 * What happens to one slot (a replicated service's position, or a global service's node): retiring its task, and
 * refilling it when its task ended — once the restart policy allows.
 */

import type { Service, Task } from '../../api/types.ts';
import { newId } from '../../util/ids.ts';
import { isDelivered, isTerminal } from '../state/cluster-state.ts';
import type { Changes } from './changes.ts';
import type { PassContext } from './context.ts';
import { isoTime } from './context.ts';
import { decideRestart } from './restart.ts';
import { isOutdated, newTask } from './task-factory.ts';
import type { Placement, Rollout } from './updater.ts';

/** Ends that count against a restart policy's MaxAttempts; a task stopped on purpose does not. */
export const ENDED_ON_ITS_OWN = new Set(['complete', 'failed', 'rejected']);

/** Asks a task to stop: the agent stops its container; a task not yet on a node simply ends. */
export function retire(changes: Changes, task: Task, ctx: PassContext, desired: 'shutdown' | 'remove' = 'shutdown'): void {
  const copy = changes.edit(task);
  copy.DesiredState = desired;
  if (!isDelivered(copy) && !isTerminal(copy.Status.State)) {
    copy.Status = { Timestamp: isoTime(ctx.now), State: 'shutdown', Message: 'shutdown before scheduling' };
  }
}

/**
 * Gives a slot with no live task a new one. `history` is the slot's tasks, newest first. When one of them ended
 * while wanted running, the service's restart policy decides whether and when it is replaced, counting only the
 * attempts made with the current spec — so updating a service gives an exhausted slot a fresh start, as Swarm does.
 */
export function refill(service: Service, history: Task[], changes: Changes, ctx: PassContext, placement: { slot?: number; nodeId?: string }): void {
  const spec = service.Spec.TaskTemplate;
  const ended = history.find((task) => task.DesiredState === 'running');
  if (ended) {
    if (!isOutdated(ended, service)) {
      const attempts = history.filter((task) => ENDED_ON_ITS_OWN.has(task.Status.State) && !isOutdated(task, service));
      const decision = decideRestart(spec.RestartPolicy, ended, attempts, ctx.now);
      if (!decision.restart || decision.at > ctx.now) return;
    }
    retire(changes, ended, ctx);
  }
  changes.add(newTask(service, newId(ctx.random), isoTime(ctx.now), placement));
}

/**
 * A slot (or a global service's node) with live tasks, newest first: it keeps its newest current task, and an
 * out-of-date one only until that is ready (start-first); without a current task, its newest one is for the updater
 * to replace. Any other live task (never expected) is retired.
 */
export function keepOne(service: Service, live: Task[], rollout: Rollout, changes: Changes, ctx: PassContext, placement: Placement): void {
  const current = live.find((task) => !isOutdated(task, service));
  const kept = current ?? live[0]!;
  const outdated = live.filter((task) => task !== kept && isOutdated(task, service));
  for (const extra of live) if (extra !== kept && !outdated.includes(extra)) retire(changes, extra, ctx);
  if (current) {
    rollout.current(current, outdated);
    return;
  }
  for (const extra of outdated) retire(changes, extra, ctx);
  rollout.outdated(kept, placement);
}
