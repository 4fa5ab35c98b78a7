/**
 * Waiting for a service to converge after `service create`, `update`, `rollback` or `scale`, as the docker CLI does
 * unless `--detach`: the command returns when the tasks run the spec just sent, so a script's next line can rely on
 * them — and fails when the daemon's rolling update does (paused, or rolled back when an update was asked for).
 *
 * What converged means:
 * - Every slot up to the replica count (every node, for a global service) has a running task made from the
 *   service's current spec (`isOutdated`, the daemon's own test). An old task still running in a slot the update has
 *   not reached yet does not count, so the wait cannot end in the instant between the request and the update's start.
 * - When the service has an UpdateStatus, it says the rollout is over: `completed`, or `rollback_completed` when the
 *   user asked for the rollback. The daemon clears UpdateStatus on every update request (as Swarm does), so any
 *   status seen after the request belongs to it. create and scale change no task, so no status appears and the
 *   tasks alone decide.
 * - `paused`, `rollback_paused`, and `rollback_completed` for an update end the wait with the daemon's message and
 *   what to do next.
 *
 * There is no verification period after convergence (docker waits UpdateConfig.Monitor, 5s by default): for an
 * update the daemon's `completed` already comes after its monitor period, and a create needs no such wait.
 * Drawing is in views/progress.ts: bars redrawn in place on a terminal, changed lines only in a log. Each new task
 * error is printed once, whole, so an image the engine lacks shows up at once instead of after the timeout. The wait
 * is bounded: a service that cannot converge ends the command with the reason and a pointer to `service ps`.
 */

import { setTimeout as delay } from 'node:timers/promises';
import type { Service, Task, UpdateStatus } from '../api/types.ts';
import { SwarmletError } from '../errors.ts';
import { isOutdated } from '../manager/orchestrator/task-factory.ts';
import { formatDuration } from '../util/duration.ts';
import { groupBy } from '../util/group-by.ts';
import type { ApiClient } from './api-client.ts';
import { shortId } from './format.ts';
import { MAX_BARS, ProgressWriter, type SlotView } from './views/progress.ts';

export interface ConvergeOptions {
  /** How the user named the service, for messages. */
  ref: string;
  out(text: string): void;
  timeoutMs?: number;
  pollMs?: number;
  /** Redraw bars in place (a terminal) rather than print changed lines (a log). Default: whether stdout is a TTY. */
  tty?: boolean;
  /** The terminal's width, to keep each bar on one line. Default: stdout's. */
  columns?: number;
  /** The user asked for a rollback (`service rollback`, `service update --rollback`): rolling back is the success. */
  rollback?: boolean;
  /** The clock and the pause between polls, for tests. */
  now?(): number;
  sleep?(ms: number): Promise<void>;
}

export interface Progress {
  global: boolean;
  /** Slots (nodes, for a global service) whose current task runs. */
  running: number;
  desired: number;
  /** Every slot has a running task made from the current spec. */
  converged: boolean;
  /** One per slot, in order (1..Replicas), or per node, by node ID. */
  slots: SlotView[];
}

const millis = (iso: string) => Date.parse(iso) || 0;

/**
 * The task a slot shows: its newest current task meant to run; failing that, its newest current task with an error
 * (one that failed and was retired before its replacement came). Old tasks are for `service ps`.
 */
function shownTask(tasks: readonly Task[]): Task | undefined {
  const newest = (list: readonly Task[]) => list.reduce<Task | undefined>((a, b) => (!a || millis(b.CreatedAt) > millis(a.CreatedAt) ? b : a), undefined);
  return newest(tasks.filter((task) => task.DesiredState === 'running')) ?? newest(tasks.filter((task) => task.Status.Err));
}

function slotView(label: string, task: Task | undefined): SlotView {
  if (!task) return { label };
  return { label, state: task.Status.State, ...(task.Status.Err ? { error: task.Status.Err } : {}) };
}

const runs = (task: Task | undefined) => task?.DesiredState === 'running' && task.Status.State === 'running';

/**
 * Where a service's tasks stand. Only tasks made from the service's current spec fill a slot: a replicated service
 * has the slots 1..Replicas; a global one has the nodes where one of its tasks is meant to run (the orchestrator
 * makes them all at once, and an update replaces a node's task in the same step as it retires the old one).
 */
export function measureProgress(service: Service, tasks: readonly Task[]): Progress {
  const own = tasks.filter((task) => task.ServiceID === service.ID);
  const current = own.filter((task) => !isOutdated(task, service));
  if (service.Spec.Mode?.Global) {
    const nodes = [...new Set(own.filter((task) => task.DesiredState === 'running' && task.NodeID).map((task) => task.NodeID!))].sort();
    const byNode = groupBy(current, (task) => task.NodeID);
    const shown = nodes.map((node) => shownTask(byNode.get(node) ?? []));
    const running = shown.filter(runs).length;
    return {
      global: true,
      running,
      desired: nodes.length,
      converged: nodes.length > 0 && running === nodes.length,
      slots: nodes.map((node, i) => slotView(shortId(node), shown[i])),
    };
  }
  const replicas = service.Spec.Mode?.Replicated?.Replicas ?? 1;
  const bySlot = groupBy(current, (task) => task.Slot);
  const shown = Array.from({ length: replicas }, (_, i) => shownTask(bySlot.get(i + 1) ?? []));
  const running = shown.filter(runs).length;
  return {
    global: false,
    running,
    desired: replicas,
    converged: running === replicas,
    slots: shown.map((task, i) => slotView(`${i + 1}/${replicas}`, task)),
  };
}

