/**
 * A node's routing mesh, driven by the mesh table the leader pushes (src/manager/mesh-table.ts): one ingress
 * listener per published TCP port, on every node, with the service's tasks as backends — this node's own by their
 * container's address, the others' through mesh streams — and the stream server through which other nodes reach
 * this node's tasks, which answers only for the tasks and ports the table gives this node.
 *
 * Container addresses are read from the engine once per container. A table is applied in full each time (listeners
 * that are no longer wanted close, new ones open); updates never overlap, and only the newest waiting one is applied.
 *
 * A published port that cannot be opened — another program on the node holds it, or the node may not bind it — is
 * tried again on a timer, 1 s doubling to 30 s (a new table starts over at 1 s), so the mesh takes it soon after the
 * program lets go, without waiting for the leader's next table; the tries run in the same queue as the tables, so
 * they never overlap one. It is said once when it fails and once when it opens, and reported (portConflicts) in the
 * node's description, where `node inspect` and `service create`/`update` show it. A port no longer wanted is no
 * longer tried.
 *
 * One set of limits (limits.ts, the daemon's --mesh-* flags) bounds every published port's listener and the
 * connections and flows this node serves to other nodes' ingress.
 */

import { MESH_PORT_ERRORS, type MeshPortConflict } from '../api/types.ts';
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
  /** How soon a published port that could not be opened is tried again, doubling up to maxMs (tests shorten it). */
  portRetry?: { initialMs?: number; maxMs?: number };
}

/** The first wait before a published port that could not be opened is tried again, and the longest. */
export const PORT_RETRY_INITIAL_MS = 1_000;
export const PORT_RETRY_MAX_MS = 30_000;

/** How a published port's listen failure is reported: strerror's words for the usual causes, the message otherwise. */
export function listenErrorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (code !== undefined ? MESH_PORT_ERRORS[code] : undefined) ?? describeError(err);
}

interface LocalTask {
  address: string;
  /** Target ports published over TCP, and over UDP. */
  targets: Set<number>;
  udpTargets: Set<number>;
}

type Listener = IngressListener | UdpIngressListener;

