/**
 * What every node's routing mesh needs to know, computed from the cluster state: each service's published ingress
 * ports and the tasks that may take connections — running (a task with a healthcheck is `starting`, not running,
 * until it passes), still wanted, on a node that is not down. The leader pushes it to every node whenever it
 * changes (dispatcher.ts) and uses it itself, so a node that holds no cluster state (a worker) forwards to tasks
 * anywhere. Pure.
 */

import type { Service, Task } from '../api/types.ts';
import { invalidArgument } from '../errors.ts';
import { parseImageReference } from './scheduler/image-reference.ts';
import { ImageCatalog } from './scheduler/node-images.ts';
import type { ClusterState } from './state/cluster-state.ts';
import { isTerminal } from './state/cluster-state.ts';

/**
 * The service label that declares the ports a service's tasks serve to other services on its networks, besides the
 * target ports it publishes and those its image exposes: `5432`, `53/udp,53/tcp`. A virtual IP is a user-space
 * listener, so it serves only the ports it knows of (Swarm's kernel IPVS forwards them all).
 */
export const EXPOSE_LABEL = 'com.swarmlet.expose';

/**
 * The service label that makes the routing mesh open each TCP connection to a task with a PROXY protocol v2 header
 * (`com.swarmlet.proxy-protocol=v2`), so the backend sees the client's real address — which Swarm's mesh hides. The
 * backend must expect the header (nginx `proxy_protocol`, HAProxy `accept-proxy`, Traefik `proxyProtocol`).
 */
export const PROXY_PROTOCOL_LABEL = 'com.swarmlet.proxy-protocol';

export interface MeshPort {
  published: number;
  target: number;
  protocol: 'tcp' | 'udp';
}

export interface MeshBackend {
  taskId: string;
  nodeId: string;
  /** The task's container; only its own node can turn it into an address. */
  containerId: string;
}

export interface MeshService {
  serviceId: string;
  ports: MeshPort[];
  backends: MeshBackend[];
  /** Send each TCP connection's backend a PROXY protocol v2 header first (PROXY_PROTOCOL_LABEL). */
  proxyProtocol?: true;
}

/** A service on an overlay network, as every node that has the network sees it. */
export interface MeshNetworkService {
  serviceId: string;
  name: string;
  /** More names the service answers to on this network (TaskTemplate.Networks[].Aliases). */
  aliases: string[];
  /** The virtual IP, `10.0.1.2`; null in dnsrr mode, where the name resolves to the tasks' addresses. */
  vip: string | null;
  /** The ports its VIP and its tasks' addresses serve: the image's EXPOSE, published targets, EXPOSE_LABEL. */
  ports: Array<{ port: number; protocol: 'tcp' | 'udp' }>;
  /** Tasks that may take connections (as for the ingress), with their address on this network. */
  tasks: Array<MeshBackend & { address: string }>;
}

export interface MeshNetwork {
  networkId: string;
  name: string;
  subnet: string;
  gateway: string;
  /** No way out (`network create --internal`): its DNS server answers the cluster's names and forwards none. */
  internal?: true;
  services: MeshNetworkService[];
  /** Nodes with a task on the network that has not ended: they keep its bridge. */
  nodes: string[];
}

export interface MeshTable {
  services: MeshService[];
  /** Overlay networks with at least one task on them. */
  networks?: MeshNetwork[];
  /**
   * The transport address of every node that runs a backend. A worker holds no cluster state and knows only the
   * managers' addresses by itself; without these it could not reach a task on another worker.
   */
  addresses?: Record<string, string>;
  /** The cluster's members now (removed nodes left out): the workers a worker may take mesh streams from. */
  members?: string[];
}

