/**
 * Rolling updates and rollbacks: replacing a service's out-of-date tasks a few slots at a time, watching the new
 * ones, and acting when too many fail — Swarm's UpdateConfig and RollbackConfig, with Swarm's defaults.
 *
 * Everything here is decided afresh on each pass from the replicated state: the service's UpdateStatus (when the
 * update started, whether it is paused or rolling back) and its tasks (which are out of date, which new ones are
 * ready and since when — `Task.ReadyAt`, set by the state machine in the managers' clock). Nothing lives in the
 * leader's memory, so a new leader carries on an update exactly where the old one stopped, without starting over.
 *
 * - A slot (a replicated service's position, a global service's node) is updated by giving it a task made from the
 *   current spec. stop-first retires the old task at once (it is drained before its container stops); start-first
 *   starts the new one beside it and retires the old one only once the new one is ready.
 * - At most `Parallelism` slots are in flight (0: all at once). A slot stays in flight until its new task is ready
 *   (running, and healthy when it has a healthcheck), and then for `Delay` more.
 * - A new task of this update that ends on its own before it has been ready for `Monitor` is a failure. When the
 *   failures exceed `MaxFailureRatio` of the service's slots, `FailureAction` applies: pause (a new `service update`
 *   resumes), continue, or rollback (the previous spec goes back under RollbackConfig; a failing rollback pauses).
 *   A rollback, automatic or asked for, runs by the policies of the spec it undoes (`rollbackSpec`).
 * - The update is completed once no slot is out of date or in flight and every new task has been ready for Monitor.
 * - An out-of-date task that is not running (pending, or still starting) serves nothing: it is replaced at once,
 *   outside the parallelism budget.
 */

import type { Service, ServiceSpec, Task, UpdateConfig, UpdateState, UpdateStatus } from '../../api/types.ts';
import { newId } from '../../util/ids.ts';
import { isLive } from '../state/cluster-state.ts';
import type { Changes } from './changes.ts';
import type { PassContext } from './context.ts';
import { isoTime } from './context.ts';
import { ENDED_ON_ITS_OWN, retire } from './slot.ts';
import { isOutdated, newTask } from './task-factory.ts';

/** Swarm's defaults, for UpdateConfig and RollbackConfig alike. */
export const DEFAULT_UPDATE_CONFIG: Readonly<Required<UpdateConfig>> = {
  Parallelism: 1,
  Delay: 0,
  FailureAction: 'pause',
  Monitor: 5_000_000_000,
  MaxFailureRatio: 0,
  Order: 'stop-first',
};

const ACTIVE = new Set<UpdateState | undefined>(['updating', 'rollback_started']);
const PAUSED = new Set<UpdateState | undefined>(['paused', 'rollback_paused']);

export const isRollingBack = (status: UpdateStatus | undefined) => status?.State.startsWith('rollback') ?? false;

/** The policy in force: RollbackConfig while a rollback runs, UpdateConfig otherwise, each with Swarm's defaults. */
export function updatePolicy(service: Service): Required<UpdateConfig> {
  const config = isRollingBack(service.UpdateStatus) ? service.Spec.RollbackConfig : service.Spec.UpdateConfig;
  return { ...DEFAULT_UPDATE_CONFIG, ...config };
}

/**
 * The spec a rollback puts back: the previous one, under the update and rollback policies of the spec it replaces —
 * a rollback runs by the RollbackConfig of the update being undone, the one the user set with it.
 */
export function rollbackSpec(service: Service): ServiceSpec | undefined {
  if (!service.PreviousSpec) return undefined;
  const { UpdateConfig: update, RollbackConfig: rollback } = service.Spec;
  return { ...service.PreviousSpec, ...(update ? { UpdateConfig: update } : {}), ...(rollback ? { RollbackConfig: rollback } : {}) };
}

/** A task that reached running (healthy, with a healthcheck) and is running still. */
export const isReady = (task: Task) => task.Status.State === 'running';

const ms = (iso: string) => Date.parse(iso);
/** When a running task became ready; a task stored before ReadyAt was recorded has its status's time instead. */
const readyAt = (task: Task) => ms(task.ReadyAt ?? task.Status.Timestamp);
const shortId = (id: string) => id.slice(0, 12);

/** Where the task being replaced goes: its slot, or its node for a global service. */
export interface Placement {
  slot?: number;
  nodeId?: string;
}

/**
 * One service's update within a pass. The orchestrator walks the slots and tells it about each (`outdated` for a slot
 * whose live task is out of date, `inFlight` for one whose new task is not ready yet); `finish` then decides.
 */
export class Rollout {
  readonly #service: Service;
  readonly #tasks: readonly Task[];
  readonly #changes: Changes;
  readonly #ctx: PassContext;
  readonly #policy: Required<UpdateConfig>;
  readonly #outdated: Array<{ task: Task; placement: Placement }> = [];
  #slots = 0;
  #inFlight = 0;