/** What the table wants of one published port. */
interface WantedPort {
  serviceId: string;
  target: number;
  backends: Backend[];
  proxyProtocol: boolean;
}

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
  /** What the last table applied wants of each published port, by `port/protocol`: what a retry opens. */
  #wanted = new Map<string, WantedPort>();
  /** Published ports wanted but not open, by `port/protocol`, with the service and why: tried again on a timer. */
  readonly #unopened = new Map<string, { serviceId: string; error: string }>();
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  #retryDelayMs: number;
  #retryTimer: NodeJS.Timeout | undefined;
  /** The timer went off: the queue tries the unopened ports when no table is waiting before them. */
  #retryDue = false;
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
    this.#retryInitialMs = options.portRetry?.initialMs ?? PORT_RETRY_INITIAL_MS;
    this.#retryMaxMs = Math.max(this.#retryInitialMs, options.portRetry?.maxMs ?? PORT_RETRY_MAX_MS);
    this.#retryDelayMs = this.#retryInitialMs;
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
    // A new table: its ports are tried at once, and the ones that still fail start over at the shortest wait.
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#retryDue = false;
    this.#retryDelayMs = this.#retryInitialMs;
    return this.#run();
  }

  /**
   * The published ports this node's mesh could not open, sorted: what the node's description reports to the managers.
   */
  get portConflicts(): MeshPortConflict[] {
    return [...this.#unopened]
      .map(([key, { serviceId, error }]) => {
        const [port, protocol] = key.split('/');
        return { Port: Number(port), Protocol: protocol === 'udp' ? ('udp' as const) : ('tcp' as const), ServiceID: serviceId, Error: error };
      })
      .sort((a, b) => a.Port - b.Port || a.Protocol.localeCompare(b.Protocol));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#applying;
    await Promise.all([...this.#listeners.values()].map(({ listener }) => listener.stop()));
    this.#listeners.clear();
    await this.#overlay?.stop();
    await this.#udpRelay?.stop();
  }

  /** Starts the queue of tables and retries, unless it is running; resolves when it has nothing left to do. */
  #run(): Promise<void> {
    this.#applying ??= this.#drain().finally(() => (this.#applying = null));
    return this.#applying;
  }

  async #drain(): Promise<void> {
    while (!this.#stopped && (this.#pending || this.#retryDue)) {
      const table = this.#pending;
      this.#pending = null;
      // A table tries every port not yet open, so it stands for a retry that fell due meanwhile.
      this.#retryDue = false;
      try {
        await (table ? this.#apply(table) : this.#retryPorts());
      } catch (err) {
        this.#options.log.warn(`routing mesh: ${describeError(err)}`);
      }
      this.#scheduleRetry();
    }
  }

  /** With ports unopened and no try waiting, sets the next one after the current wait, and doubles the wait. */
  #scheduleRetry(): void {
    if (this.#stopped || this.#unopened.size === 0 || this.#retryTimer || this.#retryDue) return;
    const delay = this.#retryDelayMs;
    this.#retryDelayMs = Math.min(delay * 2, this.#retryMaxMs);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#retryDue = true;
      void this.#run();
    }, delay);
    this.#retryTimer.unref();
  }

  /** Tries the unopened ports again, as the last table wants them; tasks drained since are left out of rotation. */
  async #retryPorts(): Promise<void> {
    for (const key of [...this.#unopened.keys()]) {
      const want = this.#wanted.get(key);
      if (!want) {
        this.#unopened.delete(key);
        continue;
      }
      const entry = await this.#open(key, want);
      entry?.listener.setBackends(want.backends.filter((backend) => !this.#draining.has(backend.taskId)));
    }
  }

  /**
   * Opens published port `key` for `want`, or records why it cannot be (said once until it opens or is no longer
   * wanted). A listener warns of its own listen failure too; that warning is left out, as the controller says it.
   */
  async #open(key: string, want: WantedPort): Promise<{ listener: Listener } | null> {
    const [published, protocol] = key.split('/');
    const { log } = this.#options;
    let listening = false;
    const listenerLog: Logger = {
      debug: (message) => log.debug(message),
      info: (message) => log.info(message),
      warn: (message) => {
        if (listening) log.warn(message);
      },
      error: (message) => log.error(message),
    };
    const listenerOptions = {
      serviceId: want.serviceId,
      publishedPort: Number(published),
      targetPort: want.target,
      peers: this.#options.peers,
      log: listenerLog,
      limits: this.#limits,
      ...(this.#options.host ? { host: this.#options.host } : {}),
    };
    const listener = protocol === 'udp' ? new UdpIngressListener(listenerOptions) : new IngressListener({ ...listenerOptions, proxyProtocol: want.proxyProtocol });
    try {
      await listener.start();
    } catch (err) {
      if (!this.#unopened.has(key)) {
        log.error(
          `routing mesh: cannot open published port ${key} of service ${want.serviceId} on this node: ${describeError(err)}; ` +
            'trying again until it is free (free it, or publish another port)',
        );
      }
      this.#unopened.set(key, { serviceId: want.serviceId, error: listenErrorText(err) });
      return null;
    }
    listening = true;
    const retried = this.#unopened.delete(key);
    const entry = { listener, serviceId: want.serviceId, target: want.target, proxyProtocol: want.proxyProtocol };
    this.#listeners.set(key, entry);
    log.info(`routing mesh: published port ${key} of service ${want.serviceId} open on this node${retried ? ' (it could not be opened before)' : ''}`);
    return entry;
  }

  async #apply(table: MeshTable): Promise<void> {
    const { selfId } = this.#options;
    this.#nodeAddresses = new Map(Object.entries(table.addresses ?? {}));
    this.#members = new Set(table.members ?? []);
    const local = new Map<string, LocalTask>();
    let unresolved = false;
    const wanted = new Map<string, WantedPort>();
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

    this.#wanted = wanted;
    // A port no longer published (or gone with its service) is no longer tried, nor reported.
    for (const key of this.#unopened.keys()) if (!wanted.has(key)) this.#unopened.delete(key);
    for (const [key, entry] of this.#listeners) {
      const want = wanted.get(key);
      if (want && want.serviceId === entry.serviceId && want.target === entry.target && want.proxyProtocol === entry.proxyProtocol) continue;
      this.#listeners.delete(key);
      await entry.listener.stop();
    }
    for (const [key, want] of wanted) {
      const entry = this.#listeners.get(key) ?? (await this.#open(key, want));
      entry?.listener.setBackends(want.backends);
    }
    try {
      await this.#overlay?.apply(table.networks ?? [], this.#draining);
    } catch (err) {
      // The engine did not answer: the next table (or the same one again, below) tries again.
      unresolved = true;
      this.#options.log.warn(`overlay networks: ${describeError(err)}`);
    }
    // A container the engine did not describe is tried again with the next table, even an unchanged one. (A port
    // that could not be opened is tried again on the retry timer.)
    if (unresolved) this.#lastJson = '';
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
