/**
 * Placement preferences: `--placement-pref spread=node.labels.zone` spreads a service's tasks evenly over the
 * values of a label before it spreads them over nodes. Nodes are grouped by the label's value — nodes without
 * the label form one more group — and each task goes to the group holding the fewest tasks of its service. A
 * second preference splits each group again by its own label, and so on; within the last level, the usual
 * ranking picks the node.
 *
 * The scheduler ranks by a key that reads these counts first, level by level: picking the node with the least
 * key picks the least loaded group at every level, which is the balancing Swarm does.
 */

import type { Placement } from '../../api/types.ts';
import { invalidArgument } from '../../errors.ts';
import { LABEL_PREFIXES, nodeAttribute } from './constraints.ts';
import type { NodeInfo } from './node-info.ts';

const EXAMPLE = 'e.g. {"Spread": {"SpreadDescriptor": "node.labels.zone"}} (--placement-pref spread=node.labels.zone)';

/** The label a preference spreads over; throws when it names no strategy swarmlet knows or no label. */
export function parsePreference(preference: NonNullable<Placement['Preferences']>[number]): string {
  const spread = preference?.Spread;
  if (!spread) {
    throw invalidArgument(`unsupported placement preference ${JSON.stringify(preference)}: only spread is supported, ${EXAMPLE}`);
  }
  const descriptor = (spread.SpreadDescriptor ?? '').trim();
  const isLabel = LABEL_PREFIXES.some((prefix) => descriptor.startsWith(prefix) && descriptor.length > prefix.length);
  if (!isLabel) {
    throw invalidArgument(
      `invalid placement preference "spread=${descriptor}": spread over a label, node.labels.KEY or engine.labels.KEY, ${EXAMPLE}`,
    );
  }
  return descriptor;
}

/** The labels a task's preferences spread over, outermost first. */
export function spreadDescriptors(placement: Placement | undefined): string[] {
  return (placement?.Preferences ?? []).map(parsePreference);
}

/** Joins path parts; NUL cannot occur in a label value that came through JSON as a Docker label. */
const SEPARATOR = '\0';

/**
 * A service's task counts per group, at every level of its preferences, kept up to date as the pass places its
 * tasks. Counts cover every node, so a group's load is what runs there, not just what may still be added.
 */
export class SpreadCounts {
  private readonly descriptors: string[];
  private readonly counts = new Map<string, number>();
  private readonly pathsByNode = new Map<string, string[]>();

  constructor(serviceId: string, descriptors: string[], infos: Iterable<NodeInfo>) {
    this.descriptors = descriptors;
    for (const info of infos) this.add(info, info.tasksByService.get(serviceId) ?? 0);
  }

  /** The node's group at each level, as keys into the counts: its label values so far, a missing label marked apart. */
  paths(info: NodeInfo): string[] {
    let paths = this.pathsByNode.get(info.node.ID);
    if (!paths) {
      paths = [];
      let path = '';
      for (const descriptor of this.descriptors) {
        const value = nodeAttribute(info.node, descriptor);
        path += `${SEPARATOR}${value === undefined ? '-' : `=${value}`}`;
        paths.push(path);
      }
      this.pathsByNode.set(info.node.ID, paths);
    }
    return paths;
  }

  /** Tasks of the service in the node's group, level by level. */
  levels(info: NodeInfo): number[] {
    return this.paths(info).map((path) => this.counts.get(path) ?? 0);
  }

  /** Counts `tasks` more of the service on the node (one, when the pass places a task). */
  add(info: NodeInfo, tasks = 1): void {
    if (tasks === 0) return;
    for (const path of this.paths(info)) this.counts.set(path, (this.counts.get(path) ?? 0) + tasks);
  }
}