  /** `tasks` are the service's tasks as this pass sees them. */
  constructor(service: Service, tasks: readonly Task[], changes: Changes, ctx: PassContext) {
    this.#service = service;
    this.#tasks = tasks;
    this.#changes = changes;
    this.#ctx = ctx;
    this.#policy = updatePolicy(service);
  }

  /** Counts a slot the service should have: the failure ratio's denominator. */
  slot(): void {
    this.#slots++;
  }

  /** A slot with no live task (refilled by the restart policy, now or later): the update is not done while it lasts. */
  empty(): void {
    this.#inFlight++;
  }

  outdated(task: Task, placement: Placement): void {
    this.#outdated.push({ task, placement });
  }

  /**
   * A slot holding a current task and maybe its out-of-date predecessor (start-first). The predecessor is retired
   * once the new task is ready; until then the slot is in flight.
   */
  current(task: Task, predecessors: readonly Task[]): void {
    if (!isReady(task)) {
      this.#inFlight++;
      return;
    }
    for (const old of predecessors) retire(this.#changes, old, this.#ctx);
  }

  finish(): void {
    const service = this.#service;
    let status = service.UpdateStatus;
    if (this.#outdated.length > 0 && !ACTIVE.has(status?.State) && !PAUSED.has(status?.State)) {
      status = { State: 'updating', StartedAt: isoTime(this.#ctx.now), Message: 'update in progress' };
      this.#changes.setUpdateStatus(service, status);
    }
    if (!status || !ACTIVE.has(status.State)) return;

    const started = ms(status.StartedAt ?? service.UpdatedAt);
    const ours = this.#tasks.filter((task) => ms(task.CreatedAt) >= started && !isOutdated(task, service));
    const failure = this.#failure(ours);
    if (failure && this.#actOn(failure, status)) return;

    const now = this.#ctx.now;
    const delay = this.#policy.Delay / 1e6;
    const busy = ours.filter((task) => isLive(task) && (!isReady(task) || now < readyAt(task) + delay)).length;
    let free = this.#policy.Parallelism === 0 ? Number.POSITIVE_INFINITY : Math.max(0, this.#policy.Parallelism - busy);
    for (const { task, placement } of this.#outdated) {
      const serving = task.Status.State === 'running';
      if (serving && free <= 0) continue;
      if (serving) free--;
      if (!serving || this.#policy.Order === 'stop-first') retire(this.#changes, task, this.#ctx);
      this.#changes.add(newTask(service, newId(this.#ctx.random), isoTime(now), placement));
      this.#inFlight++;
    }

    const monitor = this.#policy.Monitor / 1e6;
    const settled = ours.filter(isLive).every((task) => isReady(task) && now >= readyAt(task) + monitor);
    if (this.#outdated.length === 0 && this.#inFlight === 0 && settled) {
      const rollback = isRollingBack(status);
      this.#changes.setUpdateStatus(service, {
        State: rollback ? 'rollback_completed' : 'completed',
        StartedAt: status.StartedAt,
        CompletedAt: isoTime(now),
        Message: rollback ? 'rollback completed' : 'update completed',
      });
    }
  }

  /**
   * The latest of this update's tasks to fail, when failures are over the ratio: a task that ended on its own before
   * it had been ready for the monitor period.
   */
  #failure(ours: readonly Task[]): Task | undefined {
    const monitor = this.#policy.Monitor / 1e6;
    const failed = ours.filter(
      (task) => ENDED_ON_ITS_OWN.has(task.Status.State) && (task.ReadyAt === undefined || ms(task.UpdatedAt) - ms(task.ReadyAt) < monitor),
    );
    if (failed.length === 0 || failed.length / Math.max(1, this.#slots) <= this.#policy.MaxFailureRatio) return undefined;
    return failed.reduce((latest, task) => (task.UpdatedAt > latest.UpdatedAt ? task : latest));
  }

  /** Applies the failure action; true when the update stops here (paused, or rolled back). */
  #actOn(task: Task, status: UpdateStatus): boolean {
    const service = this.#service;
    const action = this.#policy.FailureAction;
    if (action === 'continue') return false;
    const rollback = isRollingBack(status);
    const what = `task ${shortId(task.ID)} failed while being ${rollback ? 'rolled back' : 'updated'}: ${task.Status.Err || task.Status.Message}`;
    const previous = rollbackSpec(service);
    if (action === 'rollback' && !rollback && previous) {
      this.#changes.rollBack(service, previous, `update rolled back: ${what}`);
      return true;
    }
    this.#changes.setUpdateStatus(service, {
      State: rollback ? 'rollback_paused' : 'paused',
      StartedAt: status.StartedAt,
      Message: `${rollback ? 'rollback' : 'update'} paused: ${what}`,
    });
    return true;
  }
}
