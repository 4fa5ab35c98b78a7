/**
 * The scheduler's filters, run in this order for every task. Each one says whether a node can take the task
 * and, when nodes are turned away, explains why in Swarm's words — that text is what `service ps` shows.
 */

import type { Task } from '../../api/types.ts';
import type { Constraint } from './constraints.ts';
import { matches, parseConstraint } from './constraints.ts';
import type { ImageReference } from './image-reference.ts';
import { parseImageReference } from './image-reference.ts';
import type { NodeInfo } from './node-info.ts';
import { boundHostPorts } from './node-info.ts';
import { ImageCatalog } from './node-images.ts';
import type { Platform } from './platform.ts';
import { canRun, normalizePlatform } from './platform.ts';

/**
 * One stage of the pipeline. A filter may read only the task's ServiceID, Spec.Placement, Spec.Resources,
 * Spec.ContainerSpec.Image and its host-mode ports: the scheduler decides tasks that agree on these as one group,
 * and asks the filters once per group rather than once per task.
 */
export interface Filter {
  /**
   * Whether the verdict depends on the tasks already placed on the node, which change as a pass places more.
   * Such a filter must come after every other one, and a node it refuses must stay refused for the rest of the
   * pass (placing only ever adds load); the others are asked once per node and task group.
   */
  readonly dynamic: boolean;
  /**
   * Prepares for a task; returns false when the filter has nothing to check for it. `nodes` is every node of the
   * pass, for filters that learn from the whole cluster (where else the image is, and for what platform).
   */
  setTask(task: Task, nodes: readonly NodeInfo[]): boolean;
  check(info: NodeInfo): boolean;
  /** Why `nodes` nodes were turned away. */
  explain(nodes: number): string;
}

const plural = (n: number) => (n === 1 ? '1 node' : `${n} nodes`);

/** Down, disconnected, or silent lately (the leader has missed its heartbeats). */
export class ReadyFilter implements Filter {
  readonly dynamic = false;
  setTask(): boolean {
    return true;
  }
  check(info: NodeInfo): boolean {
    return info.node.Status.State === 'ready' && !info.unresponsive;
  }
  explain(nodes: number): string {
    return `${plural(nodes)} not available for new tasks`;
  }
}

export class AvailabilityFilter implements Filter {
  readonly dynamic = false;
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

export class ConstraintFilter implements Filter {
  readonly dynamic = false;
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

/**
 * The node's machine must run the image. What the image is built for is read where it is: from the node's own
 * copy when it has one (that copy is what would run), else from the copies on other nodes. Platforms the
 * spec names (the docker CLI fills Placement.Platforms from /distribution) must match as well.
 */
export class PlatformFilter implements Filter {
  readonly dynamic = false;
  private readonly catalog: ImageCatalog;
  private reference: ImageReference = {};
  private requested: Platform[] = [];
  /** The image's platforms over the cluster; empty when no node reports having it. */
  private seen: Platform[] = [];

  constructor(catalog: ImageCatalog) {
    this.catalog = catalog;
  }

  setTask(task: Task, nodes: readonly NodeInfo[]): boolean {
    this.reference = parseImageReference(task.Spec.ContainerSpec.Image);
    this.requested = (task.Spec.Placement?.Platforms ?? [])
      .map((p) => normalizePlatform(p.OS, p.Architecture))
      .filter((p) => p.os !== '' || p.architecture !== '');
    const seen = new Map<string, Platform>();
    for (const info of nodes) {
      for (const platform of this.imagePlatforms(info)) seen.set(`${platform.os}/${platform.architecture}/${platform.variant ?? ''}`, platform);
    }
    this.seen = [...seen.values()];
    return this.requested.length > 0 || this.seen.length > 0;
  }

  check(info: NodeInfo): boolean {
    if (this.requested.length > 0 && !this.requested.some((p) => canRun(info.platform, p))) return false;
    const own = this.imagePlatforms(info);
    const built = own.length > 0 ? own : this.seen;
    return built.length === 0 || built.some((p) => canRun(info.platform, p));
  }

