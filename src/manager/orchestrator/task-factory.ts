/** Making a task from a service, and telling whether a task still matches its service's spec. */

import type { Endpoint, EndpointPortConfig, Service, Task } from '../../api/types.ts';

export function newTask(service: Service, id: string, now: string, placement: { slot?: number; nodeId?: string }): Task {
  return {
    ID: id,
    Version: { Index: 0 },
    CreatedAt: now,
    UpdatedAt: now,
    Labels: {},
    Spec: structuredClone(service.Spec.TaskTemplate),
    ServiceID: service.ID,
    ...(placement.slot !== undefined ? { Slot: placement.slot } : {}),
    ...(placement.nodeId !== undefined ? { NodeID: placement.nodeId } : {}),
    Status: { Timestamp: now, State: 'pending', Message: 'pending task scheduling' },
    DesiredState: 'running',
    SpecVersion: { Index: service.Version.Index },
    ...(service.Endpoint?.Ports?.length ? { Endpoint: structuredClone(service.Endpoint) } : {}),
  };
}

/** The ports a task binds on its own node (host mode): part of what the task runs with, unlike ingress ports. */
export function hostModePorts(endpoint: Endpoint | undefined): EndpointPortConfig[] {
  return (endpoint?.Ports ?? []).filter((port) => port.PublishMode === 'host');
}

/** JSON with sorted keys, so two specs that differ only in key order compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * A task is out of date when the service's task template or its host-mode ports changed since it was made (scaling
 * does not count, nor do ingress ports: the routing mesh follows those without touching the tasks).
 */
export function isOutdated(task: Task, service: Service): boolean {
  return (
    canonical(task.Spec) !== canonical(service.Spec.TaskTemplate) ||
    canonical(hostModePorts(task.Endpoint)) !== canonical(hostModePorts(service.Endpoint))
  );
}
