/**
 * What a node's agent is given by the managers: the tasks assigned to it, with what it needs to run them that
 * a task alone does not carry. Only the node's own tasks are sent, never the whole cluster state.
 */

import type { Task } from '../api/types.ts';
import type { TaskStatusUpdate } from '../manager/state/commands.ts';
import type { Disposer } from '../runtime/runtime.ts';

export interface Assignment {
  task: Task;
  serviceName: string;
}

export interface AssignmentSource {
  assignments(): Assignment[];
  /**
   * False while the source has not heard from the cluster yet (a restarted worker before the leader's first
   * push): the agent then leaves its containers alone rather than read "no assignments" as "remove everything".
   */
  ready?(): boolean;
  /**
   * True while the node runs what it was last assigned with no manager to decide replacements (see
   * node-session.ts): the agent then restarts a task's exited container itself, as its restart policy says.
   */
  offline?(): boolean;
  /** Calls back whenever the assignments may have changed. */
  watch(onChange: () => void): Disposer;
}

export interface StatusReporter {
  report(updates: TaskStatusUpdate[]): Promise<void>;
}
