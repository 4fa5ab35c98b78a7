/**
 * A node's routing mesh, driven by the mesh table the leader pushes (src/manager/mesh-table.ts): one ingress
 * listener per published TCP port, on every node, with the service's tasks as backends — this node's own by their
 * container's address, the others' through mesh streams — and the stream server through which other nodes reach
 * this node's tasks, which answers only for the tasks and ports the table gives this node.
 *
 * Container addresses are read from the engine once per container. A table is applied in full each time (listeners
 * that are no longer wanted close, new ones open); updates never overlap, and only the newest waiting one is applied.
 *
 * One set of limits (limits.ts, the daemon's --mesh-* flags) bounds every published port's listener and the
 * connections and flows this node serves to other nodes' ingress.
 */

import { describeError } from '../errors.ts';
import type { MeshTable } from '../manager/mesh-table.ts';
import type { Logger } from '../util/logger.ts';
import type { Backend } from './balancer.ts';
import type { AddressBinder } from './host-addresses.ts';
import { IngressListener, type StreamOpener } from './ingress.ts';
import { resolveMeshLimits, type MeshLimits } from './limits.ts';
import { OverlayMesh, type OverlayEngine } from './overlay.ts';
import { MeshStreamServer, type StreamServing } from './stream-server.ts';
import { UdpIngressListener } from './udp-ingress.ts';
import { serveUdp, type UdpRelay } from './udp-relay.ts';

export interface MeshControllerOptions {
  selfId: string;
  peers(): StreamOpener | null;
  /** The address the container listens on, from the engine; null when it has none (gone, not running). */
  containerAddress(containerId: string): Promise<string | null>;
  log: Logger;
  /** Where ingress listeners listen; every address by default. */
  host?: string;
  /** Bounds on each published port's clients; the defaults of limits.ts for any left out. */
  limits?: Partial<MeshLimits>;
  /** The node's engine and address binder: with them, overlay networks are served too (overlay.ts). */
  overlay?: { engine: OverlayEngine; binder: AddressBinder; dnsPort?: number; upstreams?: readonly string[] };
}

interface LocalTask {
  address: string;
  /** Target ports published over TCP, and over UDP. */
  targets: Set<number>;
  udpTargets: Set<number>;
}

type Listener = IngressListener | UdpIngressListener;

export class MeshController {
  readonly #options: MeshControllerOptions;
  readonly #limits: MeshLimits;
  readonly #listeners = new Map<string, { listener: Listener; serviceId: string; target: number; proxyProtocol: boolean }>();
  readonly #addresses = new Map<string, string>();
  /** This node's tasks that other nodes may reach, by `serviceId/taskId`. */
  #local = new Map<string, LocalTask>();
  #pending: MeshTable | null = null;
  /** The table last handed to update, as JSON. */
  #lastJson = '';
  #applying: Promise<void> | null = null;
  #stopped = false;
  readonly #failedPorts = new Set<string>();
  /** This node's tasks being stopped: out of rotation here, and refused to other nodes' ingress. */
  readonly #draining = new Set<string>();
  #server: MeshStreamServer | null = null;
  #udpRelay: UdpRelay | null = null;
  readonly #overlay: OverlayMesh | null;
  /** Where the nodes running backends listen, from the last table applied. */
  #nodeAddresses = new Map<string, string>();
  /** The cluster's members, from the last table applied. */
  #members = new Set<string>();

  constructor(options: MeshControllerOptions) {
    this.#options = options;
    // Checked here, so that a bad value stops the node at start rather than the first published port.
    this.#limits = resolveMeshLimits(options.limits);
    this.#overlay = options.overlay
      ? new OverlayMesh({
          selfId: options.selfId,
          peers: options.peers,
          log: options.log,
          engine: options.overlay.engine,
          binder: options.overlay.binder,
          ...(options.overlay.dnsPort !== undefined ? { dnsPort: options.overlay.dnsPort } : {}),
          ...(options.overlay.upstreams ? { upstreams: options.overlay.upstreams } : {}),
        })
      : null;
  }

