/** Builders for cluster objects in tests: small, explicit, and valid by default. */

import type { Node, NodeImage, Service, ServiceSpec, Task, TaskSpec } from '../../src/api/types.ts';
import { Changes } from '../../src/manager/orchestrator/changes.ts';
import type { ScheduleOptions } from '../../src/manager/scheduler/scheduler.ts';
import { schedule } from '../../src/manager/scheduler/scheduler.ts';
import type { ClusterState } from '../../src/manager/state/cluster-state.ts';
import { initSwarmCommand } from '../../src/manager/state/init.ts';
import { StateMachine } from '../../src/manager/state/state-machine.ts';
import { seededRandom } from '../../src/util/ids.ts';

export const T0 = Date.parse('2026-01-01T00:00:00.000Z');
export const iso = (ms: number) => new Date(ms).toISOString();
export const MB = 1024 * 1024;

export interface NodeOverrides {
  memory?: number;
  cpus?: number;
  availability?: Node['Spec']['Availability'];
  state?: Node['Status']['State'];
  labels?: Record<string, string>;
  hostname?: string;
  role?: Node['Spec']['Role'];
  /** As the engine's /info spells it: x86_64 (the default), aarch64, armv7l... */
  arch?: string;
  engineLabels?: Record<string, string>;
  /** The images the node reports; by default it reports none, which the scheduler reads as "not known". */
  images?: NodeImage[];
  /** false: the engine cannot enforce memory limits. */
  memoryLimit?: boolean;
}

export function node(id: string, overrides: NodeOverrides = {}): Node {
  return {
    ID: id,
    Version: { Index: 1 },
    CreatedAt: iso(T0),
    UpdatedAt: iso(T0),
    Spec: { Role: overrides.role ?? 'worker', Availability: overrides.availability ?? 'active', Labels: overrides.labels ?? {} },
    Description: {
      Hostname: overrides.hostname ?? `host-${id}`,
      Platform: { Architecture: overrides.arch ?? 'x86_64', OS: 'linux' },
      Resources: { NanoCPUs: (overrides.cpus ?? 2) * 1e9, MemoryBytes: overrides.memory ?? 1024 * MB },
      Engine: { EngineVersion: '20.10.24', Labels: overrides.engineLabels ?? {} },
      ...(overrides.images ? { Images: overrides.images } : {}),
      ...(overrides.memoryLimit !== undefined ? { MemoryLimit: overrides.memoryLimit } : {}),
    },
    Status: { State: overrides.state ?? 'ready', Addr: '10.0.0.1' },
  };
}

/** An image as a node's engine reports it; `arch` in the image's spelling (amd64, arm64, arm). */
export function nodeImage(repoTags: string[], overrides: { id?: string; repoDigests?: string[]; arch?: string; variant?: string } = {}): NodeImage {
  return {
    ID: overrides.id ?? `sha256:${'0'.repeat(63)}1`,
    RepoTags: repoTags,
    RepoDigests: overrides.repoDigests ?? [],
    Platform: { OS: 'linux', Architecture: overrides.arch ?? 'amd64', ...(overrides.variant ? { Variant: overrides.variant } : {}) },
  };
}

export function spec(name: string, overrides: Partial<ServiceSpec> & { replicas?: number; reserve?: number; image?: string } = {}): ServiceSpec {
  const { replicas, reserve, image, ...rest } = overrides;
  return {
    Name: name,
    TaskTemplate: {
      ContainerSpec: { Image: image ?? 'swarmlet-test/busybox:1', Args: ['sleep', '1000'] },
      ...(reserve ? { Resources: { Reservations: { MemoryBytes: reserve } } } : {}),
    },
    Mode: { Replicated: { Replicas: replicas ?? 1 } },
    ...rest,
  };
}

/** A state machine holding an initialised swarm whose first node is `n1`. */
export function clusterWith(nodes: Node[] = [node('n1')]): StateMachine {
  const machine = new StateMachine();
  const [first, ...others] = nodes;
  const init = initSwarmCommand({ swarmId: 'swarm1', nodeId: first!.ID, description: first!.Description, addr: '127.0.0.1', now: iso(T0), random: seededRandom(7) });
  machine.apply(init);
  for (const other of others) machine.state.nodes[other.ID] = other;
  Object.assign(machine.state.nodes[first!.ID]!, { Spec: first!.Spec, Status: first!.Status });
  return machine;
}

export function servicesOf(state: ClusterState): Service[] {
  return Object.values(state.services);
}

export function tasksOf(state: ClusterState, serviceName?: string): Task[] {
  const service = serviceName ? servicesOf(state).find((s) => s.Spec.Name === serviceName) : undefined;
  return Object.values(state.tasks).filter((task) => !service || task.ServiceID === service.ID);
}

/** A task the orchestrator has just made and the scheduler has yet to place; `nodeId` for a global service's. */
export function pendingTask(id: string, serviceId: string, taskSpec: TaskSpec, overrides: { nodeId?: string; createdAt?: number } = {}): Task {
  const created = iso(overrides.createdAt ?? T0);
  return {
    ID: id,
    Version: { Index: 1 },
    CreatedAt: created,
    UpdatedAt: created,
    Spec: taskSpec,
    ServiceID: serviceId,
    ...(overrides.nodeId !== undefined ? { NodeID: overrides.nodeId } : {}),
    Status: { Timestamp: created, State: 'pending', Message: 'pending task scheduling' },
    DesiredState: 'running',
  };
}

/** A task already running on `nodeId`: load the scheduler must count. */
export function runningTask(id: string, serviceId: string, taskSpec: TaskSpec, nodeId: string): Task {
  const task = pendingTask(id, serviceId, taskSpec, { nodeId });
  return { ...task, Status: { ...task.Status, State: 'running', Message: 'started' } };
}

/**
 * One scheduler pass over `tasks`, uncommitted: for each task it changed, the node it was given or, when it stays
 * pending, the reason.
 */
export function scheduleOnce(nodes: Node[], tasks: Task[], options: ScheduleOptions = {}): Map<string, string> {
  const changes = new Changes();
  schedule(nodes, tasks, changes, { now: T0 + 1000, random: seededRandom(1) }, options);
  return new Map(changes.put.map((task) => [task.ID, task.Status.State === 'assigned' ? task.NodeID! : (task.Status.Err ?? '')]));
}
