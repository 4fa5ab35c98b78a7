/**
 * The scheduler's filters, run in this order for every task. Each one says whether a node can take the task
 * and, when nodes are turned away, explains why in Swarm's words — that text is what `service ps` shows.
 */

import type { Task } from '../../api/types.ts';
import type { Constraint } from './constraints.ts';
import { matches, parseConstraint } from './constraints.ts';
import type { NodeInfo } from './node-info.ts';

export interface Filter {
  /** Prepares for a task; returns false when the filter has nothing to check for it. */
  setTask(task: Task): boolean;
  check(info: NodeInfo): boolean;
  /** Why `nodes` nodes were turned away. */
  explain(nodes: number): string;
}

const plural = (n: number) => (n === 1 ? '1 node' : `${n} nodes`);

export class ReadyFilter implements Filter {
  setTask(): boolean {
    return true;
  }
  check(info: NodeInfo): boolean {
    return info.node.Status.State === 'ready';
  }
  explain(nodes: number): string {
    return `${plural(nodes)} not available for new tasks`;
  }
}

export class AvailabilityFilter implements Filter {
  setTask(): boolean {
    return true;
  }
  check(info: NodeInfo): boolean {
    return info.node.Spec.Availability === 'active';
  }
  explain(nodes: number): string {
    return `${plural(nodes)} not available for new tasks (paused or drained)`;
  }
}

export class ResourceFilter implements Filter {
  private memory = 0;
  private nanoCpus = 0;
  setTask(task: Task): boolean {
    this.memory = task.Spec.Resources?.Reservations?.MemoryBytes ?? 0;
    this.nanoCpus = task.Spec.Resources?.Reservations?.NanoCPUs ?? 0;
    return this.memory > 0 || this.nanoCpus > 0;
  }
  check(info: NodeInfo): boolean {
    const capacity = info.node.Description.Resources;
    return (
      info.reservedMemory + this.memory <= capacity.MemoryBytes &&
      info.reservedNanoCpus + this.nanoCpus <= capacity.NanoCPUs
    );
  }
  explain(nodes: number): string {
    return `insufficient resources on ${plural(nodes)}`;
  }
}

export class ConstraintFilter implements Filter {
  private constraints: Constraint[] = [];
  setTask(task: Task): boolean {
    this.constraints = (task.Spec.Placement?.Constraints ?? []).map(parseConstraint);
    return this.constraints.length > 0;
  }
  check(info: NodeInfo): boolean {
    return this.constraints.every((constraint) => matches(constraint, info.node));
  }
  explain(nodes: number): string {
    return `scheduling constraints not satisfied on ${plural(nodes)}`;
  }
}

/** The pipeline, in order: cheap and decisive checks first. */
export function defaultFilters(): Filter[] {
  return [new ReadyFilter(), new AvailabilityFilter(), new ConstraintFilter(), new ResourceFilter()];
}
