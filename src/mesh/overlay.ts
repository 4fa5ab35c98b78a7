/**
 * Overlay networks on one node, in user space: what lets a task reach another service by name, on any node, with no
 * VXLAN, IPVS or IPsec in the kernel. Driven by the networks part of the leader's mesh table (mesh-table.ts), for
 * each network whose bridge this node has (the agent makes it with the node's first task on it, agent/networks.ts):
 *
 * - names: a DNS server on the network's gateway answers the services' names and aliases with their virtual IP (or,
 *   in dnsrr mode, their tasks' addresses) and `tasks.NAME` with every serving task's address; other names go to the
 *   host's resolvers. Containers ask it through the engine's resolver (their HostConfig.Dns is the gateway).
 * - virtual IPs: each service's VIP is bound on the bridge and listened on, on every port the service serves; a
 *   connection is balanced over the service's tasks — this node's straight to their address, others' through mesh
 *   streams over the encrypted transport, as the ingress does.
 * - task addresses: the addresses of tasks on other nodes are bound here too, each forwarding to its own task, so an
 *   address `tasks.NAME` returned reaches its task from every node. This node's own tasks are the containers
 *   themselves.
 *
 * A listener takes connections only from the network's own subnet: a container on another network can reach the
 * node (it is its gateway too) and is refused, so networks stay apart as Swarm's do. TCP connections and UDP flows
 * are both served, as on the ingress.
 *
 * A bridge whose network no task on this node uses any more is taken down: its listeners, its DNS server, the
 * addresses bound on it, and the engine network itself.
 */

import { describeError } from '../errors.ts';
import type { MeshNetwork, MeshNetworkService } from '../manager/mesh-table.ts';
import { bridgeName, parseIPv4, parseSubnet, SWARMLET_NETWORK_LABEL } from '../manager/state/networks.ts';
import type { EngineNetwork } from '../runtime/runtime.ts';
import type { Logger } from '../util/logger.ts';
import type { Backend } from './balancer.ts';
import { DnsServer } from './dns-server.ts';
import { type AddressBinder, reconcileAddresses } from './host-addresses.ts';
import { IngressListener, type StreamOpener } from './ingress.ts';
import { UdpIngressListener } from './udp-ingress.ts';

/** What the overlay needs of the node's engine: its networks, and removing one. */
export interface OverlayEngine {
  listNetworks(labelFilters: string[]): Promise<EngineNetwork[]>;
  removeNetwork(id: string): Promise<void>;
}

export interface OverlayOptions {
  selfId: string;
  peers(): StreamOpener | null;
  engine: OverlayEngine;
  binder: AddressBinder;
  log: Logger;
  /** Where names that are not the cluster's are resolved; the host's resolvers when undefined. */
  upstreams?: readonly string[];
  /** The DNS port on each gateway: 53, or another for tests. */
  dnsPort?: number;
}

interface LocalNetwork {
  networkId: string;
  engineId: string;
  device: string;
  dns: DnsServer | null;
  names: Map<string, string[]>;
  /** By `address:port/protocol`. */
  listeners: Map<string, IngressListener | UdpIngressListener>;
}

/** This node's overlay tasks, by `serviceId/taskId`: their address and the ports other nodes may reach them on. */
export type OverlayLocalTasks = Map<string, { address: string; targets: Set<number>; udpTargets: Set<number> }>;

export class OverlayMesh {
  readonly #options: OverlayOptions;
  readonly #networks = new Map<string, LocalNetwork>();
  #local: OverlayLocalTasks = new Map();

  constructor(options: OverlayOptions) {
    this.#options = options;
  }

  /** This node's tasks on overlay networks, for the stream server (other nodes' VIP listeners reach them by stream). */
  get localTasks(): OverlayLocalTasks {
    return this.#local;
  }

