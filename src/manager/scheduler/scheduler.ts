/**
 * The scheduler: a pure pass from (nodes, tasks) to decisions. Pending tasks are placed on the best node that
 * passes every filter — fewest tasks of the same service, then fewest tasks overall, so replicas spread — or
 * stay pending with the reason counted per filter, as Swarm reports it.
 */

import type { Node, Task } from '../../api/types.ts';
import type { Changes } from '../orchestrator/changes.ts';
import type { PassContext } from '../orchestrator/context.ts';
import { isoTime } from '../orchestrator/context.ts';
import type { Filter } from './filters.ts';
import { defaultFilters } from './filters.ts';
import type { NodeInfo } from './node-info.ts';
import { addTask, buildNodeInfos } from './node-info.ts';

export type Placement = { nodeId: string } | { reason: string };

/** Runs the filters over the candidates and returns the nodes that pass, or why none does. */
export function feasibleNodes(task: Task, candidates: NodeInfo[], filters: Filter[]): NodeInfo[] | string {
  let remaining = candidates;
  const reasons: string[] = [];
  for (const filter of filters) {
    if (!filter.setTask(task)) continue;
    const passed = remaining.filter((info) => filter.check(info));
    const failed = remaining.length - passed.length;
    if (failed > 0) reasons.push(filter.explain(failed));
    remaining = passed;
  }
  if (remaining.length > 0) return remaining;
  return candidates.length === 0 ? 'no suitable node (no nodes in the cluster)' : `no suitable node (${reasons.join('; ')})`;
}

function rank(task: Task) {
  return (a: NodeInfo, b: NodeInfo) =>
    (a.tasksByService.get(task.ServiceID) ?? 0) - (b.tasksByService.get(task.ServiceID) ?? 0) ||
    a.totalTasks - b.totalTasks ||
    (a.node.ID < b.node.ID ? -1 : 1);
}

export function schedule(nodes: Node[], tasks: Task[], changes: Changes, ctx: PassContext, filters = defaultFilters()): void {
  const current = tasks.map((task) => changes.view(task));
  const infos = buildNodeInfos(nodes, current);
  const all = [...infos.values()];
  const pending = current
    .filter((task) => task.Status.State === 'pending' && task.DesiredState === 'running')
    .sort((a, b) => (a.CreatedAt < b.CreatedAt ? -1 : a.CreatedAt > b.CreatedAt ? 1 : a.ID < b.ID ? -1 : 1));

  for (const task of pending) {
    // Global tasks come with their node chosen: only that node is a candidate.
    const candidates = task.NodeID ? all.filter((info) => info.node.ID === task.NodeID) : all;
    const feasible = feasibleNodes(task, candidates, filters);
    if (typeof feasible === 'string') {
      if (task.Status.Err !== feasible) {
        const copy = changes.edit(task);
        copy.Status = { ...copy.Status, Timestamp: isoTime(ctx.now), Err: feasible };
      }
      continue;
    }
    const best = feasible.sort(rank(task))[0]!;
    const copy = changes.edit(task);
    copy.NodeID = best.node.ID;
    copy.Status = { Timestamp: isoTime(ctx.now), State: 'assigned', Message: 'scheduler assigned task to node' };
    addTask(best, copy);
  }
}
