/**
 * Many streams over one bulk channel between two nodes, as HTTP/2 carries many requests over one connection.
 * PeerNetwork.openStream dials a channel per stream — a TCP connection, a WebSocket and a handshake each — which
 * measured +35 ms per forwarded connection across hosts and capped new ones at the transport's handshake rate
 * (20/s from one address). A StreamMux runs on a bulk channel that stays up; opening a stream on it is one round
 * trip of two small messages (the wire format is in wire.ts, a stream as its user sees it in stream.ts).
 *
 * Either side may open streams; the other side's handler for the request's `type` accepts (its return value is
 * the opener's reply) or refuses (its throw's message goes back), as with PeerNetwork.serveStreams. Nothing stays
 * open after a refusal or a timeout. A mux whose ids are used up opens no more streams and closes once its last
 * stream ends; the pool (pool.ts) dials a fresh one.
 *
 * Backpressure: streams share the channel's send buffer. While the channel is over its high-water mark the mux
 * holds further data frames in its own queue instead of handing them to the channel (whose stall guard would
 * otherwise trip when a thousand streams each add a chunk), a stream's sendBytes answers false, and every stream
 * told so gets onDrain once the queue has gone out and the channel drained. Each waiting stream adds at most the
 * write it was refused for, so the queue is bounded by the streams' chunk sizes. A stream's messages and close keep
 * their place behind its own queued data; other streams' messages (credits, opens) go straight out. Per-stream flow
 * control stays above this layer (the mesh's ChannelStream credit window): a stream whose reader stalls stops at
 * its window and the others keep the channel. A data frame that goes straight to the channel is handed over as
 * header and payload, sealed there without copying the payload; one that has to wait is copied into a buffer of
 * its own, as the caller may reuse its bytes once sendBytes returns.
 *
 * Frames for a stream that has closed at this end are dropped — they crossed its close on the wire — but a stream id
 * never opened, an id reused, a second answer to an open, data before an accept, or anything that does not parse
 * closes the whole mux, logged: a peer that speaks garbage is not trusted with the other streams.
 *
 * Limits: each side may have maxStreams streams open on a mux (HTTP/2's per-direction concurrency limit, so one
 * side's load never starves the other's); an open beyond it is refused at once here, and the peer refuses one
 * beyond its own. An open waits for its answer at most its caller's timeout.
 *
 * The price of sharing: one TCP connection is one byte queue, so a new stream's open waits behind whatever bytes
 * are already in the channel's buffer and the kernel's (on loopback, beside four saturating streams, about 2 ms
 * instead of 0.4 ms). The mux bounds its part of that to the high-water mark.
 */

import { describeError, invalidArgument, notFound, SwarmletError, unavailable } from '../../errors.ts';
import { RemoteError, TransportError, type SecureChannel } from '../../transport/endpoint.ts';
import type { Payload } from '../../transport/frames.ts';
import type { Disposer } from '../../transport/secure-channel.ts';
import type { Logger } from '../../util/logger.ts';
import { isPeerMessage, type PeerMessage } from '../peers.ts';
import { MAX_HELD_BYTES, MAX_HELD_FRAMES, MuxStream, type MuxSink, type Outgoing, type StreamChannel } from './stream.ts';
import { cut, dataFrame, dataHeader, MAX_STREAM_ID, parseControl, parseDataFrame, type Control } from './wire.ts';

/** Serves one stream, as StreamHandler does for PeerNetwork: a throw refuses it; the return value is the reply. */
export type MuxStreamHandler = (request: PeerMessage, stream: StreamChannel) => Promise<unknown> | unknown;

/** A stream the other side accepted, and its handler's reply. */
export interface OpenedMuxStream {
  stream: StreamChannel;
  reply: unknown;
}

export interface StreamMuxOptions {
  /** True on the side that dialled the channel: its streams get odd ids, the other side's even ones. */
  initiator: boolean;
  log: Logger;
  /** Streams each side may have open on this mux at once; the peer's opens beyond it are refused. */
  maxStreams?: number;
  /** The highest stream id; only tests lower it, to reach the end of the id space. */
  maxStreamId?: number;
}

export const DEFAULT_MAX_STREAMS = 4_096;

type QueueEntry = Outgoing & { stream: MuxStream };

