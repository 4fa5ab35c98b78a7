/**
 * One published UDP port in ingress mode: every node listens on it and forwards each flow — the datagrams of one
 * client address and port — to a task of the service, wherever it runs: through a UDP socket connected to the
 * container when the task is on this node, over a mesh stream of its own to the task's node otherwise (protocol.ts,
 * udp-relay.ts). The flow's first datagram picks the task with the same balancer as TCP (a flow counts as one
 * connection while it lives); the rest follow it there, and the task's answers go back to the client from the
 * published port's socket, so the client sees one peer whatever task answered.
 *
 * UDP has no connection to end, so a flow ends when it has been quiet for a while, the way Linux conntrack (and so
 * the NAT in front of most clients) forgets one: 30 s for a flow never answered or answered only in its first two
 * seconds (a DNS-style exchange, a probe, a spoofed source), 120 s for one that kept going both ways (limits.ts).
 * It also ends when its task is drained and the grace runs out, or leaves the backend table (a task that stopped
 * or turned unhealthy): its datagrams would go nowhere, while the client's next one starts a flow to a live task.
 *
 * A task that cannot be reached — its node refuses or does not answer, or the container's address answers ICMP
 * port unreachable (ECONNREFUSED on the connected socket, at either end) before it ever answered — is rested, as
 * for TCP, and the flow moves to the next task, taking with it the datagrams it had sent, which are held until the
 * task answers or connectTimeoutMs passes. A task that dies later ends its flows; their next datagrams start anew.
 *
 * Everything a hostile or broken client can make this hold is bounded per published port, apart from every other
 * port: flows in all and per client address (datagrams that would start more are dropped), datagrams held per flow
 * and bytes held across flows, and what may wait on each socket or stream (more is dropped, as a full socket buffer
 * drops it: nothing queues without bound). Every drop is counted by reason in stats().
 */

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { describeError } from '../errors.ts';
import type { Logger } from '../util/logger.ts';
import { Balancer, type Backend } from './balancer.ts';
import { ChannelStream } from './channel-stream.ts';
import { connectDatagram, socketLink, streamLink, type DatagramLink, type LinkHandlers } from './datagram-link.ts';
import type { StreamOpener } from './ingress.ts';
import { resolveMeshLimits, type MeshLimits } from './limits.ts';
import { MAX_DATAGRAM_BYTES, MESH_UDP, type MeshUdpRequest } from './protocol.ts';

export type { StreamOpener } from './ingress.ts';

export interface UdpIngressOptions {
  serviceId: string;
  /** The published port; 0 picks a free one (tests). */
  publishedPort: number;
  /** Where to listen; every IPv4 address by default, as the TCP ingress does. */
  host?: string;
  /** The port the service's containers listen on. */
  targetPort: number;
  /** The peer network, while this node is in a cluster; null makes remote backends unreachable. */
  peers(): StreamOpener | null;
  limits?: Partial<MeshLimits>;
  log: Logger;
  /** The clock the balancer's rests are measured on. */
  now?: () => number;
  /** Which client addresses may start flows; every one by default (an overlay network's: only its own). */
  acceptFrom?: (address: string) => boolean;
}

/** Why a datagram was dropped: each has its own counter in stats(). */
export const UDP_DROP_REASONS = [
  /** Over the largest UDP payload a container could be sent (an IPv6 client can send a little more). */
  'oversized',
  /** It would have started a flow over udpMaxFlows. */
  'flowLimit',
  /** It would have started a flow over udpMaxFlowsPerClient. */
  'clientLimit',
  /** Its flow's backend was still being reached and its queue (udpFlowQueue, udpQueuedBytes) was full. */
  'queueFull',
  /** No task took its flow. */
  'noBackend',
  /** From an address the listener does not serve (another overlay network's). */
  'notAdmitted',
  /** The socket or stream it was to leave by had a full backlog, or failed to send it. */
  'backlog',
] as const;
export type UdpDropReason = (typeof UDP_DROP_REASONS)[number];

export interface UdpIngressStats {
  flows: number;
  /** Datagrams dropped since start, by reason. */
  dropped: Record<UdpDropReason, number>;
  backends: Array<Backend & { active: number; draining: boolean }>;
}

