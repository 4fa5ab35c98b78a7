/**
 * The tasks of one pass that the filters cannot tell apart — same service, same placement, resources and image,
 * usually a service's new replicas — decided together. What a node is (ready, labelled, of the right machine,
 * holding the image) is asked once per node for the whole group; what a node holds changes with every task
 * placed, so that is asked as candidates come up, best first, from a heap.
 *
 * The figures a heap ranks by go stale as the pass places tasks, on any node and for any service. They are
 * refreshed lazily: they only grow during a pass (node-info.ts), so an entry whose figures are still current
 * when it reaches the top is truly the least, and one whose figures have grown is pushed back down and the next
 * one looked at. A node a dynamic filter refuses is dropped for good: its load only grows too.
 *
 * Placement preferences rank by the load of the node's spread groups first. Those counts change for a whole
 * group at once, so they are not kept in the heaps: there is one heap per group, and the groups' best nodes are
 * compared at each pick (there are few groups: zones, racks).
 */

import type { Task } from '../../api/types.ts';
import type { Filter } from './filters.ts';
import { Heap } from './node-heap.ts';
import type { NodeInfo } from './node-info.ts';
import type { SpreadCounts } from './preferences.ts';

/** The pipeline split at the point where verdicts start to depend on what the pass has placed. */
export interface Pipeline {
  staticFilters: Filter[];
  dynamicFilters: Filter[];
  nodes: readonly NodeInfo[];
}

/** A node in a heap, with the figures it was ranked by when it went in. */
interface Entry {
  info: NodeInfo;
  /** Tasks of the group's service on the node. */
  service: number;
  total: number;
}

const NOWHERE = 'no suitable node (no nodes in the cluster)';

/** Fewest of the service, then fewest in total; the node ID breaks ties so that decisions do not depend on input order. */
function less(a: Entry, b: Entry): boolean {
  if (a.service !== b.service) return a.service < b.service;
  if (a.total !== b.total) return a.total < b.total;
  return a.info.node.ID < b.info.node.ID;
}

export class TaskGroup {
  private readonly serviceId: string;
  private readonly pipeline: Pipeline;
  private readonly spread: SpreadCounts | undefined;
  /** Per node ID: the index of the first static filter that refused the node, or -1. */
  private readonly verdicts = new Map<string, number>();
  /** Per static filter: how many nodes it refused (after the filters before it). */
  private readonly refused: number[];
  /** Nodes every static filter accepts: the candidates for tasks that may go anywhere. */
  private readonly feasible: NodeInfo[] = [];
  private heaps: Heap<Entry>[] | undefined;
  private explained: { version: number; reason: string } | undefined;

  constructor(task: Task, pipeline: Pipeline, spread: SpreadCounts | undefined) {
    this.serviceId = task.ServiceID;
    this.pipeline = pipeline;
    this.spread = spread;
    const { staticFilters, nodes } = pipeline;
    const applies = staticFilters.map((filter) => filter.setTask(task, nodes));
    this.refused = staticFilters.map(() => 0);
    for (const info of nodes) {
      let verdict = -1;
      for (let i = 0; i < staticFilters.length && verdict < 0; i++) {
        if (applies[i] && !staticFilters[i]!.check(info)) verdict = i;
      }
      this.verdicts.set(info.node.ID, verdict);
      if (verdict >= 0) this.refused[verdict]! += 1;
      else this.feasible.push(info);
    }
  }