export interface StreamMuxStats {
  /** Streams open now, by who opened them. */
  local: number;
  remote: number;
  /** Frames (and the bytes of data frames) held by the mux while the channel is over its high-water mark. */
  queuedFrames: number;
  queuedBytes: number;
}

/** Streams both ways over one bulk channel; see the top of this file and wire.ts. */
export class StreamMux {
  readonly #channel: SecureChannel;
  readonly #initiator: boolean;
  readonly #log: Logger;
  readonly #maxStreams: number;
  readonly #maxStreamId: number;
  readonly #streams = new Map<number, MuxStream>();
  readonly #sink: MuxSink;
  #handlers: ReadonlyMap<string, MuxStreamHandler> = new Map();
  #nextLocalId: number;
  #highestPeerId = 0;
  #localOpen = 0;
  #remoteOpen = 0;
  /** Frames waiting for the channel to drain, oldest at #queueHead. */
  #queue: (QueueEntry | undefined)[] = [];
  #queueHead = 0;
  #queuedBytes = 0;
  #blocked = false;
  /** Streams told to wait (sendBytes answered false): each gets onDrain once the queue is out. */
  readonly #waiting = new Set<MuxStream>();
  readonly #closeHandlers = new Set<(reason: Error) => void>();
  #closeError: Error | null = null;
  #closed = false;

