/**
 * `service ls`'s table: ID NAME MODE REPLICAS IMAGE PORTS, as the docker CLI prints it for the same services
 * (sorted by name in natural order, REPLICAS as running/desired from the API's ServiceStatus).
 */

import type { PortConfig, Service } from '../../api/types.ts';
import { displayImage, naturalCompare, type OutputFormat, rowsAsJson, shortId } from '../format.ts';
import { renderTable } from '../table.ts';

export const SERVICE_LS_HEADER = ['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'];

/** `replicated` or `global`, Docker's MODE column. */
export function serviceMode(service: Service): string {
  return service.Spec.Mode?.Global ? 'global' : 'replicated';
}

/**
 * `3/3`: running over desired tasks, from `GET /services?status=true`. A daemon that did not fill ServiceStatus
 * gets `?` for what it did not say rather than a made-up count.
 */
export function replicasCell(service: Service): string {
  const status = service.ServiceStatus;
  const desired = status?.DesiredTasks ?? (service.Spec.Mode?.Global ? undefined : (service.Spec.Mode?.Replicated?.Replicas ?? 1));
  const cell = `${status?.RunningTasks ?? '?'}/${desired ?? '?'}`;
  const maxPerNode = service.Spec.TaskTemplate.Placement?.MaxReplicas;
  return maxPerNode && !service.Spec.Mode?.Global ? `${cell} (max ${maxPerNode} per node)` : cell;
}

/** Published ports as Docker lists them: `*:8080->80/tcp` for the routing mesh, `8080->80/tcp` in host mode. */
export function portsCell(ports: readonly PortConfig[] | undefined): string {
  return (ports ?? [])
    .filter((port) => port.PublishedPort !== undefined && port.PublishedPort !== 0)
    .map((port) => `${port.PublishMode === 'host' ? '' : '*:'}${port.PublishedPort}->${port.TargetPort}/${port.Protocol ?? 'tcp'}`)
    .join(', ');
}

export function serviceRows(services: readonly Service[]): string[][] {
  return [...services]
    .sort((a, b) => naturalCompare(a.Spec.Name, b.Spec.Name))
    .map((service) => [
      shortId(service.ID),
      service.Spec.Name,
      serviceMode(service),
      replicasCell(service),
      displayImage(service.Spec.TaskTemplate.ContainerSpec.Image),
      portsCell(service.Endpoint?.Ports ?? service.Endpoint?.Spec.Ports ?? service.Spec.EndpointSpec?.Ports),
    ]);
}

export function renderServiceTable(services: readonly Service[], format: OutputFormat = 'table'): string {
  if (format === 'json') return rowsAsJson(SERVICE_LS_HEADER, serviceRows(services));
  return renderTable(SERVICE_LS_HEADER, serviceRows(services));
}
