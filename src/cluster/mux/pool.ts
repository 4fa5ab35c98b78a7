/**
 * MuxPool keeps the muxes of a node: one per peer node, dialled when first needed (concurrent opens share the
 * dial), reused while open, replaced when it closes. The dialled side announces the channel as a mux with its first
 * request (muxPoolOver: a PeerNetwork stream of type 'mux'), and the serving side adopts it into its own pool, so
 * one connection carries streams both ways: half the connections and handshakes, and a node that only ever
 * answers still has a warm mux when it first needs to open a stream. Two nodes that dial each other at the same
 * moment end up with two muxes; both are used and neither is closed for being a duplicate, as with control
 * channels. A mux full of streams (or out of stream ids) makes the pool dial another, up to a few per peer.
 */

import { invalidArgument, unavailable } from '../../errors.ts';
import { RemoteError, TransportError, type SecureChannel } from '../../transport/endpoint.ts';
import type { Logger } from '../../util/logger.ts';
import type { PeerMessage } from '../peers.ts';
import { StreamMux, type MuxStreamHandler } from './mux.ts';
import type { StreamChannel } from './stream.ts';
import { MUX_VERSION } from './wire.ts';

/** The stream type a dialled bulk channel announces itself with, to become a mux at the serving node. */
export const MUX_STREAM_TYPE = 'mux';
export const DEFAULT_MAX_MUXES_PER_PEER = 4;
const MAX_DIAL_BACKOFF_MS = 2_000;
/** How long a node that refused a mux gets the fallback before the pool tries a mux with it again (it may have been upgraded). */
const FALLBACK_FOR_MS = 60_000;

export interface MuxPoolOptions {
  /** This node's ID: it does not dial itself. */
  selfId: string;
  /**
   * A bulk channel to `nodeId` whose serving node has adopted it as a mux (muxPoolOver announces it with a 'mux'
   * stream request), within `timeoutMs`.
   */
  dial(nodeId: string, timeoutMs: number): Promise<SecureChannel>;
  log: Logger;
  /** Per mux and direction. */
  maxStreams?: number;
  /** Muxes dialled to one node when the first is full. */
  maxMuxesPerPeer?: number;
  dialTimeoutMs?: number;
  /**
   * How to open a stream to a node that answered but would not take a mux (it runs a version without one, or
   * another wire version): a channel of its own, say. Without it, such a node's streams fail.
   */
  fallback?(nodeId: string, request: PeerMessage, timeoutMs: number): Promise<PooledStream>;
}

/** A stream opened through the pool, shaped like PeerNetwork's OpenedStream so callers switch without change. */
export interface PooledStream {
  channel: StreamChannel;
  reply: unknown;
}

/**
 * The muxes of this node, by peer. Its openStream and serveStreams match PeerNetwork's, so the mesh (and the log
 * streams) can take either.
 */
export class MuxPool {
  readonly #options: MuxPoolOptions;
  readonly #handlers = new Map<string, MuxStreamHandler>();
  readonly #muxes = new Map<string, StreamMux[]>();
  readonly #dialing = new Map<string, Promise<StreamMux>>();
  readonly #backoff = new Map<string, { until: number; delay: number }>();
  /** Nodes that refused a mux, until when they get the fallback. */
  readonly #refusedMux = new Map<string, number>();
  #stopped = false;

  constructor(options: MuxPoolOptions) {
    this.#options = options;
  }

  /** Serves streams of `type` that peers open on any mux with this node. */
  serveStreams(type: string, handler: MuxStreamHandler): void {
    this.#handlers.set(type, handler);
  }

