/**
 * `service ls`'s table: ID NAME MODE REPLICAS IMAGE PORTS, as the docker CLI prints it for the same services
 * (sorted by name in natural order, REPLICAS as running/desired from the API's ServiceStatus).
 */

import type { EndpointPortConfig, Service } from '../../api/types.ts';
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

interface PortRange {
  published: [number, number];
  target: [number, number];
  protocol: string;
}

const span = ([start, end]: [number, number]) => (end > start ? `${start}-${end}` : `${start}`);

/** Go's `a-b > 1` on unsigned ports: b is neither a nor the port just before it. */
const notNext = (port: number, end: number) => port < end || port - end > 1;

/**
 * The PORTS column as docker prints it from the service's Endpoint: routing-mesh ports only (host-mode ports show in
 * `service ps`, per task), sorted by protocol then published port, consecutive ports folded into ranges —
 * `*:8080->80/tcp`, `*:8000-8001->80-81/tcp, *:53->53/udp`.
 */
export function portsCell(ports: readonly EndpointPortConfig[] | undefined): string {
  const sorted = [...(ports ?? [])].sort((a, b) =>
    (a.Protocol ?? '') === (b.Protocol ?? '') ? (a.PublishedPort ?? 0) - (b.PublishedPort ?? 0) : (a.Protocol ?? '') < (b.Protocol ?? '') ? -1 : 1,
  );
  const cells: string[] = [];
  const flush = (range: PortRange | undefined) => {
    if (range && range.published[0] > 0) cells.push(`*:${span(range.published)}->${span(range.target)}/${range.protocol}`);
  };
  let range: PortRange | undefined;
  for (const port of sorted) {
    if ((port.PublishMode ?? 'ingress') !== 'ingress') continue;
    const published = port.PublishedPort ?? 0;
    const protocol = port.Protocol ?? '';
    const current = range ?? { published: [0, 0], target: [0, 0], protocol: '' };
    const isRange = current.target[1] !== current.target[0];
    // A new range when the protocol changes, either side skips a port, or a range's targets would overlap.
    if (
      protocol !== current.protocol ||
      notNext(published, current.published[1]) ||
      notNext(port.TargetPort, current.target[1]) ||
      (isRange && port.TargetPort <= current.target[1])
    ) {
      flush(range);
      range = { published: [published, published], target: [port.TargetPort, port.TargetPort], protocol };
      continue;
    }
    current.published[1] = published;
    current.target[1] = port.TargetPort;
  }
  flush(range);
  return cells.join(', ');
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
      portsCell(service.Endpoint?.Ports),
    ]);
}

export function renderServiceTable(services: readonly Service[], format: OutputFormat = 'table'): string {
  if (format === 'json') return rowsAsJson(SERVICE_LS_HEADER, serviceRows(services));
  return renderTable(SERVICE_LS_HEADER, serviceRows(services));
}
