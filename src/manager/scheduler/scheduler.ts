/**
 * The scheduler: a pure pass from (nodes, tasks) to decisions. Pending tasks are placed, oldest first, on the
 * best node that passes every filter — spread over the service's placement preferences, then fewest tasks of
 * the same service, then fewest tasks overall — or stay pending with the reason counted per filter, as Swarm
 * reports it. Tasks of one service and spec are decided as a group (task-group.ts), which is what makes ten
 * thousand tasks on a thousand nodes one quick pass; the decisions are those of taking the tasks one by one.
 */

import type { Node, Task } from '../../api/types.ts';
import { SwarmletError } from '../../errors.ts';
import type { Changes } from '../orchestrator/changes.ts';
import type { PassContext } from '../orchestrator/context.ts';
import { isoTime } from '../orchestrator/context.ts';
import type { Filter } from './filters.ts';
import { defaultFilters } from './filters.ts';
import type { NodeInfo } from './node-info.ts';
import { addTask, boundHostPorts, buildNodeInfos } from './node-info.ts';
import { SpreadCounts, spreadDescriptors } from './preferences.ts';
import type { Pipeline } from './task-group.ts';
import { TaskGroup } from './task-group.ts';

export interface ScheduleOptions {
  /**
   * Nodes the leader has not heard from lately. Their state in the store may still say ready; they are refused
   * like nodes that are not, so no task waits on a node that may be gone.
   */
  unresponsive?: ReadonlySet<string>;
  /** The pipeline, for tests; `defaultFilters()` otherwise. Filters that are not dynamic must come first. */
  filters?: Filter[];
}

/** The order tasks are decided in: oldest first, so a task waiting longest is not overtaken. */
function byAge(a: Task, b: Task): number {
  return a.CreatedAt < b.CreatedAt ? -1 : a.CreatedAt > b.CreatedAt ? 1 : a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0;
}

export function schedule(nodes: Node[], tasks: Task[], changes: Changes, ctx: PassContext, options: ScheduleOptions = {}): void {
  const current = tasks.map((task) => changes.view(task));
  const pending = current.filter((task) => task.Status.State === 'pending' && task.DesiredState === 'running').sort(byAge);
  if (pending.length === 0) return;
  const infos = buildNodeInfos(nodes, current, options.unresponsive);
  const pass = new Pass([...infos.values()], options.filters ?? defaultFilters());

  for (const task of pending) {
    // Global tasks come with their node chosen: only that node is a candidate.
    const placement = task.NodeID ? pass.group(task).checkOn(task, infos.get(task.NodeID)) : pass.group(task).pick(task, pass.placed);
    if (typeof placement === 'string') {
      if (task.Status.Err !== placement) {
        const copy = changes.edit(task);
        copy.Status = { ...copy.Status, Timestamp: isoTime(ctx.now), Err: placement };
      }
      continue;
    }
    const copy = changes.edit(task);
    copy.NodeID = placement.node.ID;
    copy.Status = { Timestamp: isoTime(ctx.now), State: 'assigned', Message: 'scheduler assigned task to node' };
    pass.record(placement, copy);
  }
}

/** One pass's state beyond the node figures: the task groups met so far and the spread counts they share. */
class Pass {
  private readonly pipeline: Pipeline;
  private readonly groups = new Map<string, TaskGroup | Refused>();
  /** Per service, the spread counts of each distinct list of preferences its tasks have. */
  private readonly spreads = new Map<string, Map<string, SpreadCounts>>();
  /** Tasks placed so far. */
  placed = 0;

  constructor(nodes: NodeInfo[], filters: Filter[]) {
    const firstDynamic = filters.findIndex((filter) => filter.dynamic);
    const staticFilters = firstDynamic < 0 ? filters : filters.slice(0, firstDynamic);
    const dynamicFilters = firstDynamic < 0 ? [] : filters.slice(firstDynamic);
    if (dynamicFilters.some((filter) => !filter.dynamic)) {
      throw new SwarmletError('internal', 'scheduler pipeline: every filter that is not dynamic must come before the dynamic ones');
    }
    this.pipeline = { staticFilters, dynamicFilters, nodes };
  }

  /** The task's group, made on first use. A spec the filters cannot read keeps its tasks pending, saying why. */
  group(task: Task): TaskGroup | Refused {
    const key = groupKey(task);
    let group = this.groups.get(key);
    if (!group) {
      try {
        group = new TaskGroup(task, this.pipeline, this.spreadFor(task));
      } catch (err) {
        if (!(err instanceof SwarmletError)) throw err;
        group = new Refused(`no suitable node (${err.message})`);
      }
      this.groups.set(key, group);
    }
    return group;
  }

  record(info: NodeInfo, task: Task): void {
    addTask(info, task);
    for (const spread of this.spreads.get(task.ServiceID)?.values() ?? []) spread.add(info);
    this.placed += 1;
  }

  private spreadFor(task: Task): SpreadCounts | undefined {
    const descriptors = spreadDescriptors(task.Spec.Placement);
    if (descriptors.length === 0) return undefined;
    let byDescriptors = this.spreads.get(task.ServiceID);
    if (!byDescriptors) this.spreads.set(task.ServiceID, (byDescriptors = new Map()));
    const key = descriptors.join('\0');
    let spread = byDescriptors.get(key);
    if (!spread) byDescriptors.set(key, (spread = new SpreadCounts(task.ServiceID, descriptors, this.pipeline.nodes)));
    return spread;
  }
}

/** A group whose spec the filters refused to read (a constraint stored before it was validated, say). */
class Refused {
  private readonly reason: string;
  constructor(reason: string) {
    this.reason = reason;
  }
  pick(): string {
    return this.reason;
  }
  checkOn(): string {
    return this.reason;
  }
}

/** What the filters may read of a task (see `Filter`): tasks that agree on it are one group. */
function groupKey(task: Task): string {
  const { Placement, Resources, ContainerSpec } = task.Spec;
  return `${task.ServiceID}\0${ContainerSpec.Image}\0${JSON.stringify(Placement ?? null)}\0${JSON.stringify(Resources ?? null)}\0${boundHostPorts(task).join()}`;
}
