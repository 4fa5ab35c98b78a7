/**
 * The decisions of one reconciliation pass, collected before anything is committed: changed and new tasks
 * (copies — the state itself is never touched here) and tasks to forget. The driver commits them as one batch.
 */

import type { Task } from '../../api/types.ts';

export class Changes {
  private readonly changed = new Map<string, Task>();
  private readonly deleted = new Set<string>();

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
    return this.changed.size === 0 && this.deleted.size === 0;
  }
}
