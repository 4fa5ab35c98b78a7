/**
 * A service's endpoint: its published ports as the cluster holds them, with swarmkit's rules for the routing mesh.
 *
 * An ingress port is open on every node, so its published port belongs to one service across the whole cluster
 * (per protocol: 53/udp and 53/tcp are two ports). A spec may leave the published port out; the manager then picks
 * the lowest free one in Swarm's dynamic range, and keeps it across updates for as long as the same target port and
 * protocol stay published, so that clients pointed at it keep working. Everything here is a function of the state
 * and the command — every manager picks the same port.
 *
 * Host-mode ports are not given out here: they open only on the nodes running a task, so two services may both ask
 * for 8080 in host mode as long as no node runs both — the scheduler's host-port filter sees to that, per node.
 * A host-mode port may not be an ingress port of any service, though (its own included): the routing mesh listens
 * on ingress ports on every node, so the task's binding would fail wherever it went.
 */

import type { Endpoint, EndpointPortConfig, Service, ServiceSpec } from '../../api/types.ts';
import { invalidArgument } from '../../errors.ts';

/** Swarm's range for published ports the manager picks (swarmkit's dynamicPortStart and dynamicPortEnd). */
export const DYNAMIC_PORT_START = 30000;
export const DYNAMIC_PORT_END = 32767;

const protocolOf = (port: EndpointPortConfig) => port.Protocol ?? 'tcp';
const isIngress = (port: EndpointPortConfig) => (port.PublishMode ?? 'ingress') === 'ingress';
const keyOf = (published: number, port: EndpointPortConfig) => `${published}/${protocolOf(port)}`;

/** A port as Docker shows it in Endpoint.Ports: protocol and mode spelled out, a published port of 0 left out. */
function normalized(port: EndpointPortConfig, published = port.PublishedPort): EndpointPortConfig {
  return {
    ...(port.Name ? { Name: port.Name } : {}),
    Protocol: protocolOf(port),
    TargetPort: port.TargetPort,
    ...(published ? { PublishedPort: published } : {}),
    PublishMode: port.PublishMode ?? 'ingress',
  };
}

/**
 * The endpoint service `id` gets for `spec`: every ingress port with its published port, asked for or picked.
 *
 * `previous` is the service's endpoint before this update (none on create); `services` are all the services in the
 * state, the one being updated included (it is skipped: a service never conflicts with itself). Throws when a
 * published port is held by another service or the dynamic range has no free port left, so a refused spec stores
 * nothing.
 */
export function makeEndpoint(id: string, spec: ServiceSpec, previous: Endpoint | undefined, services: Iterable<Service>): Endpoint {
  const endpointSpec = spec.EndpointSpec ?? { Mode: 'vip' };
  const ports = endpointSpec.Ports ?? [];

  const heldBy = new Map<string, Service>();
  for (const service of services) {
    if (service.ID === id) continue;
    for (const port of service.Endpoint?.Ports ?? []) {
      if (isIngress(port) && port.PublishedPort) heldBy.set(keyOf(port.PublishedPort, port), service);
    }
  }

  const hostPorts = new Map<string, Service | null>();
  for (const port of ports) {
    if (!isIngress(port) && port.PublishedPort) hostPorts.set(keyOf(port.PublishedPort, port), null);
  }
  for (const service of services) {
    if (service.ID === id) continue;
    for (const port of service.Endpoint?.Ports ?? []) {
      if (!isIngress(port) && port.PublishedPort && !hostPorts.has(keyOf(port.PublishedPort, port))) hostPorts.set(keyOf(port.PublishedPort, port), service);
    }
  }
  const mixed = (key: string, port: EndpointPortConfig, holder: Service | null | undefined) =>
    invalidArgument(
      `port '${port.PublishedPort}' is ${holder ? `published in host mode by service '${holder.Spec.Name}' (${holder.ID})` : 'published in both ingress and host mode'}` +
        ` and cannot also be an ingress port (${key}): the routing mesh listens on ingress ports on every node; publish another port`,
    );

  // The ports the spec names first, so that a port picked below never takes one the spec asks for.
  const claimed = new Set<string>();
  for (const port of ports) {
    if (!isIngress(port) || !port.PublishedPort) continue;
    const holder = heldBy.get(keyOf(port.PublishedPort, port));
    if (holder) {
      throw invalidArgument(
        `port '${port.PublishedPort}' is already in use by service '${holder.Spec.Name}' (${holder.ID}) as an ingress port: ` +
          'publish another port, or leave published= out to get a free one',
      );
    }
    if (hostPorts.has(keyOf(port.PublishedPort, port))) throw mixed(keyOf(port.PublishedPort, port), port, hostPorts.get(keyOf(port.PublishedPort, port)));
    claimed.add(keyOf(port.PublishedPort, port));
  }
  for (const port of ports) {
    if (isIngress(port) || !port.PublishedPort) continue;
    const holder = heldBy.get(keyOf(port.PublishedPort, port));
    if (holder) {
      throw invalidArgument(
        `port '${port.PublishedPort}' is already in use by service '${holder.Spec.Name}' (${holder.ID}) as an ingress port, ` +
          'which the routing mesh listens on on every node: publish another port in host mode',
      );
    }
  }

  const free = (published: number, port: EndpointPortConfig) =>
    !claimed.has(keyOf(published, port)) && !heldBy.has(keyOf(published, port)) && !hostPorts.has(keyOf(published, port));
  const kept = (previous?.Ports ?? []).filter((port) => isIngress(port) && port.PublishedPort);
  const pick = (port: EndpointPortConfig): number => {
    const before = kept.find(
      (old) => old.TargetPort === port.TargetPort && protocolOf(old) === protocolOf(port) && free(old.PublishedPort!, port),
    );
    if (before) return before.PublishedPort!;
    for (let published = DYNAMIC_PORT_START; published <= DYNAMIC_PORT_END; published++) {
      if (free(published, port)) return published;
    }
    throw invalidArgument(
      `no free port left in the range ${DYNAMIC_PORT_START}-${DYNAMIC_PORT_END} for target port ${port.TargetPort}/${protocolOf(port)}: ` +
        'publish it on a port of your choice with published=PORT, or remove services that publish ports',
    );
  };

  const result = ports.map((port) => {
    if (!isIngress(port) || port.PublishedPort) return normalized(port);
    const published = pick(port);
    claimed.add(keyOf(published, port));
    return normalized(port, published);
  });
  return { Spec: endpointSpec, ...(result.length > 0 ? { Ports: result } : {}) };
}
