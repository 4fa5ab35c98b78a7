/**
 * The decisions of one reconciliation pass, collected before anything is committed: changed and new tasks
 * (copies — the state itself is never touched here), tasks to forget, and where services' rolling updates stand. The
 * driver commits them. Decisions about a service carry the Version it was read at, so one made about a spec the user
 * has replaced since is dropped.
 */

import type { Service, ServiceSpec, Task, UpdateStatus } from '../../api/types.ts';

/** An update's failure action was rollback: the service's previous spec goes back, with why. */
export interface Rollback {
  id: string;
  version: number;
  spec: ServiceSpec;
  message: string;
}

export class Changes {
  private readonly changed = new Map<string, Task>();
  private readonly deleted = new Set<string>();
  readonly #statuses = new Map<string, { id: string; version: number; status: UpdateStatus }>();
  readonly #rollbacks = new Map<string, Rollback>();

  setUpdateStatus(service: Service, status: UpdateStatus): void {
    this.#statuses.set(service.ID, { id: service.ID, version: service.Version.Index, status });
  }

  rollBack(service: Service, spec: ServiceSpec, message: string): void {
    this.#rollbacks.set(service.ID, { id: service.ID, version: service.Version.Index, spec, message });
  }

  get updateStatuses(): Array<{ id: string; version: number; status: UpdateStatus }> {
    return [...this.#statuses.values()];
  }

  get rollbacks(): Rollback[] {
    return [...this.#rollbacks.values()];
  }

  /** The task as this pass sees it: with earlier decisions of the pass applied. */
  view(task: Task): Task {
    return this.changed.get(task.ID) ?? task;
  }

  /** Returns a private copy of the task to modify; later calls return the same copy. */
  edit(task: Task): Task {
    let copy = this.changed.get(task.ID);
    if (!copy) {
      copy = structuredClone(task);
      this.changed.set(task.ID, copy);
    }
    return copy;
  }

  add(task: Task): void {
    this.changed.set(task.ID, task);
  }

  remove(taskId: string): void {
    this.changed.delete(taskId);
    this.deleted.add(taskId);
  }

  get put(): Task[] {
    return [...this.changed.values()];
  }

  get deletedIds(): string[] {
    return [...this.deleted];
  }

  get empty(): boolean {
    return this.changed.size === 0 && this.deleted.size === 0 && this.#statuses.size === 0 && this.#rollbacks.size === 0;
  }
}