  constructor(channel: SecureChannel, options: StreamMuxOptions) {
    this.#channel = channel;
    this.#initiator = options.initiator;
    this.#log = options.log;
    this.#maxStreams = options.maxStreams ?? DEFAULT_MAX_STREAMS;
    this.#maxStreamId = options.maxStreamId ?? MAX_STREAM_ID;
    this.#nextLocalId = options.initiator ? 1 : 2;
    this.#sink = {
      data: (stream, bytes) => this.#data(stream, bytes),
      message: (stream, message) => this.#control(stream, { s: stream.id, t: 'msg', m: message }),
      close: (stream, reason) => this.#closeStream(stream, reason),
    };
    channel.onBytes((frame) => this.#receiveBytes(frame));
    channel.onMessage((message) => this.#receiveMessage(message));
    channel.onDrain(() => this.#flush());
    channel.onClose((reason) => this.#shutdown(this.#closeError ?? reason ?? new TransportError('closed', `the bulk channel carrying the stream mux with node ${this.peerId} closed`)));
  }

  get peerId(): string {
    return this.#channel.peer.nodeId;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether open() may succeed now: the mux is up, has room for another stream, and ids left. */
  get canOpen(): boolean {
    return !this.#closed && this.#localOpen < this.#maxStreams && !this.#spent;
  }

  get #spent(): boolean {
    return this.#nextLocalId > this.#maxStreamId;
  }

  stats(): StreamMuxStats {
    return { local: this.#localOpen, remote: this.#remoteOpen, queuedFrames: this.#queue.length - this.#queueHead, queuedBytes: this.#queuedBytes };
  }

  /** The handlers for the peer's opens, by request type; the map is read at each open, so later additions count. */
  serve(handlers: ReadonlyMap<string, MuxStreamHandler>): void {
    this.#handlers = handlers;
  }

  /**
   * Opens a stream with `request` (whose `type` picks the peer's handler). Resolves once the handler accepted;
   * rejects, leaving nothing open, when it refuses (a RemoteError with its message and code), does not answer
   * within `timeoutMs`, or the mux closes first.
   */
  open(request: PeerMessage, timeoutMs: number): Promise<OpenedMuxStream> {
    if (this.#closed) return Promise.reject(this.#closeError ?? new TransportError('closed', `the stream mux with node ${this.peerId} is closed`));
    if (this.#spent) return Promise.reject(unavailable(`the stream mux with node ${this.peerId} has used up its stream ids: open the stream on a new one`));
    if (this.#localOpen >= this.#maxStreams) {
      return Promise.reject(unavailable(`${this.#localOpen} streams to node ${this.peerId} are open on this mux, its most: open it on another mux, or wait for some to end`));
    }
    const id = this.#nextLocalId;
    this.#nextLocalId += 2;
    const stream = new MuxStream(id, 'opening', this.#channel.peer, this.#sink, this.#log);
    this.#streams.set(id, stream);
    this.#localOpen++;
    return new Promise<OpenedMuxStream>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#forget(stream);
        stream.ended(null);
        this.#channel.send({ s: id, t: 'close', e: `the opener gave up after ${timeoutMs} ms` });
        reject(new TransportError('timeout', `node ${this.peerId} did not accept the stream within ${timeoutMs} ms`));
      }, timeoutMs);
      stream.opening = {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve({ stream, reply });
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      try {
        this.#channel.send({ s: id, t: 'open', r: request });
      } catch (err) {
        this.#forget(stream);
        stream.ended(null);
        stream.opening.reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Closes every stream and the channel; the peer learns `reason`. Idempotent. */
  close(reason = 'closed by this node'): void {
    if (this.#closed) return;
    this.#closeError = new TransportError('closed', `this node closed the stream mux with node ${this.peerId}: ${reason}`);
    this.#channel.send({ s: 0, t: 'close', e: cut(reason) });
    this.#channel.close(reason);
  }

  /** Called once, when the mux has closed, with why. */
  onClose(handler: (reason: Error) => void): Disposer {
    if (this.#closed) {
      queueMicrotask(() => handler(this.#closeError!));
      return () => {};
    }
    this.#closeHandlers.add(handler);
    return () => void this.#closeHandlers.delete(handler);
  }

  #isLocal(id: number): boolean {
    return (id % 2 === 1) === this.#initiator;
  }

  /** Whether `id` was ever opened on this mux, by either side (it may have closed since). */
  #wasOpened(id: number): boolean {
    return id > 0 && (this.#isLocal(id) ? id < this.#nextLocalId : id <= this.#highestPeerId);
  }

  #forget(stream: MuxStream): void {
    if (!this.#streams.delete(stream.id)) return;
    if (this.#isLocal(stream.id)) this.#localOpen--;
    else this.#remoteOpen--;
    this.#waiting.delete(stream);
    if (this.#spent && this.#streams.size === 0) this.close('its stream ids are used up');
  }

  // Sending.

  /**
   * A stream's bytes. Straight to the channel as header and payload, sealed there without a copy; a frame that has
   * to wait (the channel is over its high-water mark, or the stream's accept has not gone out) is copied into one
   * buffer of its own, as the caller may reuse its bytes once this returns.
   */
  #data(stream: MuxStream, bytes: Uint8Array): boolean {
    if (stream.pending) {
      stream.pending.push({ frame: dataFrame(stream.id, bytes) });
      stream.owedDrain = true;
      return false;
    }
    if (this.#blocked) return this.#wait(stream, dataFrame(stream.id, bytes));
    return this.#hand(stream, [dataHeader(stream.id), bytes]);
  }

  /** A data frame built already (it waited for the stream's accept): behind the queue, if there is one. */
  #sendData(stream: MuxStream, frame: Uint8Array): boolean {
    return this.#blocked ? this.#wait(stream, frame) : this.#hand(stream, frame);
  }

  #wait(stream: MuxStream, frame: Uint8Array): false {
    this.#enqueue({ stream, frame });
    this.#waiting.add(stream);
    return false;
  }

  /** Gives the channel a data frame; the first it takes over its high-water mark blocks the mux until it drains. */
  #hand(stream: MuxStream, frame: Payload): boolean {
    if (this.#channel.sendBytes(frame)) return true;
    if (this.#channel.closed) return false;
    this.#blocked = true;
    this.#waiting.add(stream);
    return false;
  }

  /** A stream's control message: behind its own queued data, ahead of everyone else's. */
  #control(stream: MuxStream, control: Control): boolean {
    if (stream.pending) {
      stream.pending.push({ control });
      return true;
    }
    if (stream.queued > 0) {
      this.#enqueue({ stream, control });
      return true;
    }
    return this.#channel.send(control);
  }

  #enqueue(entry: QueueEntry): void {
    this.#queue.push(entry);
    entry.stream.queued++;
    if ('frame' in entry) this.#queuedBytes += entry.frame.length;
  }

  /** The channel drained: what waited goes out until it is full again; once all has, the waiting streams resume. */
  #flush(): void {
    this.#blocked = false;
    while (this.#queueHead < this.#queue.length && !this.#closed) {
      const entry = this.#queue[this.#queueHead]!;
      this.#queue[this.#queueHead++] = undefined;
      entry.stream.queued--;
      if ('frame' in entry) this.#queuedBytes -= entry.frame.length;
      if (entry.stream.discard) continue;
      if ('control' in entry) {
        this.#sendQueuedControl(entry.stream, entry.control);
      } else if (!this.#channel.sendBytes(entry.frame)) {
        if (this.#channel.closed) return;
        this.#blocked = true;
        break;
      }
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
    } else if (this.#queueHead > 1_024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    if (this.#blocked || this.#closed) return;
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const stream of waiting) stream.drained();
  }

  #sendQueuedControl(stream: MuxStream, control: Control): void {
    try {
      this.#channel.send(control);
    } catch (err) {
      // A message that could not be encoded, found only now because it waited: the stream cannot go on without it.
      this.#log.warn(`stream mux: a message of stream ${stream.id} to node ${this.peerId} could not be sent: ${describeError(err)}`);
      if (!stream.closed) stream.close('a message of the stream could not be sent');
    }
  }

  #closeStream(stream: MuxStream, reason: string | undefined): void {
    const accepting = stream.state === 'accepting';
    this.#forget(stream);
    if (this.#closed) return;
    // Closed by its handler before it answered: the opener is told it was refused, and what was held is dropped.
    if (accepting) this.#refuse(stream.id, new Error(reason ?? 'the stream was closed before it was accepted'));
    else this.#control(stream, reason === undefined ? { s: stream.id, t: 'close' } : { s: stream.id, t: 'close', e: cut(reason) });
  }

  #refuse(id: number, err: unknown): void {
    const e: { message: string; code?: string } = { message: cut(describeError(err)) };
    if (err instanceof SwarmletError) e.code = err.code;
    this.#channel.send({ s: id, t: 'refuse', e });
  }

  // Receiving.

  #receiveBytes(frame: Uint8Array): void {
    if (this.#closed) return;
    const parsed = parseDataFrame(frame);
    if (typeof parsed === 'string') return this.#violation(parsed);
    const stream = this.#streams.get(parsed.id);
    if (!stream) {
      if (!this.#wasOpened(parsed.id)) this.#violation(`data for stream ${parsed.id}, which was never opened`);
      return;
    }
    if (stream.state !== 'open') return this.#violation(`data for stream ${parsed.id} before it was accepted`);
    if (!stream.deliverBytes(parsed.payload)) this.#overflow(stream);
  }

  #receiveMessage(message: unknown): void {
    if (this.#closed) return;
    const control = parseControl(message);
    if (typeof control === 'string') return this.#violation(control);
    const { s: id, t: type } = control;
    if (id === 0) return this.#peerClosedMux(control.e as string | undefined);
    if (type === 'open') return this.#peerOpens(id, control.r);
    const stream = this.#streams.get(id);
    if (!stream) {
      if (!this.#wasOpened(id)) this.#violation(`a '${type}' for stream ${id}, which was never opened`);
      // Otherwise it crossed this end's close (or timeout) on the wire: nothing to do.
      return;
    }
    if (type === 'accept' || type === 'refuse') {
      if (!stream.opening) return this.#violation(`an answer ('${type}') for stream ${id}, which waits for none`);
      const { opening } = stream;
      stream.opening = null;
      if (type === 'accept') {
        stream.state = 'open';
        opening.resolve(control.r);
      } else {
        this.#forget(stream);
        stream.ended(null);
        opening.reject(new RemoteError(control.e as { message: string; code?: string }));
      }
      return;
    }
    if (stream.state === 'opening') {
      if (type === 'msg') return this.#violation(`a message on stream ${id} before it was accepted`);
      // Closed before an answer: as good as a refusal.
      const { opening } = stream;
      stream.opening = null;
      this.#forget(stream);
      stream.ended(null);
      opening!.reject(new RemoteError({ message: typeof control.e === 'string' ? control.e : `node ${this.peerId} closed the stream before accepting it` }));
      return;
    }
    if (type === 'msg') {
      if (stream.state !== 'open') return this.#violation(`a message on stream ${id} before it was accepted`);
      if (!stream.deliverMessage(control.m)) this.#overflow(stream);
      return;
    }
    // 'close' from the peer.
    stream.discard = true;
    this.#forget(stream);
    stream.ended(typeof control.e === 'string' ? new TransportError('closed', control.e) : null);
  }

  #peerOpens(id: number, request: unknown): void {
    if (this.#isLocal(id)) return this.#violation(`an open of stream ${id}, an id of this side's`);
    if (id <= this.#highestPeerId || id > this.#maxStreamId) return this.#violation(`an open of stream ${id}, an id already used (the last was ${this.#highestPeerId})`);
    this.#highestPeerId = id;
    if (this.#remoteOpen >= this.#maxStreams) {
      return this.#refuse(id, unavailable(`node ${this.peerId} already has ${this.#remoteOpen} streams open on this mux, the most it may: try again when some end`));
    }
    if (!isPeerMessage(request)) return this.#refuse(id, invalidArgument('a stream request must be an object with a type'));
    const handler = this.#handlers.get(request.type);
    if (!handler) return this.#refuse(id, notFound(`this node serves no stream of type ${JSON.stringify(request.type).slice(0, 40)}`));
    const stream = new MuxStream(id, 'accepting', this.#channel.peer, this.#sink, this.#log);
    this.#streams.set(id, stream);
    this.#remoteOpen++;
    void this.#serve(handler, request, stream);
  }

  async #serve(handler: MuxStreamHandler, request: PeerMessage, stream: MuxStream): Promise<void> {
    let reply: unknown;
    try {
      reply = await handler(request, stream);
    } catch (err) {
      // Already closed (the opener gave up, the handler closed it, the mux went down): nobody waits for an answer.
      if (stream.state !== 'accepting') return;
      this.#forget(stream);
      stream.ended(null);
      this.#refuse(stream.id, err);
      return;
    }
    if (stream.state !== 'accepting') return;
    try {
      this.#channel.send({ s: stream.id, t: 'accept', r: reply });
    } catch (err) {
      this.#forget(stream);
      this.#refuse(stream.id, new Error(`the stream's reply could not be sent: ${describeError(err)}`));
      stream.ended(new TransportError('closed', `the reply to the stream could not be sent: ${describeError(err)}`));
      return;
    }
    const pending = stream.pending ?? [];
    stream.pending = null;
    stream.state = 'open';
    for (const entry of pending) {
      if ('frame' in entry) this.#sendData(stream, entry.frame);
      else if (stream.queued > 0) this.#enqueue({ stream, control: entry.control });
      else this.#sendQueuedControl(stream, entry.control);
      if (stream.closed) return;
    }
    if (stream.owedDrain && !this.#waiting.has(stream)) {
      stream.owedDrain = false;
      stream.drained();
    }
  }

  #peerClosedMux(reason: string | undefined): void {
    this.#closeError = new TransportError('closed', `node ${this.peerId} closed the stream mux${reason ? `: ${reason}` : ''}`);
    this.#channel.close('the peer closed the stream mux');
  }

  /** A stream that got more than it may hold before its handlers were set: it alone is reset. */
  #overflow(stream: MuxStream): void {
    this.#log.warn(`stream mux: stream ${stream.id} from node ${this.peerId} got over ${MAX_HELD_BYTES} bytes or ${MAX_HELD_FRAMES} frames before anything read it; it was reset`);
    stream.discard = true;
    this.#forget(stream);
    this.#channel.send({ s: stream.id, t: 'close', e: `over ${MAX_HELD_BYTES} bytes or ${MAX_HELD_FRAMES} frames came before the stream was read` });
    stream.ended(new TransportError('stalled', `stream ${stream.id} from node ${this.peerId} got more than it may hold before it was read`));
  }

  /** The peer broke the protocol: nothing more it says is trusted, on any stream. */
  #violation(what: string): void {
    if (this.#closed) return;
    const message = `node ${this.peerId} at ${this.#channel.remoteAddress} sent ${what}`;
    this.#log.warn(`stream mux: ${message}; closing the mux and its ${this.#streams.size} streams`);
    this.#closeError = new TransportError('malformed', `${message}: the stream mux was closed`);
    this.#channel.send({ s: 0, t: 'close', e: cut(`stream mux protocol error: ${what}`) });
    this.#channel.close('stream mux protocol error');
  }

  #shutdown(reason: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError ??= reason;
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    this.#localOpen = this.#remoteOpen = 0;
    this.#queue = [];
    this.#queueHead = 0;
    this.#queuedBytes = 0;
    this.#waiting.clear();
    for (const stream of streams) {
      stream.discard = true;
      const { opening } = stream;
      stream.opening = null;
      stream.ended(reason);
      opening?.reject(reason);
    }
    for (const handler of this.#closeHandlers) {
      try {
        handler(reason);
      } catch (err) {
        this.#log.error(`stream mux: a close handler for the mux with node ${this.peerId} threw: ${describeError(err)}`);
      }
    }
    this.#closeHandlers.clear();
  }
}