  /**
   * Opens a stream to `nodeId` on a mux, dialling one first when none is up (or all are full). Resolves once the
   * serving node's handler accepted; rejects, leaving nothing open, when the node cannot be reached, refuses, or
   * the whole takes longer than `timeoutMs`. The caller closes the stream when done with it.
   */
  async openStream(nodeId: string, request: PeerMessage, timeoutMs: number): Promise<PooledStream> {
    if (this.#stopped) throw unavailable('the stream pool is stopped: the node is leaving the cluster');
    if (nodeId === this.#options.selfId) throw invalidArgument(`node ${nodeId} is this node: it does not dial itself`);
    const deadline = performance.now() + timeoutMs;
    const left = () => Math.max(1, Math.round(deadline - performance.now()));
    // A fresh mux may be filled by the openers that waited for it along with this one; then another is dialled.
    const { fallback } = this.#options;
    for (let attempt = 0; attempt < 3; attempt++) {
      let mux = this.#usable(nodeId);
      if (!mux) {
        if (fallback && performance.now() < (this.#refusedMux.get(nodeId) ?? -Infinity)) return fallback(nodeId, request, left());
        try {
          mux = await this.#connect(nodeId, left());
        } catch (err) {
          // The node answered, and would not take a mux: an older version, during a rolling upgrade.
          if (fallback && err instanceof RemoteError) return fallback(nodeId, request, left());
          throw err;
        }
      }
      if (!mux.canOpen) continue;
      const { stream, reply } = await mux.open(request, left());
      return { channel: stream, reply };
    }
    throw unavailable(`every stream mux with node ${nodeId} filled up while this stream waited: try again`);
  }

  /** Takes an incoming bulk channel that announced itself as a mux: its streams go both ways from now on. */
  adopt(channel: SecureChannel): StreamMux {
    if (this.#stopped) {
      channel.close('the node is stopping');
      throw unavailable('the stream pool is stopped: the node is leaving the cluster');
    }
    this.#options.log.debug(`stream mux with node ${channel.peer.nodeId} adopted`);
    return this.#add(channel, false);
  }

  /** Muxes and the streams on them, both ways. */
  stats(): { muxes: number; streams: number } {
    let muxes = 0;
    let streams = 0;
    for (const list of this.#muxes.values()) {
      for (const mux of list) {
        const { local, remote } = mux.stats();
        muxes++;
        streams += local + remote;
      }
    }
    return { muxes, streams };
  }

  /** Closes every mux (and so every stream) and opens no more. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const list of [...this.#muxes.values()]) for (const mux of [...list]) mux.close('the node is stopping');
    this.#muxes.clear();
  }

  /** The oldest mux with room: new streams keep to one while it has room, so the others can go idle. */
  #usable(nodeId: string): StreamMux | undefined {
    return this.#muxes.get(nodeId)?.find((mux) => mux.canOpen);
  }

  /** A new mux to `nodeId`, sharing a dial already under way; waits at most `waitMs` for it. */
  async #connect(nodeId: string, waitMs: number): Promise<StreamMux> {
    const limit = this.#options.maxMuxesPerPeer ?? DEFAULT_MAX_MUXES_PER_PEER;
    const open = (this.#muxes.get(nodeId) ?? []).filter((mux) => !mux.closed).length;
    let dialing = this.#dialing.get(nodeId);
    if (!dialing) {
      if (open >= limit) throw unavailable(`the ${open} stream muxes with node ${nodeId} are full: try again when some of their streams end`);
      const backoff = this.#backoff.get(nodeId);
      if (backoff && performance.now() < backoff.until) throw unavailable(`node ${nodeId} was unreachable moments ago; retrying shortly`);
      dialing = this.#dial(nodeId).finally(() => this.#dialing.delete(nodeId));
      this.#dialing.set(nodeId, dialing);
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TransportError('timeout', `no stream mux with node ${nodeId} within ${waitMs} ms`)), waitMs);
    });
    try {
      return await Promise.race([dialing, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #dial(nodeId: string): Promise<StreamMux> {
    try {
      const channel = await this.#options.dial(nodeId, this.#options.dialTimeoutMs ?? 3_000);
      if (channel.peer.nodeId !== nodeId) {
        channel.close('not the node that was dialled');
        throw new Error(`the channel dialled to node ${nodeId} reached node ${channel.peer.nodeId}`);
      }
      if (this.#stopped) {
        channel.close('the node is stopping');
        throw unavailable('the stream pool is stopped: the node is leaving the cluster');
      }
      this.#backoff.delete(nodeId);
      this.#refusedMux.delete(nodeId);
      this.#options.log.debug(`stream mux with node ${nodeId} dialled`);
      return this.#add(channel, true);
    } catch (err) {
      if (err instanceof RemoteError) {
        this.#options.log.info(`node ${nodeId} did not take a stream mux (${err.message}); its streams get channels of their own for ${FALLBACK_FOR_MS / 1000} s`);
        this.#refusedMux.set(nodeId, performance.now() + FALLBACK_FOR_MS);
        throw err;
      }
      const delay = Math.min(MAX_DIAL_BACKOFF_MS, (this.#backoff.get(nodeId)?.delay ?? 25) * 2);
      this.#backoff.set(nodeId, { until: performance.now() + delay, delay });
      throw err;
    }
  }

  #add(channel: SecureChannel, initiator: boolean): StreamMux {
    const nodeId = channel.peer.nodeId;
    const mux = new StreamMux(channel, { initiator, log: this.#options.log, ...(this.#options.maxStreams ? { maxStreams: this.#options.maxStreams } : {}) });
    mux.serve(this.#handlers);
    this.#muxes.set(nodeId, [...(this.#muxes.get(nodeId) ?? []).filter((m) => !m.closed), mux]);
    mux.onClose(() => {
      const rest = (this.#muxes.get(nodeId) ?? []).filter((m) => m !== mux && !m.closed);
      if (rest.length > 0) this.#muxes.set(nodeId, rest);
      else this.#muxes.delete(nodeId);
    });
    return mux;
  }
}

/** What muxPoolOver needs of the peer network (PeerNetwork is the implementation). */
export interface MuxCarrier {
  openStream(nodeId: string, request: PeerMessage, timeoutMs: number): Promise<{ channel: SecureChannel; reply: unknown }>;
  serveStreams(type: string, handler: (request: PeerMessage, channel: SecureChannel) => Promise<unknown> | unknown): void;
}

/**
 * A pool whose muxes are PeerNetwork bulk channels: dialled as a stream of type 'mux', and adopted when a peer
 * dials this node the same way. The channels are PeerNetwork's, so its stop() closes them too. A node that refuses
 * the mux (an older version) gets a channel per stream, as before.
 */
export function muxPoolOver(peers: MuxCarrier, options: Omit<MuxPoolOptions, 'dial'>): MuxPool {
  const pool = new MuxPool({
    ...options,
    dial: async (nodeId, timeoutMs) => (await peers.openStream(nodeId, { type: MUX_STREAM_TYPE, version: MUX_VERSION }, timeoutMs)).channel,
    fallback: (nodeId, request, timeoutMs) => peers.openStream(nodeId, request, timeoutMs),
  });
  peers.serveStreams(MUX_STREAM_TYPE, (request, channel) => {
    if (request.version !== MUX_VERSION) {
      throw invalidArgument(`node ${options.selfId} speaks stream mux version ${MUX_VERSION}, not ${String(request.version).slice(0, 20)}: run the same swarmlet version on both nodes`);
    }
    pool.adopt(channel);
    return { version: MUX_VERSION };
  });
  return pool;
}
