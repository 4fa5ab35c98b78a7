/**
 * One published port in ingress mode: every node listens on it and forwards each client connection to a task of
 * the service, wherever it runs — straight to the container when the task is on this node, over a mesh stream to
 * the task's node otherwise (protocol.ts). The balancer picks the task; a backend that does not accept in time is
 * passed over for the next (a bounded number of attempts), so a task that died moments ago costs the client a
 * retry, not a failed connection.
 *
 * The listener is told which tasks may take connections (setBackends: running, and healthy when they have a
 * healthcheck — the caller decides, from what the agent observes) and which are about to stop (drain). Stopping
 * a task goes: drain it here on every node, wait for drain() (its connections ended, or the grace passed and
 * they were closed), then stop the container.
 *
 * Each listener has its own limits on connections, per client address, buffers and idle time, so a flood of
 * slow or half-open clients on one published port is bounded and never reaches another service's port.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, Socket, type Server } from 'node:net';
import { describeError } from '../errors.ts';
import type { PeerMessage } from '../cluster/peers.ts';
import type { StreamChannel } from '../cluster/mux/stream.ts';
import type { Logger } from '../util/logger.ts';
import { Balancer, type Backend } from './balancer.ts';
import { ChannelStream } from './channel-stream.ts';
import { resolveMeshLimits, type MeshLimits } from './limits.ts';
import { MESH_CONNECT, type MeshConnectRequest } from './protocol.ts';
import type { ProxyAddresses } from './proxy-protocol.ts';
import { connectUpstream, spliceSocketStream, spliceSockets } from './socket-splice.ts';
import type { Splice } from './splice.ts';
import { TaskConnections, type Cuttable } from './task-connections.ts';

/** What the ingress needs of the peer network (PeerNetwork is the implementation). */
export interface StreamOpener {
  openStream(nodeId: string, request: PeerMessage, timeoutMs: number): Promise<{ channel: StreamChannel; reply: unknown }>;
}

export interface IngressOptions {
  serviceId: string;
  /** The published port; 0 picks a free one (tests). */
  publishedPort: number;
  /** Where to listen; every address by default, as Swarm's ingress does. */
  host?: string;
  /** The port the service's containers listen on. */
  targetPort: number;
  /** Send a PROXY protocol v2 header to the backend first, so it sees the client's address. */
  proxyProtocol?: boolean;
  /** The peer network, while this node is in a cluster; null makes remote backends unreachable. */
  peers(): StreamOpener | null;
  limits?: Partial<MeshLimits>;
  log: Logger;
  /** The clock the balancer's rests are measured on. */
  now?: () => number;
  /**
   * Which client addresses may connect; every one by default. An overlay network's listeners take only addresses
   * of that network: a container on another network reaches the node too (it is its gateway), and is refused.
   */
  acceptFrom?: (address: string) => boolean;
}

/** A forwarded connection, for drain and stop. */
class Connection implements Cuttable {
  taskId: string | null = null;
  splice: Splice | null = null;
  readonly client: Socket;
  constructor(client: Socket) {
    this.client = client;
  }
  cut(reason: string): void {
    if (this.splice) this.splice.abort(reason);
    else this.client.destroy();
  }
}

export interface IngressStats {
  connections: number;
  refused: number;
  backends: Array<Backend & { active: number; draining: boolean }>;
}

export class IngressListener {
  readonly #options: IngressOptions;
  readonly #limits: MeshLimits;
  readonly #now: () => number;
  readonly #balancer = new Balancer();
  /** Every client connection, and those counted against a task (being reached or forwarded) by task. */
  readonly #connections = new Set<Connection>();
  readonly #byTask = new TaskConnections<Connection>();
  readonly #perClient = new Map<string, number>();
  #server: Server | null = null;
  #stopped = false;
  #refused = 0;

  constructor(options: IngressOptions) {
    this.#options = options;
    this.#limits = resolveMeshLimits(options.limits);
    this.#now = options.now ?? (() => performance.now());
  }

  async start(): Promise<void> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.#accept(client));
    server.maxConnections = this.#limits.maxConnections;
    server.on('error', (err) => this.#options.log.warn(`ingress port ${this.port} of service ${this.#options.serviceId}: ${describeError(err)}`));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.publishedPort, this.#options.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
  }

  /** The port listened on (the published one, or the one chosen for 0). */
  get port(): number {
    const address = this.#server?.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  /** Stops listening and resets every forwarded connection. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const closed = new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    for (const connection of this.#connections) connection.cut('the published port is closing');
    await closed;
  }

  /** The tasks that may take new connections now, replacing the previous set (counts of those that stay are kept). */
  setBackends(backends: readonly Backend[]): void {
    this.#balancer.replace(backends);
  }

  /**
   * Takes `taskId` out of rotation at once, then resolves when its connections have ended, or when `graceMs`
   * passed — then they are closed. Only after this should its container be stopped.
   */
  drain(taskId: string, graceMs: number): Promise<void> {
    this.#balancer.drain(taskId);
    return this.#byTask.drain(taskId, graceMs);
  }