export function meshTable(state: ClusterState): MeshTable {
  const services: MeshService[] = [];
  for (const service of Object.values(state.services)) {
    const ports: MeshPort[] = (service.Endpoint?.Ports ?? [])
      .filter((port) => (port.PublishMode ?? 'ingress') === 'ingress' && port.PublishedPort)
      .map((port) => ({ published: port.PublishedPort!, target: port.TargetPort, protocol: port.Protocol === 'udp' ? 'udp' : 'tcp' }));
    if (ports.length === 0) continue;
    const backends: MeshBackend[] = [];
    for (const task of Object.values(state.tasks)) {
      if (task.ServiceID !== service.ID) continue;
      const backend = servingBackend(state, task);
      if (backend) backends.push(backend);
    }
    backends.sort((a, b) => (a.taskId < b.taskId ? -1 : 1));
    services.push({ serviceId: service.ID, ports, backends, ...(service.Spec.Labels?.[PROXY_PROTOCOL_LABEL] === 'v2' ? { proxyProtocol: true as const } : {}) });
  }
  services.sort((a, b) => (a.serviceId < b.serviceId ? -1 : 1));
  const backendNodes = new Set(services.flatMap((service) => service.backends.map((backend) => backend.nodeId)));
  const networks = meshNetworks(state);
  for (const network of networks) {
    for (const service of network.services) for (const task of service.tasks) backendNodes.add(task.nodeId);
  }
  const addresses: Record<string, string> = {};
  for (const nodeId of [...backendNodes].sort()) {
    const addr = state.security?.members[nodeId]?.addr;
    if (addr) addresses[nodeId] = addr;
  }
  const security = state.security;
  const members = security ? Object.keys(security.members).filter((id) => !security.revoked[id]).sort() : [];
  return { services, ...(networks.length > 0 ? { networks } : {}), addresses, members };
}

/** The task as a backend when it may take connections: running (healthy), still wanted, its node not down. */
function servingBackend(state: ClusterState, task: Task): MeshBackend | null {
  if (task.DesiredState !== 'running' || task.Status.State !== 'running') return null;
  const containerId = task.Status.ContainerStatus?.ContainerID;
  const node = task.NodeID ? state.nodes[task.NodeID] : undefined;
  if (!containerId || !node || node.Status.State === 'down') return null;
  return { taskId: task.ID, nodeId: node.ID, containerId };
}

/** The ports a service declares with EXPOSE_LABEL (`5432`, `53/udp,53/tcp`); throws on a malformed label. */
export function parseDeclaredPorts(label: string): Array<{ port: number; protocol: 'tcp' | 'udp' }> {
  const ports: Array<{ port: number; protocol: 'tcp' | 'udp' }> = [];
  for (const item of label.split(',')) {
    const match = /^\s*(\d{1,5})(?:\/(tcp|udp))?\s*$/.exec(item);
    const port = Number(match?.[1]);
    if (!match || port < 1 || port > 65535) {
      throw invalidArgument(`invalid ${EXPOSE_LABEL} label "${label}": give PORT[/tcp|udp], comma-separated, e.g. ${EXPOSE_LABEL}=80,53/udp`);
    }
    ports.push({ port, protocol: (match[2] as 'tcp' | 'udp' | undefined) ?? 'tcp' });
  }
  return ports;
}

/** The ports a stored service declares; a label stored before it was checked counts as none. */
export function declaredPorts(service: Service): Array<{ port: number; protocol: 'tcp' | 'udp' }> {
  const label = service.Spec.Labels?.[EXPOSE_LABEL];
  if (label === undefined) return [];
  try {
    return parseDeclaredPorts(label);
  } catch {
    return [];
  }
}

/** The ports the service's image exposes (EXPOSE), as the first node holding the image reports them. */
function imagePorts(state: ClusterState, service: Service, catalog: ImageCatalog): Array<{ port: number; protocol: 'tcp' | 'udp' }> {
  const reference = parseImageReference(service.Spec.TaskTemplate.ContainerSpec.Image);
  for (const node of Object.values(state.nodes)) {
    const [image] = catalog.find(reference, node) ?? [];
    if (!image) continue;
    return (image.ExposedPorts ?? []).flatMap((exposed) => {
      const [port, protocol] = exposed.split('/');
      return protocol === 'tcp' || protocol === 'udp' ? [{ port: Number(port), protocol }] : [];
    });
  }
  return [];
}

