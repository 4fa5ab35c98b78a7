/**
 * API objects shaped like the ones behind real docker CLI output captured on this machine (Docker 20.10 engine in
 * Swarm mode, docker CLI 28.2.2), so the views can be checked against what docker printed for the same data.
 */

import type { Node, Service, Task, TaskState } from '../../src/api/types.ts';

/** The instant the docker output was captured, as far as "N seconds ago" is concerned. */
export const NOW = Date.parse('2026-11-27T03:00:00.000Z');
export const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString();

const meta = (id: string, createdSecondsAgo = 60) => ({
  ID: id,
  Version: { Index: 10 },
  CreatedAt: ago(createdSecondsAgo),
  UpdatedAt: ago(createdSecondsAgo),
});

export function service(id: string, name: string, image: string, mode: 'replicated' | 'global', running: number, desired: number): Service {
  return {
    ...meta(id),
    Spec: {
      Name: name,
      TaskTemplate: { ContainerSpec: { Image: image } },
      Mode: mode === 'global' ? { Global: {} } : { Replicated: { Replicas: desired } },
    },
    Endpoint: { Spec: { Mode: 'vip' } },
    ServiceStatus: { RunningTasks: running, DesiredTasks: desired, CompletedTasks: 0 },
  };
}

export function task(
  id: string,
  serviceId: string,
  slot: number | undefined,
  image: string,
  desired: TaskState,
  state: TaskState,
  stateSecondsAgo: number,
  options: { err?: string; nodeId?: string; createdSecondsAgo?: number } = {},
): Task {
  return {
    ...meta(id, options.createdSecondsAgo ?? stateSecondsAgo),
    Spec: { ContainerSpec: { Image: image } },
    ServiceID: serviceId,
    ...(slot === undefined ? {} : { Slot: slot }),
    ...(options.nodeId === '' ? {} : { NodeID: options.nodeId ?? NODE_ID }),
    Status: { Timestamp: ago(stateSecondsAgo), State: state, Message: state, ...(options.err ? { Err: options.err } : {}) },
    DesiredState: desired,
  };
}

export const NODE_ID = 'mwbff1fohwnkvuvj7yowzzvr0';

export function node(id: string, hostname: string, overrides: Partial<Node> = {}): Node {
  return {
    ...meta(id),
    CreatedAt: '2026-11-27T02:48:18.739119331Z',
    Spec: { Role: 'manager', Availability: 'active' },
    Description: {
      Hostname: hostname,
      Platform: { Architecture: 'x86_64', OS: 'linux' },
      Resources: { NanoCPUs: 2_000_000_000, MemoryBytes: 25_274_130_432 },
      Engine: { EngineVersion: '20.10.24+dfsg1' },
    },
    Status: { State: 'ready', Addr: '127.0.0.1' },
    ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: '127.0.0.1:2377' },
    ...overrides,
  };
}

/** Lines as docker printed them (trailing spaces included), each ended by a newline. */
export const lines = (...rows: string[]) => rows.map((row) => `${row}\n`).join('');