  stats(): IngressStats {
    return { connections: this.#connections.size, refused: this.#refused, backends: this.#balancer.snapshot() };
  }

  #accept(client: Socket): void {
    client.on('error', () => {}); // Every failure ends in 'close', handled below; an unhandled 'error' would end the daemon.
    const clientAddress = client.remoteAddress ?? '?';
    const fromClient = this.#perClient.get(clientAddress) ?? 0;
    const admitted = !this.#options.acceptFrom || this.#options.acceptFrom(clientAddress);
    if (this.#stopped || !admitted || fromClient >= this.#limits.maxConnectionsPerClient) {
      this.#refused++;
      client.destroy();
      return;
    }
    this.#perClient.set(clientAddress, fromClient + 1);
    client.setNoDelay(true);
    const connection = new Connection(client);
    this.#connections.add(connection);
    client.once('close', () => {
      const left = (this.#perClient.get(clientAddress) ?? 1) - 1;
      if (left > 0) this.#perClient.set(clientAddress, left);
      else this.#perClient.delete(clientAddress);
    });
    void this.#forward(connection);
  }

  /** Reaches a backend (trying others when one fails), then joins the client to it until both are done. */
  async #forward(connection: Connection): Promise<void> {
    const { client } = connection;
    const proxy = this.#options.proxyProtocol ? proxyAddresses(client) : undefined;
    const tried = new Set<string>();
    let upstream: Socket | ChannelStream | null = null;
    // Until a backend is reached, a client that goes away only needs its attempt abandoned.
    let gone = false;
    const onGone = () => (gone = true);
    client.once('close', onGone);
    const connectTimer = setTimeout(() => client.destroy(), this.#limits.connectTimeoutMs * this.#limits.maxAttempts);
    // When no task takes the connection, the tasks are tried again after a pause, for up to one connect timeout: a
    // task may be running but not listening yet (the one replacing the last in an update), or be on its way.
    // Retrying a connect is safe: the client's bytes have reached no task.
    const waitUntil = performance.now() + this.#limits.connectTimeoutMs;
    let pause = 25;
    try {
      while (!upstream && !gone) {
        const backend = tried.size < this.#limits.maxAttempts ? this.#balancer.pick(this.#now(), tried) : null;
        if (!backend) {
          const left = waitUntil - performance.now();
          if (left <= 0) break;
          await sleep(Math.min(pause, left));
          pause = Math.min(pause * 2, 400);
          tried.clear();
          continue;
        }
        tried.add(backend.taskId);
        // Counted against the task from now: a drain that starts while it is being reached waits for it too.
        connection.taskId = backend.taskId;
        this.#byTask.add(backend.taskId, connection);
        try {
          upstream = await this.#reach(backend, proxy);
        } catch (err) {
          connection.taskId = null;
          this.#byTask.delete(backend.taskId, connection);
          this.#balancer.release(backend.taskId);
          this.#balancer.failed(backend.taskId, this.#now());
          this.#options.log.debug(`ingress port ${this.port}: task ${backend.taskId} on node ${backend.nodeId} did not accept a connection: ${describeError(err)}`);
        }
      }
    } finally {
      clearTimeout(connectTimer);
      client.off('close', onGone);
    }
    if (!upstream || gone || client.destroyed) {
      upstream?.destroy();
      this.#connections.delete(connection);
      if (connection.taskId) {
        this.#balancer.release(connection.taskId);
        this.#byTask.delete(connection.taskId, connection);
      }
      if (!upstream && !gone) this.#options.log.debug(`ingress port ${this.port} of service ${this.#options.serviceId}: no task took a connection within ${this.#limits.connectTimeoutMs} ms`);
      client.destroy();
      return;
    }
    const taskId = connection.taskId!;
    const options = { idleTimeoutMs: this.#limits.idleTimeoutMs, maxBufferedBytes: this.#limits.maxBufferedBytes };
    // A local container's socket is spliced socket to socket, a mesh stream to another node socket to stream
    // (socket-splice.ts).
    connection.splice = upstream instanceof Socket ? spliceSockets(client, upstream, options) : spliceSocketStream(client, upstream, options);
    client.resume();
    await connection.splice.done;
    this.#balancer.release(taskId);
    this.#connections.delete(connection);
    this.#byTask.delete(taskId, connection);
  }

  /** A byte stream to `backend`'s container port, accepted (and, when asked for, its PROXY header written). */
  async #reach(backend: Backend, proxy: ProxyAddresses | undefined): Promise<Socket | ChannelStream> {
    const { connectTimeoutMs, maxBufferedBytes } = this.#limits;
    if (backend.address !== null) return connectUpstream(backend.address, this.#options.targetPort, connectTimeoutMs, proxy);
    const peers = this.#options.peers();
    if (!peers) throw new Error(`node ${backend.nodeId} cannot be reached: this node is in no cluster`);
    const request: MeshConnectRequest = { type: MESH_CONNECT, serviceId: this.#options.serviceId, taskId: backend.taskId, port: this.#options.targetPort };
    if (proxy) request.proxy = proxy;
    const { channel } = await peers.openStream(backend.nodeId, request, connectTimeoutMs);
    return new ChannelStream(channel, maxBufferedBytes);
  }
}

/** The client's address and the address it connected to, for a PROXY header. */
function proxyAddresses(client: Socket): ProxyAddresses | undefined {
  const { remoteAddress, remotePort, localAddress, localPort } = client;
  if (!remoteAddress || remotePort === undefined || !localAddress || localPort === undefined) return undefined;
  return { source: { address: remoteAddress, port: remotePort }, destination: { address: localAddress, port: localPort } };
}