  /** Applies the networks part of a table; `excluded` are tasks out of rotation (being stopped, or dead). */
  async apply(networks: readonly MeshNetwork[], excluded: ReadonlySet<string>): Promise<void> {
    const { selfId } = this.#options;
    const local: OverlayLocalTasks = new Map();
    for (const network of networks) {
      for (const service of network.services) {
        const targets = new Set(service.ports.filter((p) => p.protocol === 'tcp').map((p) => p.port));
        const udpTargets = new Set(service.ports.filter((p) => p.protocol === 'udp').map((p) => p.port));
        for (const task of service.tasks) {
          if (task.nodeId === selfId) local.set(`${service.serviceId}/${task.taskId}`, { address: task.address, targets, udpTargets });
        }
      }
    }
    this.#local = local;

    const bridges = new Map<string, EngineNetwork>();
    for (const engineNetwork of await this.#options.engine.listNetworks([SWARMLET_NETWORK_LABEL])) {
      const id = engineNetwork.labels[SWARMLET_NETWORK_LABEL];
      if (id) bridges.set(id, engineNetwork);
    }
    const byId = new Map(networks.map((network) => [network.networkId, network]));
    for (const [networkId, engineNetwork] of bridges) {
      const network = byId.get(networkId);
      if (network && network.nodes.includes(selfId)) {
        try {
          await this.#serve(network, engineNetwork.id, excluded);
        } catch (err) {
          this.#options.log.warn(`overlay network ${network.name}: ${describeError(err)}`);
        }
      } else {
        await this.#takeDown(networkId, engineNetwork.id);
      }
    }
    for (const networkId of this.#networks.keys()) if (!bridges.has(networkId)) await this.#close(networkId);
  }

  /** Takes `taskId` out of every VIP's rotation here and waits for its connections (see MeshController.drainTask). */
  drain(taskId: string, graceMs: number): Array<Promise<void>> {
    return [...this.#networks.values()].flatMap((network) => [...network.listeners.values()].map((listener) => listener.drain(taskId, graceMs)));
  }

  async stop(): Promise<void> {
    for (const networkId of [...this.#networks.keys()]) await this.#close(networkId);
  }

  async #serve(network: MeshNetwork, engineId: string, excluded: ReadonlySet<string>): Promise<void> {
    const { selfId } = this.#options;
    let state = this.#networks.get(network.networkId);
    if (!state) {
      state = { networkId: network.networkId, engineId, device: bridgeName(network.networkId), dns: null, names: new Map(), listeners: new Map() };
      this.#networks.set(network.networkId, state);
    }
    const subnet = parseSubnet(network.subnet, { min: 0, max: 32 });
    const inSubnet = (address: string) => {
      const value = parseIPv4(address.replace(/^::ffff:/, ''));
      return value !== undefined && value >= subnet.base && value < subnet.base + subnet.size;
    };

    // What this node answers on: the VIPs, and the addresses of tasks elsewhere, on every port, TCP and UDP.
    const wanted = new Map<string, { service: MeshNetworkService; backends: Backend[] }>();
    for (const service of network.services) {
      const serving = service.tasks.filter((task) => !excluded.has(task.taskId));
      const backends: Backend[] = serving.map((task) => ({ taskId: task.taskId, nodeId: task.nodeId, address: task.nodeId === selfId ? task.address : null }));
      if (service.vip) for (const { port, protocol } of service.ports) wanted.set(`${service.vip}:${port}/${protocol}`, { service, backends });
      for (const task of serving) {
        if (task.nodeId === selfId) continue;
        const backend = backends.find((b) => b.taskId === task.taskId)!;
        for (const { port, protocol } of service.ports) wanted.set(`${task.address}:${port}/${protocol}`, { service, backends: [backend] });
      }
    }
    const addresses = new Set<string>();
    for (const service of network.services) {
      if (service.vip) addresses.add(service.vip);
      for (const task of service.tasks) if (task.nodeId !== selfId) addresses.add(task.address);
    }
    await reconcileAddresses(this.#options.binder, state.device, addresses, inSubnet);

    for (const [key, listener] of state.listeners) {
      if (wanted.has(key)) continue;
      state.listeners.delete(key);
      await listener.stop();
    }
    for (const [key, want] of wanted) {
      let listener = state.listeners.get(key);
      if (!listener) {
        const [host, rest] = key.split(':') as [string, string];
        const [port, protocol] = rest.split('/') as [string, string];
        const options = {
          serviceId: want.service.serviceId,
          publishedPort: Number(port),
          targetPort: Number(port),
          host,
          peers: this.#options.peers,
          log: this.#options.log,
          acceptFrom: inSubnet,
        };
        listener = protocol === 'udp' ? new UdpIngressListener(options) : new IngressListener(options);
        try {
          await listener.start();
        } catch (err) {
          this.#options.log.warn(`overlay network ${network.name}: cannot listen on ${key} for service ${want.service.name}: ${describeError(err)}`);
          continue;
        }
        state.listeners.set(key, listener);
      }
      listener.setBackends(want.backends);
    }

    state.names = namesOf(network, excluded);
    if (!state.dns) {
      const names = () => this.#networks.get(network.networkId)?.names;
      const dns = new DnsServer({
        host: network.gateway,
        ...(this.#options.dnsPort !== undefined ? { port: this.#options.dnsPort } : {}),
        lookup: (name) => names()?.get(name) ?? null,
        // An internal network reaches nothing outside, names included: only the cluster's are answered.
        ...(network.internal ? { upstreams: [] } : this.#options.upstreams ? { upstreams: this.#options.upstreams } : {}),
        label: network.name,
        log: this.#options.log,
      });
      await dns.start();
      state.dns = dns;
      this.#options.log.info(`overlay network ${network.name}: names answered on ${network.gateway}`);
    }
  }

  /** Stops serving a network here and removes its bridge: no task on this node uses it. */
  async #takeDown(networkId: string, engineId: string): Promise<void> {
    await this.#close(networkId);
    try {
      await this.#options.engine.removeNetwork(engineId);
    } catch (err) {
      // A container still attached (a task being stopped): the next table tries again.
      this.#options.log.debug(`overlay network ${networkId}: bridge not removed yet: ${describeError(err)}`);
    }
  }

  async #close(networkId: string): Promise<void> {
    const state = this.#networks.get(networkId);
    if (!state) return;
    this.#networks.delete(networkId);
    await Promise.all([...state.listeners.values()].map((listener) => listener.stop()));
    await state.dns?.stop();
    await reconcileAddresses(this.#options.binder, state.device, new Set(), () => true).catch(() => {});
  }
}

/** The names a network's DNS answers: each service's name and aliases, and `tasks.NAME`. Lowercase, as looked up. */
function namesOf(network: MeshNetwork, excluded: ReadonlySet<string>): Map<string, string[]> {
  const names = new Map<string, string[]>();
  for (const service of network.services) {
    const tasks = service.tasks.filter((task) => !excluded.has(task.taskId)).map((task) => task.address);
    const answer = service.vip ? [service.vip] : tasks;
    for (const name of [service.name, ...service.aliases]) names.set(name.toLowerCase(), answer);
    names.set(`tasks.${service.name.toLowerCase()}`, tasks);
  }
  return names;
}