/** Docker's summary line; `rolling back update:` while a rollback runs. */
export function overallLine(progress: Progress, rollingBack: boolean): string {
  if (progress.global && progress.desired === 0) return 'overall progress: waiting for new tasks';
  return `overall progress: ${rollingBack ? 'rolling back update: ' : ''}${progress.running} out of ${progress.desired} tasks`;
}

const isRollback = (status: UpdateStatus | undefined) => status?.State.startsWith('rollback') ?? false;

/**
 * What the service's UpdateStatus says about the wait: `settled` when no rollout is under way (none at all, or it is
 * over), so the tasks decide; an error when the rollout ended without doing what was asked. `rollbackReason` is the
 * message the rollback started with (why the update failed), which says more than the one it completed with.
 */
export function judgeUpdate(
  status: UpdateStatus | undefined,
  ref: string,
  rollbackAsked: boolean,
  rollbackReason = '',
): { settled: boolean; error?: SwarmletError } {
  const why = status?.Message ? `: ${status.Message}` : '';
  const ps = `see \`swarmlet service ps ${ref}\``;
  switch (status?.State) {
    case undefined:
    case 'completed':
      return { settled: true };
    case 'updating':
    case 'rollback_started':
      return { settled: false };
    case 'rollback_completed':
      if (rollbackAsked) return { settled: true };
      return {
        settled: true,
        error: new SwarmletError(
          'conflict',
          `service rolled back${rollbackReason ? `: ${rollbackReason}` : why}; it runs its previous spec again: ${ps} for the tasks that failed`,
        ),
      };
    case 'paused':
      return {
        settled: true,
        error: new SwarmletError(
          'conflict',
          `service update paused${why}; ${ps}, then resume with \`swarmlet service update ${ref}\` (with the fix) ` +
            `or go back with \`swarmlet service update --rollback ${ref}\``,
        ),
      };
    case 'rollback_paused':
      return {
        settled: true,
        error: new SwarmletError(
          'conflict',
          `service rollback paused${why}; ${ps}, then run \`swarmlet service update ${ref}\` to carry on with the spec it has now`,
        ),
      };
  }
}

/** Polls the service and its tasks until they converge (see the module comment); throws when they do not. */
export async function waitForConvergence(api: ApiClient, serviceId: string, options: ConvergeOptions): Promise<void> {
  const { ref, out, timeoutMs = 120_000, pollMs = 250, rollback: rollbackAsked = false } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  const tty = options.tty ?? process.stdout.isTTY === true;
  const writer = new ProgressWriter(out, { tty, ...(tty ? { columns: options.columns ?? process.stdout.columns } : {}) });
  const deadline = now() + timeoutMs;
  const filters = JSON.stringify({ service: [serviceId] });
  const errors = new TaskErrors();
  let rollbackReason = '';
  let announced = '';
  for (;;) {
    const service = await api.get<Service>(`/services/${encodeURIComponent(serviceId)}`);
    const tasks = await api.get<Task[]>('/tasks', { filters });
    const status = service.UpdateStatus;
    for (const line of errors.fresh(service, tasks)) writer.note(line);
    if (status?.State === 'rollback_started' && status.Message && announced !== `${status.StartedAt}:${status.Message}`) {
      announced = `${status.StartedAt}:${status.Message}`;
      rollbackReason = status.Message;
      writer.note(`rollback: ${status.Message}`);
    }
    const progress = measureProgress(service, tasks);
    const rollingBack = rollbackAsked || isRollback(status);
    writer.show({ overall: overallLine(progress, rollingBack), slots: progress.slots.length <= MAX_BARS ? progress.slots : [] });

    const update = judgeUpdate(status, ref, rollbackAsked, rollbackReason);
    if (update.error) {
      writer.finish();
      throw update.error;
    }
    if (update.settled && progress.converged) {
      writer.finish();
      out(`verify: Service ${ref} converged\n`);
      return;
    }
    if (now() >= deadline) {
      writer.finish();
      const goesOn = update.settled ? 'the service stays as it is' : `the ${rollingBack ? 'rollback' : 'update'} goes on without the CLI watching`;
      throw new SwarmletError(
        'unavailable',
        `service ${ref} did not converge within ${formatDuration(timeoutMs * 1e6)} (${progress.running} of ${progress.desired} tasks running` +
          `${errors.last ? `; last error: ${errors.last}` : ''}): see \`swarmlet service ps ${ref}\`; ${goesOn}`,
      );
    }
    await sleep(pollMs);
  }
}

/**
 * Each task error once, as `back.2: rejected: No such image: ...`. Tasks that had already ended when the wait began
 * (the service's history, still listed) are not news; anything else that fails while we watch is, even a task the
 * orchestrator retired between two polls.
 */
class TaskErrors {
  readonly #reported = new Set<string>();
  #history: Set<string> | undefined;
  last = '';

  fresh(service: Service, tasks: readonly Task[]): string[] {
    this.#history ??= new Set(tasks.filter((task) => task.DesiredState !== 'running').map((task) => task.ID));
    const lines: string[] = [];
    for (const task of tasks) {
      const err = task.Status.Err;
      const key = `${task.ID}:${err}`;
      if (!err || this.#history.has(task.ID) || this.#reported.has(key)) continue;
      // A task stopped on purpose (scaled down, replaced) did not fail, whatever its engine said on the way out.
      if (task.DesiredState !== 'running' && task.Status.State === 'shutdown') continue;
      this.#reported.add(key);
      this.last = err;
      lines.push(`${service.Spec.Name}.${task.Slot ?? task.NodeID ?? ''}: ${task.Status.State}: ${err}`);
    }
    return lines;
  }
}