/** A flow that was answered and is still going this long after it began is a stream, with the longer timeout. */
const STREAM_AFTER_MS = 2_000;

interface Flow {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly startedAt: number;
  lastActivity: number;
  /** The task it is counted against: the one reached or being reached; null between tasks. */
  taskId: string | null;
  /** Null while a task is being reached. */
  link: DatagramLink | null;
  /**
   * Datagrams held while a task is being reached, then (sent, and still held) until the task proves alive — it
   * answered, or connectTimeoutMs passed — so that they can go to the next one if it turns out to be gone.
   */
  held: Buffer[];
  heldBytes: number;
  confirmed: boolean;
  repliedAt: number | null;
  readonly tried: Set<string>;
  idleTimer: NodeJS.Timeout | undefined;
  confirmTimer: NodeJS.Timeout | undefined;
  closed: boolean;
}

export class UdpIngressListener {
  readonly #options: UdpIngressOptions;
  readonly #limits: MeshLimits;
  readonly #now: () => number;
  readonly #balancer = new Balancer();
  readonly #flows = new Map<string, Flow>();
  readonly #perClient = new Map<string, number>();
  /** Flows' ends that drains wait for, by task. */
  readonly #endWaiters = new Map<string, Set<() => void>>();
  readonly #dropped = Object.fromEntries(UDP_DROP_REASONS.map((reason) => [reason, 0])) as Record<UdpDropReason, number>;
  #heldBytes = 0;
  #socket: Socket | null = null;
  #port = 0;
  #stopped = false;
  /** The published socket's send callback: a reply that failed to go out is a drop. */
  readonly #sent = (err: Error | null) => {
    if (err) this.#dropped.backlog++;
  };

  constructor(options: UdpIngressOptions) {
    this.#options = options;
    this.#limits = resolveMeshLimits(options.limits);
    this.#now = options.now ?? (() => performance.now());
  }

  async start(): Promise<void> {
    const host = this.#options.host ?? '0.0.0.0';
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: this.#options.publishedPort, address: host }, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      socket.close();
      throw err;
    });
    socket.on('error', (err) => this.#options.log.warn(`ingress port ${this.port}/udp of service ${this.#options.serviceId}: ${describeError(err)}`));
    socket.on('message', (datagram, client) => this.#received(datagram, client));
    this.#socket = socket;
    this.#port = socket.address().port;
  }

  /** The port listened on (the published one, or the one chosen for 0). */
  get port(): number {
    return this.#port;
  }

  /** Stops listening and ends every flow. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const flow of [...this.#flows.values()]) this.#close(flow);
    const socket = this.#socket;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  /**
   * The tasks that may take new flows now, replacing the previous set (counts of those that stay are kept). Flows
   * of a task that left the set end: it stopped or turned unhealthy, and the client's next datagram finds another.
   */
  setBackends(backends: readonly Backend[]): void {
    this.#balancer.replace(backends);
    const kept = new Set(backends.map((backend) => backend.taskId));
    for (const flow of [...this.#flows.values()]) if (flow.taskId !== null && !kept.has(flow.taskId)) this.#close(flow);
  }

  /**
   * Takes `taskId` out of rotation at once, then resolves when its flows have ended (gone quiet), or when `graceMs`
   * passed — then they are ended. Only after this should its container be stopped.
   */
  async drain(taskId: string, graceMs: number): Promise<void> {
    this.#balancer.drain(taskId);
    const open = () => [...this.#flows.values()].filter((flow) => flow.taskId === taskId);
    if (open().length === 0) return;
    await new Promise<void>((resolve) => {
      const waiters = this.#endWaiters.get(taskId) ?? new Set();
      this.#endWaiters.set(taskId, waiters);
      const finish = () => {
        clearTimeout(timer);
        waiters.delete(check);
        if (waiters.size === 0) this.#endWaiters.delete(taskId);
        resolve();
      };
      const check = () => {
        if (open().length === 0) finish();
      };
      const timer = setTimeout(() => {
        for (const flow of open()) this.#close(flow);
        finish();
      }, graceMs);
      waiters.add(check);
    });
  }

  stats(): UdpIngressStats {
    return { flows: this.#flows.size, dropped: { ...this.#dropped }, backends: this.#balancer.snapshot() };
  }

  #received(datagram: Buffer, client: RemoteInfo): void {
    if (this.#stopped) return;
    if (datagram.length > MAX_DATAGRAM_BYTES) return void this.#dropped.oversized++;
    let flow = this.#flows.get(`${client.address}:${client.port}`);
    if (flow) {
      flow.lastActivity = performance.now();
      return this.#forward(flow, datagram);
    }
    if (this.#options.acceptFrom && !this.#options.acceptFrom(client.address)) return void this.#dropped.notAdmitted++;
    const fromClient = this.#perClient.get(client.address) ?? 0;
    if (this.#flows.size >= this.#limits.udpMaxFlows) return void this.#dropped.flowLimit++;
    if (fromClient >= this.#limits.udpMaxFlowsPerClient) return void this.#dropped.clientLimit++;
    this.#perClient.set(client.address, fromClient + 1);
    flow = this.#newFlow(client);
    this.#flows.set(flow.key, flow);
    this.#forward(flow, datagram);
    void this.#reach(flow);
  }

  #newFlow(client: RemoteInfo): Flow {
    const now = performance.now();
    const flow: Flow = {
      key: `${client.address}:${client.port}`,
      address: client.address,
      port: client.port,
      startedAt: now,
      lastActivity: now,
      taskId: null,
      link: null,
      held: [],
      heldBytes: 0,
      confirmed: false,
      repliedAt: null,
      tried: new Set(),
      idleTimer: undefined,
      confirmTimer: undefined,
      closed: false,
    };
    this.#armIdle(flow, this.#limits.udpFlowTimeoutMs);
    return flow;
  }

  /** A client's datagram: to its task, or held while the task is being reached. */
  #forward(flow: Flow, datagram: Buffer): void {
    if (flow.link === null) {
      if (!this.#hold(flow, datagram)) this.#dropped.queueFull++;
      return;
    }
    if (!flow.link.send(datagram)) return void this.#dropped.backlog++;
    // Sent; also kept, when there is room, in case the task turns out to be gone.
    if (!flow.confirmed) this.#hold(flow, datagram);
  }

  #hold(flow: Flow, datagram: Buffer): boolean {
    if (flow.held.length >= this.#limits.udpFlowQueue || this.#heldBytes + datagram.length > this.#limits.udpQueuedBytes) return false;
    flow.held.push(datagram);
    flow.heldBytes += datagram.length;
    this.#heldBytes += datagram.length;
    return true;
  }

  #unhold(flow: Flow): void {
    this.#heldBytes -= flow.heldBytes;
    flow.held = [];
    flow.heldBytes = 0;
  }

  /** Reaches a task for `flow` (trying others when one fails), then sends what the flow held. */
  async #reach(flow: Flow): Promise<void> {
    while (!flow.closed && flow.tried.size < this.#limits.maxAttempts) {
      const backend = this.#balancer.pick(this.#now(), flow.tried);
      if (!backend) break;
      flow.tried.add(backend.taskId);
      // Counted against the task from now: a drain that starts while it is being reached waits for it too.
      flow.taskId = backend.taskId;
      let link: DatagramLink;
      try {
        link = await this.#connect(backend, flow);
      } catch (err) {
        if (flow.closed) return;
        this.#leave(flow, backend.taskId);
        this.#options.log.debug(`ingress port ${this.port}/udp: task ${backend.taskId} on node ${backend.nodeId} did not take a flow: ${describeError(err)}`);
        continue;
      }
      if (flow.closed) return link.close();
      flow.link = link;
      for (const datagram of flow.held) if (!link.send(datagram)) this.#dropped.backlog++;
      flow.confirmTimer = setTimeout(() => this.#confirm(flow), this.#limits.connectTimeoutMs).unref();
      return;
    }
    if (flow.closed) return;
    this.#options.log.debug(`ingress port ${this.port}/udp of service ${this.#options.serviceId}: no task took a flow after ${flow.tried.size} attempts`);
    this.#dropped.noBackend += flow.held.length;
    this.#close(flow);
  }

  /** A link to `backend` for `flow`: a socket connected to the container, or a mesh stream to its node. */
  async #connect(backend: Backend, flow: Flow): Promise<DatagramLink> {
    const { connectTimeoutMs, maxBufferedBytes } = this.#limits;
    const handlers: LinkHandlers = {
      onDatagram: (datagram) => this.#reply(flow, datagram),
      onEnd: (reason) => this.#linkEnded(flow, backend, reason),
      onDropped: () => this.#dropped.backlog++,
    };
    if (backend.address !== null) return socketLink(await connectDatagram(backend.address, this.#options.targetPort, connectTimeoutMs), handlers);
    const peers = this.#options.peers();
    if (!peers) throw new Error(`node ${backend.nodeId} cannot be reached: this node is in no cluster`);
    const request: MeshUdpRequest = { type: MESH_UDP, serviceId: this.#options.serviceId, taskId: backend.taskId, port: this.#options.targetPort };
    const { channel } = await peers.openStream(backend.nodeId, request, connectTimeoutMs);
    return streamLink(new ChannelStream(channel, maxBufferedBytes), handlers);
  }

  /** A task's datagram for the flow's client, sent from the published port. */
  #reply(flow: Flow, datagram: Buffer): void {
    if (flow.closed) return;
    flow.lastActivity = performance.now();
    if (flow.repliedAt === null) {
      flow.repliedAt = flow.lastActivity;
      this.#confirm(flow);
    }
    const socket = this.#socket!;
    if (socket.getSendQueueSize() > this.#limits.maxBufferedBytes) return void this.#dropped.backlog++;
    socket.send(datagram, flow.port, flow.address, this.#sent);
  }

  /** The task proved alive: what the flow held for a replay can go. */
  #confirm(flow: Flow): void {
    flow.confirmed = true;
    clearTimeout(flow.confirmTimer);
    this.#unhold(flow);
  }

  /** The flow's link ended by itself: its task is gone or going. Before it answered, the flow moves on. */
  #linkEnded(flow: Flow, backend: Backend, reason: string): void {
    if (flow.closed || flow.taskId !== backend.taskId || flow.link === null) return;
    this.#options.log.debug(`ingress port ${this.port}/udp: a flow's task ${backend.taskId} on node ${backend.nodeId} went away: ${reason}`);
    if (flow.confirmed) {
      this.#balancer.failed(backend.taskId, this.#now());
      return this.#close(flow);
    }
    clearTimeout(flow.confirmTimer);
    flow.link = null;
    this.#leave(flow, backend.taskId);
    void this.#reach(flow);
  }

  /** The flow no longer counts against `taskId`, which failed it: rest the task, and tell a drain waiting for it. */
  #leave(flow: Flow, taskId: string): void {
    flow.taskId = null;
    this.#balancer.release(taskId);
    this.#balancer.failed(taskId, this.#now());
    this.#ended(taskId);
  }

  #armIdle(flow: Flow, ms: number): void {
    flow.idleTimer = setTimeout(() => {
      const timeout = this.#timeoutOf(flow);
      const quiet = performance.now() - flow.lastActivity;
      if (quiet >= timeout) this.#close(flow);
      else this.#armIdle(flow, timeout - quiet);
    }, ms).unref();
  }

  /** conntrack's rule: answered, and still going after its first seconds, a flow is a stream and is kept longer. */
  #timeoutOf(flow: Flow): number {
    const stream = flow.repliedAt !== null && flow.lastActivity - flow.startedAt >= STREAM_AFTER_MS;
    return stream ? this.#limits.udpStreamTimeoutMs : this.#limits.udpFlowTimeoutMs;
  }

  #close(flow: Flow): void {
    if (flow.closed) return;
    flow.closed = true;
    clearTimeout(flow.idleTimer);
    clearTimeout(flow.confirmTimer);
    flow.link?.close();
    this.#unhold(flow);
    this.#flows.delete(flow.key);
    const left = (this.#perClient.get(flow.address) ?? 1) - 1;
    if (left > 0) this.#perClient.set(flow.address, left);
    else this.#perClient.delete(flow.address);
    if (flow.taskId !== null) {
      this.#balancer.release(flow.taskId);
      this.#ended(flow.taskId);
    }
  }

  /** A flow of `taskId` is over (or went elsewhere): a drain waiting for it may be done. */
  #ended(taskId: string): void {
    for (const check of this.#endWaiters.get(taskId) ?? []) check();
  }
}
