/** Builders for cluster objects in tests: small, explicit, and valid by default. */

import type { Node, Service, ServiceSpec, Task } from '../../src/api/types.ts';
import type { ClusterState } from '../../src/manager/state/cluster-state.ts';
import { initSwarmCommand } from '../../src/manager/state/init.ts';
import { StateMachine } from '../../src/manager/state/state-machine.ts';
import { seededRandom } from '../../src/util/ids.ts';

export const T0 = Date.parse('2026-01-01T00:00:00.000Z');
export const iso = (ms: number) => new Date(ms).toISOString();
export const MB = 1024 * 1024;

export function node(id: string, overrides: { memory?: number; cpus?: number; availability?: Node['Spec']['Availability']; state?: Node['Status']['State']; labels?: Record<string, string>; hostname?: string } = {}): Node {
  return {
    ID: id,
    Version: { Index: 1 },
    CreatedAt: iso(T0),
    UpdatedAt: iso(T0),
    Spec: { Role: 'worker', Availability: overrides.availability ?? 'active', Labels: overrides.labels ?? {} },
    Description: {
      Hostname: overrides.hostname ?? `host-${id}`,
      Platform: { Architecture: 'x86_64', OS: 'linux' },
      Resources: { NanoCPUs: (overrides.cpus ?? 2) * 1e9, MemoryBytes: overrides.memory ?? 1024 * MB },
      Engine: { EngineVersion: '20.10.24', Labels: {} },
    },
    Status: { State: overrides.state ?? 'ready', Addr: '10.0.0.1' },
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