  /** Serves this node's tasks to the other nodes' ingress listeners. */
  serve(peers: StreamServing): void {
    this.#server = new MeshStreamServer({
      lookup: (serviceId, taskId, port) => {
        if (this.#draining.has(taskId)) return null;
        const task = this.#local.get(`${serviceId}/${taskId}`);
        if (task && task.targets.has(port)) return task.address;
        // A VIP or task address of an overlay network on another node, reaching this node's task.
        const onOverlay = this.#overlay?.localTasks.get(`${serviceId}/${taskId}`);
        return onOverlay && onOverlay.targets.has(port) ? onOverlay.address : null;
      },
      log: this.#options.log,
      limits: this.#limits,
    });
    this.#server.serve(peers);
    this.#udpRelay = serveUdp(
      peers,
      (serviceId, taskId, port) => {
        if (this.#draining.has(taskId)) return null;
        const task = this.#local.get(`${serviceId}/${taskId}`);
        if (task && task.udpTargets.has(port)) return task.address;
        const onOverlay = this.#overlay?.localTasks.get(`${serviceId}/${taskId}`);
        return onOverlay && onOverlay.udpTargets.has(port) ? onOverlay.address : null;
      },
      this.#limits,
      this.#options.log,
    );
  }

  /**
   * Takes this node's task `taskId` out of rotation before its container is stopped: no listener here hands it a
   * new connection, other nodes' streams to it are refused (their ingress tries another task), and this resolves
   * when every connection it serves has ended — those this node's listeners forward and those other nodes forward
   * to it — or after `graceMs`, when the ones left are reset. Other nodes drop the task from their tables when the
   * leader's next table arrives; until then a refused stream costs their client one retry, not a failure.
   */
  async drainTask(taskId: string, graceMs: number): Promise<void> {
    this.#draining.add(taskId);
    await Promise.all([
      ...[...this.#listeners.values()].map(({ listener }) => listener.drain(taskId, graceMs)),
      ...(this.#overlay?.drain(taskId, graceMs) ?? []),
      this.#server?.drain(taskId, graceMs),
    ]);
  }

  /**
   * Applies `table` (after the one being applied, if any). Resolves when it is in place. The leader hands its table
   * over on every change of the state; one equal to the last applied costs a comparison.
   */
  update(table: MeshTable): Promise<void> {
    const json = JSON.stringify(table);
    if (json === this.#lastJson) return this.#applying ?? Promise.resolve();
    this.#lastJson = json;
    this.#pending = table;
    this.#applying ??= this.#drain().finally(() => (this.#applying = null));
    return this.#applying;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#applying;
    await Promise.all([...this.#listeners.values()].map(({ listener }) => listener.stop()));
    this.#listeners.clear();
    await this.#overlay?.stop();
    await this.#udpRelay?.stop();
  }

  async #drain(): Promise<void> {
    while (this.#pending && !this.#stopped) {
      const table = this.#pending;
      this.#pending = null;
      try {
        await this.#apply(table);
      } catch (err) {
        this.#options.log.warn(`routing mesh: ${describeError(err)}`);
      }
    }
  }

  async #apply(table: MeshTable): Promise<void> {
    const { selfId } = this.#options;
    this.#nodeAddresses = new Map(Object.entries(table.addresses ?? {}));
    this.#members = new Set(table.members ?? []);
    const local = new Map<string, LocalTask>();
    let unresolved = false;
    const wanted = new Map<string, { serviceId: string; target: number; backends: Backend[]; proxyProtocol: boolean }>();
    for (const service of table.services) {
      const backends: Backend[] = [];
      for (const backend of service.backends) {
        // Being stopped here; a table older than the stop may still list it.
        if (this.#draining.has(backend.taskId)) continue;
        if (backend.nodeId !== selfId) {
          backends.push({ taskId: backend.taskId, nodeId: backend.nodeId, address: null });
          continue;
        }
        const address = await this.#address(backend.containerId);
        if (!address) {
          unresolved = true;
          continue;
        }
        backends.push({ taskId: backend.taskId, nodeId: selfId, address });
        local.set(`${service.serviceId}/${backend.taskId}`, {
          address,
          targets: new Set(service.ports.filter((port) => port.protocol === 'tcp').map((port) => port.target)),
          udpTargets: new Set(service.ports.filter((port) => port.protocol === 'udp').map((port) => port.target)),
        });
      }
      const proxyProtocol = service.proxyProtocol === true;
      for (const port of service.ports) wanted.set(`${port.published}/${port.protocol}`, { serviceId: service.serviceId, target: port.target, backends, proxyProtocol });
    }
    this.#local = local;
    for (const taskId of this.#draining) {
      if (!table.services.some((service) => service.backends.some((backend) => backend.taskId === taskId))) this.#draining.delete(taskId);
    }

    for (const [key, entry] of this.#listeners) {
      const want = wanted.get(key);
      if (want && want.serviceId === entry.serviceId && want.target === entry.target && want.proxyProtocol === entry.proxyProtocol) continue;
      this.#listeners.delete(key);
      await entry.listener.stop();
    }
    for (const [key, want] of wanted) {
      let entry = this.#listeners.get(key);
      if (!entry) {
        const [published, protocol] = key.split('/');
        const listenerOptions = {
          serviceId: want.serviceId,
          publishedPort: Number(published),
          targetPort: want.target,
          peers: this.#options.peers,
          log: this.#options.log,
          limits: this.#limits,
          ...(this.#options.host ? { host: this.#options.host } : {}),
        };
        const listener = protocol === 'udp' ? new UdpIngressListener(listenerOptions) : new IngressListener({ ...listenerOptions, proxyProtocol: want.proxyProtocol });
        try {
          await listener.start();
        } catch (err) {
          // Said once per port until it works: another program holds it on this node.
          if (!this.#failedPorts.has(key)) this.#options.log.error(`routing mesh: cannot listen on published port ${key} of service ${want.serviceId}: ${describeError(err)}`);
          this.#failedPorts.add(key);
          continue;
        }
        this.#failedPorts.delete(key);
        entry = { listener, serviceId: want.serviceId, target: want.target, proxyProtocol: want.proxyProtocol };
        this.#listeners.set(key, entry);
        this.#options.log.info(`routing mesh: published port ${key} of service ${want.serviceId} open on this node`);
      }
      entry.listener.setBackends(want.backends);
    }
    try {
      await this.#overlay?.apply(table.networks ?? [], this.#draining);
    } catch (err) {
      // The engine did not answer: the next table (or the same one again, below) tries again.
      unresolved = true;
      this.#options.log.warn(`overlay networks: ${describeError(err)}`);
    }
    // A port another program holds, or a container the engine did not describe, is tried again with the next
    // table, even an unchanged one.
    if (this.#failedPorts.size > 0 || unresolved) this.#lastJson = '';
    for (const id of this.#addresses.keys()) {
      if (!table.services.some((service) => service.backends.some((backend) => backend.containerId === id))) this.#addresses.delete(id);
    }
  }

  async #address(containerId: string): Promise<string | null> {
    const known = this.#addresses.get(containerId);
    if (known) return known;
    const address = await this.#options.containerAddress(containerId).catch(() => null);
    if (address) this.#addresses.set(containerId, address);
    return address;
  }

  /**
   * This node's task `taskId` lost its container (the engine said so): out of rotation here and refused to other
   * nodes at once — its connections are gone with it — without waiting for the leader's next table.
   */
  taskDied(taskId: string): void {
    if (![...this.#local.keys()].some((key) => key.endsWith(`/${taskId}`))) return;
    void this.drainTask(taskId, 0);
  }

  /** The transport address of node `nodeId` as the last table gave it, for dialing a task's node. */
  nodeAddress(nodeId: string): string | undefined {
    return this.#nodeAddresses.get(nodeId);
  }

  /** Whether the last table applied lists `nodeId` as a member of the cluster. */
  isMember(nodeId: string): boolean {
    return this.#members.has(nodeId);
  }

  /** The published ports listened on, for tests and `stats`. */
  get ports(): string[] {
    return [...this.#listeners.keys()].sort();
  }
}