  explain(nodes: number): string {
    return `unsupported platform on ${plural(nodes)}`;
  }

  private imagePlatforms(info: NodeInfo): Platform[] {
    const images = this.catalog.find(this.reference, info.node) ?? [];
    return images.map((image) => normalizePlatform(image.Platform.OS, image.Platform.Architecture, image.Platform.Variant));
  }
}

/** No registry to pull from: a node without the image cannot start the task. Nodes that do not report images pass. */
export class ImageFilter implements Filter {
  readonly dynamic = false;
  private readonly catalog: ImageCatalog;
  private reference: ImageReference = {};

  constructor(catalog: ImageCatalog) {
    this.catalog = catalog;
  }

  setTask(task: Task): boolean {
    this.reference = parseImageReference(task.Spec.ContainerSpec.Image);
    return true;
  }
  check(info: NodeInfo): boolean {
    const found = this.catalog.find(this.reference, info.node);
    return found === undefined || found.length > 0;
  }
  explain(nodes: number): string {
    return `image not present on ${plural(nodes)}`;
  }
}

/**
 * A task with a memory limit or reservation never goes to a node whose engine cannot enforce memory limits (the
 * memory cgroup is off, as on Raspberry Pi OS by default): it would run unlimited, and say nothing.
 */
export class MemoryLimitFilter implements Filter {
  readonly dynamic = false;
  setTask(task: Task): boolean {
    const resources = task.Spec.Resources;
    return (resources?.Limits?.MemoryBytes ?? 0) > 0 || (resources?.Reservations?.MemoryBytes ?? 0) > 0;
  }
  check(info: NodeInfo): boolean {
    return info.node.Description.MemoryLimit !== false;
  }
  explain(nodes: number): string {
    return `memory limits not enforceable on ${plural(nodes)} (memory cgroup disabled)`;
  }
}

/** Reservations against what the node has, minus what its tasks reserve already: a box is never overcommitted. */
export class ResourceFilter implements Filter {
  readonly dynamic = true;
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

/** `--replicas-max-per-node`: at most this many of the service's live tasks on one node; 0 is no limit. */
export class MaxReplicasFilter implements Filter {
  readonly dynamic = true;
  private serviceId = '';
  private max = 0;
  setTask(task: Task): boolean {
    this.serviceId = task.ServiceID;
    this.max = task.Spec.Placement?.MaxReplicas ?? 0;
    return this.max > 0;
  }
  check(info: NodeInfo): boolean {
    return (info.liveByService.get(this.serviceId) ?? 0) < this.max;
  }
  explain(nodes: number): string {
    return `max replicas per node limit reached on ${plural(nodes)}`;
  }
}

/** A host-mode published port binds on the task's node: a node where another task binds it already cannot take one. */
export class HostPortFilter implements Filter {
  readonly dynamic = true;
  private ports: string[] = [];
  setTask(task: Task): boolean {
    this.ports = boundHostPorts(task);
    return this.ports.length > 0;
  }
  check(info: NodeInfo): boolean {
    return this.ports.every((port) => !info.hostPorts.has(port));
  }
  explain(nodes: number): string {
    return `host-mode port already in use on ${plural(nodes)}`;
  }
}

/**
 * The pipeline, in order: what the node is (state, labels, machine, images) before what it holds, cheap and
 * decisive checks first. The image filter follows the platform filter so that a node of the wrong machine is
 * told so, not merely that the image is missing there.
 */
export function defaultFilters(): Filter[] {
  const catalog = new ImageCatalog();
  return [
    new ReadyFilter(), // down, disconnected or silent
    new AvailabilityFilter(), // paused or drained
    new ConstraintFilter(), // --constraint
    new PlatformFilter(catalog), // the image's architecture and OS
    new ImageFilter(catalog), // the engine has the image
    new MemoryLimitFilter(), // the engine can enforce a memory limit
    new ResourceFilter(), // --reserve-memory, --reserve-cpu
    new MaxReplicasFilter(), // --replicas-max-per-node
    new HostPortFilter(), // --publish mode=host,published=PORT
  ];
}