function servicePorts(state: ClusterState, service: Service, catalog: ImageCatalog): Array<{ port: number; protocol: 'tcp' | 'udp' }> {
  const seen = new Map<string, { port: number; protocol: 'tcp' | 'udp' }>();
  for (const port of imagePorts(state, service, catalog)) seen.set(`${port.port}/${port.protocol}`, port);
  for (const port of service.Endpoint?.Ports ?? []) {
    const protocol = port.Protocol === 'udp' ? 'udp' : port.Protocol === 'sctp' ? null : 'tcp';
    if (protocol) seen.set(`${port.TargetPort}/${protocol}`, { port: port.TargetPort, protocol });
  }
  for (const port of declaredPorts(service)) seen.set(`${port.port}/${port.protocol}`, port);
  return [...seen.values()].sort((a, b) => a.port - b.port || (a.protocol < b.protocol ? -1 : 1));
}

/** Every overlay network some task is on, with its services' names, VIPs, ports and serving tasks. */
function meshNetworks(state: ClusterState): MeshNetwork[] {
  const catalog = new ImageCatalog();
  const networks = new Map<string, MeshNetwork>();
  const services = new Map<string, MeshNetworkService>();
  const entryFor = (network: MeshNetwork, service: Service): MeshNetworkService => {
    const key = `${network.networkId}/${service.ID}`;
    let entry = services.get(key);
    if (!entry) {
      const vip = service.Endpoint?.VirtualIPs?.find((v) => v.NetworkID === network.networkId)?.Addr.split('/')[0] ?? null;
      const aliases = service.Spec.TaskTemplate.Networks?.find((n) => n.Target === network.networkId)?.Aliases ?? [];
      entry = { serviceId: service.ID, name: service.Spec.Name, aliases: [...aliases], vip, ports: servicePorts(state, service, catalog), tasks: [] };
      services.set(key, entry);
      network.services.push(entry);
    }
    return entry;
  };
  for (const task of Object.values(state.tasks)) {
    if (isTerminal(task.Status.State) || !task.NodeID) continue;
    for (const attachment of task.NetworksAttachments ?? []) {
      const stored = state.networks?.[attachment.Network.ID];
      const config = stored?.IPAMOptions.Configs[0];
      if (!stored || !config) continue;
      let network = networks.get(stored.ID);
      if (!network) {
        network = {
          networkId: stored.ID,
          name: stored.Spec.Name,
          subnet: config.Subnet,
          gateway: config.Gateway,
          ...(stored.Spec.Internal ? { internal: true as const } : {}),
          services: [],
          nodes: [],
        };
        networks.set(stored.ID, network);
      }
      if (!network.nodes.includes(task.NodeID)) network.nodes.push(task.NodeID);
      const service = state.services[task.ServiceID];
      if (!service) continue;
      const entry = entryFor(network, service);
      const backend = servingBackend(state, task);
      const address = attachment.Addresses[0]?.split('/')[0];
      if (backend && address) entry.tasks.push({ ...backend, address });
    }
  }
  // A service attached to a network in use answers by name there even while it has no task (scaled to 0, starting):
  // its VIP, with no backend yet, or in dnsrr mode no address — never "no such name".
  for (const service of Object.values(state.services)) {
    for (const target of service.Spec.TaskTemplate.Networks ?? []) {
      const network = networks.get(target.Target);
      if (network) entryFor(network, service);
    }
  }
  const sorted = [...networks.values()].sort((a, b) => (a.networkId < b.networkId ? -1 : 1));
  for (const network of sorted) {
    network.nodes.sort();
    network.services.sort((a, b) => (a.serviceId < b.serviceId ? -1 : 1));
    for (const service of network.services) service.tasks.sort((a, b) => (a.taskId < b.taskId ? -1 : 1));
  }
  return sorted;
}