  /**
   * The best node for a task that may go anywhere, or why there is none. `version` counts the placements of the
   * pass so far: an explanation is reused until something has been placed since.
   */
  pick(task: Task, version: number): NodeInfo | string {
    const dynamic = this.prepare(task);
    this.heaps ??= this.buildHeaps();
    let best: NodeInfo | undefined;
    let bestLevels: number[] = [];
    for (let i = 0; i < this.heaps.length; i++) {
      const candidate = this.top(this.heaps[i]!, dynamic);
      if (!candidate) {
        // Every node of this spread group is full for this group's tasks, and will stay so for the pass.
        this.heaps[i] = this.heaps[this.heaps.length - 1]!;
        this.heaps.pop();
        i--;
        continue;
      }
      const levels = this.spread?.levels(candidate) ?? [];
      if (!best || this.ranksBefore(candidate, levels, best, bestLevels)) {
        best = candidate;
        bestLevels = levels;
      }
    }
    if (best) return best;
    if (this.explained?.version !== version) this.explained = { version, reason: this.explain(dynamic) };
    return this.explained.reason;
  }

  /** Whether a task whose node is chosen already (a global service's) fits there, or why not. */
  checkOn(task: Task, info: NodeInfo | undefined): NodeInfo | string {
    if (!info) return NOWHERE;
    const verdict = this.verdicts.get(info.node.ID)!;
    if (verdict >= 0) return `no suitable node (${this.pipeline.staticFilters[verdict]!.explain(1)})`;
    const failed = this.prepare(task).find((filter) => !filter.check(info));
    return failed ? `no suitable node (${failed.explain(1)})` : info;
  }

  /**
   * One heap per spread group of the last level (one in all without preferences). Within such a group every node
   * shares the spread counts, so a heap orders it by the node's own figures; the groups are compared at each pick.
   */
  private buildHeaps(): Heap<Entry>[] {
    const byGroup = new Map<string, Entry[]>();
    for (const info of this.feasible) {
      const group = this.spread?.paths(info).at(-1) ?? '';
      const entry = this.entry(info);
      const entries = byGroup.get(group);
      if (entries) entries.push(entry);
      else byGroup.set(group, [entry]);
    }
    return [...byGroup.values()].map((entries) => new Heap(entries, less));
  }

  /** The heap's least node that the dynamic filters accept, bringing stale figures up to date on the way. */
  private top(heap: Heap<Entry>, dynamic: Filter[]): NodeInfo | undefined {
    for (let top = heap.peek(); top; top = heap.peek()) {
      const { info } = top;
      if (top.service !== this.serviceCount(info) || top.total !== info.totalTasks) heap.replaceTop(this.entry(info));
      else if (dynamic.every((filter) => filter.check(info))) return info;
      else heap.pop();
    }
    return undefined;
  }

  /** The ranking: the least loaded spread group at each level, then fewest of this service, then fewest tasks. */
  private ranksBefore(a: NodeInfo, aLevels: number[], b: NodeInfo, bLevels: number[]): boolean {
    for (let i = 0; i < aLevels.length; i++) if (aLevels[i] !== bLevels[i]) return aLevels[i]! < bLevels[i]!;
    return less(this.entry(a), this.entry(b));
  }

  private entry(info: NodeInfo): Entry {
    return { info, service: this.serviceCount(info), total: info.totalTasks };
  }

  private serviceCount(info: NodeInfo): number {
    return info.tasksByService.get(this.serviceId) ?? 0;
  }

  private prepare(task: Task): Filter[] {
    return this.pipeline.dynamicFilters.filter((filter) => filter.setTask(task, this.pipeline.nodes));
  }

  /** Swarm's explanation: per filter, in pipeline order, how many of the nodes still in the running it refused. */
  private explain(dynamic: Filter[]): string {
    if (this.pipeline.nodes.length === 0) return NOWHERE;
    const reasons: string[] = [];
    this.pipeline.staticFilters.forEach((filter, i) => {
      if (this.refused[i]! > 0) reasons.push(filter.explain(this.refused[i]!));
    });
    let remaining = this.feasible;
    for (const filter of dynamic) {
      const passed = remaining.filter((info) => filter.check(info));
      if (passed.length < remaining.length) reasons.push(filter.explain(remaining.length - passed.length));
      remaining = passed;
    }
    return `no suitable node (${reasons.join('; ')})`;
  }
}
