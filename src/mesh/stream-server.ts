/**
 * The task's end of a mesh stream: a node serves `mesh.connect` for its own tasks only. The request names a
 * service, a task and a port; the lookup (the agent's view of this node's containers) must confirm that the task
 * runs here, for that service, and exposes that port — otherwise the request is refused, so a peer can never use
 * the mesh to reach another address, container or port on this machine. Then the node connects to the container,
 * writes the PROXY header when asked for one, and only then accepts, so a container that refuses lets the ingress
 * try another task.
 *
 * Every connection it forwards is counted against its task, so that a task about to stop can be drained here, on
 * its own node, whichever node's ingress the clients came in through (drain()).
 */

import type { Socket } from 'node:net';
import * as v from 'valibot';
import { invalidArgument, notFound } from '../errors.ts';
import type { PeerMessage } from '../cluster/peers.ts';
import type { StreamChannel } from '../cluster/mux/stream.ts';
import type { Logger } from '../util/logger.ts';
import { ChannelStream } from './channel-stream.ts';
import { resolveMeshLimits, type MeshLimits } from './limits.ts';
import { connectRequestSchema, MESH_CONNECT } from './protocol.ts';
import { connectUpstream, spliceSocketStream } from './socket-splice.ts';
import type { Splice } from './splice.ts';
import { TaskConnections } from './task-connections.ts';

/** What the stream server needs of the peer network (PeerNetwork is the implementation). */
export interface StreamServing {
  serveStreams(type: string, handler: (request: PeerMessage, channel: StreamChannel) => Promise<unknown> | unknown): void;
}

/**
 * The container address of `taskId` when it is a running task of `serviceId` on this node that listens on
 * `port` (a target port of one of the service's published ports); null otherwise.
 */
export type LocalTaskLookup = (serviceId: string, taskId: string, port: number) => string | null;

export interface MeshStreamServerOptions {
  lookup: LocalTaskLookup;
  limits?: Partial<MeshLimits>;
  log: Logger;
}

export class MeshStreamServer {
  readonly #options: MeshStreamServerOptions;
  readonly #limits: MeshLimits;
  readonly #byTask = new TaskConnections<{ cut(reason: string): void }>();

  constructor(options: MeshStreamServerOptions) {
    this.#options = options;
    this.#limits = resolveMeshLimits(options.limits);
  }

  /** Serves this node's tasks to the ingress of every node over `peers`. */
  serve(peers: StreamServing): void {
    peers.serveStreams(MESH_CONNECT, (request, channel) => this.#serve(request, channel));
  }

  /**
   * Resolves when the connections forwarded to `taskId` have ended, or after `graceMs` (then they are reset). The
   * caller's lookup must refuse the task from now on, so no new one arrives.
   */
  drain(taskId: string, graceMs: number): Promise<void> {
    return this.#byTask.drain(taskId, graceMs);
  }

  /** Connections forwarded to `taskId` now. */
  connections(taskId: string): number {
    return this.#byTask.count(taskId);
  }

  async #serve(request: PeerMessage, channel: StreamChannel): Promise<unknown> {
    const parsed = v.safeParse(connectRequestSchema, request);
    if (!parsed.success) throw invalidArgument(`a malformed mesh connection request: ${parsed.issues[0].message}`);
    const { serviceId, taskId, port, proxy } = parsed.output;
    const address = this.#options.lookup(serviceId, taskId, port);
    if (address === null) throw notFound(`task ${taskId} of service ${serviceId} does not run on this node with port ${port}: the mesh connection is refused`);
    // Counted from here, while the container is being reached: a drain that starts meanwhile waits for it too.
    let forwarded: Splice | null = null;
    let cutBefore: string | null = null;
    const counted = { cut: (reason: string) => (forwarded ? forwarded.abort(reason) : (cutBefore = reason)) };
    this.#byTask.add(taskId, counted);
    let container: Socket;
    try {
      container = await connectUpstream(address, port, this.#limits.connectTimeoutMs, proxy);
    } catch (err) {
      this.#byTask.delete(taskId, counted);
      throw err;
    }
    if (channel.closed || cutBefore !== null) {
      container.destroy();
      this.#byTask.delete(taskId, counted);
      throw new Error(cutBefore ?? 'the mesh stream closed while the container was being reached');
    }
    const stream = new ChannelStream(channel, this.#limits.maxBufferedBytes);
    const spliced = spliceSocketStream(container, stream, { idleTimeoutMs: this.#limits.idleTimeoutMs, maxBufferedBytes: this.#limits.maxBufferedBytes });
    forwarded = spliced;
    void spliced.done.then(({ clean, reason }) => {
      this.#byTask.delete(taskId, counted);
      if (!clean) this.#options.log.debug(`mesh connection from node ${channel.peer.nodeId} to task ${taskId} reset: ${reason}`);
    });
    return { ok: true };
  }
}
